"""Service configuration and policies, loaded and validated once into immutable objects.

Every error names the file, the line and the key (see ``schema.Section``).
Relative paths inside a file are resolved against that file's directory, so a
configuration and its policies can be moved together.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .database_url import database_url_problem
from .detect.detection import Detection, build_detection
from .detect.threat_concepts import ConceptsError
from .detect.threat_learned import LearnedModelError
from .detect.watchlist import EMPTY as EMPTY_WATCHLIST
from .detect.watchlist import load_watchlist
from .dns import ResolverSettings
from .domains import is_qualified_domain, normalize_domain
from .finding_registry import DEFAULT_WEIGHTS, unknown_weight_problem
from .results import Level
from .schema import Section
from .socket_address import parse_socket_address
from .yamlload import ConfigError, load_yaml

__all__ = [
    "ActionName",
    "Config",
    "ConfigError",
    "Detection",
    "DnsConfig",
    "LoggingConfig",
    "MilterConfig",
    "Policy",
    "load_config",
    "load_policy",
]

ACTION_NAMES = ("headers", "subject_tag", "banner", "quarantine", "reject", "tempfail")
ActionName = str
FAIL_SAFE = ("accept", "tempfail")

_REPLY_RE = re.compile(r"^[45]\d\d [45]\.\d{1,3}\.\d{1,3} [\x20-\x7e]{1,400}$")


@dataclass(frozen=True)
class Policy:
    """What to do with each verdict level."""

    name: str
    path: str
    mode: str  # "enforce" or "monitor" (monitor: only headers and logs)
    thresholds: tuple[tuple[Level, float], ...]  # ascending: (suspect, x), (spoof, y), (threat, z)
    weights: tuple[tuple[str, float], ...]
    actions: tuple[tuple[Level, tuple[ActionName, ...]], ...]
    subject_tag: str
    reject_reply: str
    tempfail_reply: str
    banner_text: str
    banner_html: str
    threat_min_score: float = 3.0

    def weight(self, finding: str) -> float:
        return dict(self.weights).get(finding, 0.0)

    def actions_for(self, level: Level) -> tuple[ActionName, ...]:
        return dict(self.actions).get(level, ("headers",))

    def threshold(self, level: Level) -> float:
        return dict(self.thresholds)[level]


# The dns: section is the resolver's settings: one class, defined beside the resolver.
DnsConfig = ResolverSettings


@dataclass(frozen=True)
class MilterConfig:
    # inside Postfix's queue directory, where Debian's chrooted smtpd can reach it
    socket: str = "unix:/var/spool/postfix/spoofwatch/spoofwatch.sock"
    socket_mode: int = 0o660
    socket_group: str = ""
    timeout: int = 600
    spool_threshold: int = 1_048_576
    max_message_size: int = 50 * 1_048_576
    # libmilter worker processes sharing the socket (docs/operations.md, "Worker
    # processes"); 0: one per CPU the service may use, at most MAX_AUTO_WORKERS
    workers: int = 0


MAX_AUTO_WORKERS = 4
MAX_WORKERS = 64


def worker_count(configured: int) -> int:
    """The number of worker processes ``milter.workers`` asks for (0: automatic)."""
    if configured > 0:
        return configured
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    json_file: str = ""  # decision log: one JSON line per message ("" = off)
    json_max_bytes: int = 50 * 1_048_576  # rotate the decision log at this size
    json_backups: int = 5
    # The decision log also goes to quarantine.database (one row per message, every host's
    # in one table) and is kept there this many days.
    database: bool = False
    database_retention_days: int = 90


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = False
    listen: str = "127.0.0.1:9464"  # HOST:PORT of the Prometheus endpoint


@dataclass(frozen=True)
class QuarantineConfig:
    directory: str = "/var/lib/spoofwatch/quarantine"  # "" disables our own store
    retention_days: int = 30  # purge records older than this (0 = keep forever)
    release_key_file: str = ""  # HMAC key for release headers; "" = DIRECTORY/release.key
    # A shared store for several MX hosts: "postgresql://user@host/db" ("" = the SQLite store
    # in ``directory``, which then holds this host's spool and release key). No password in
    # the URL: ``database_password_file`` or libpq's own environment (PGPASSWORD, ~/.pgpass).
    database: str = ""
    database_password_file: str = ""
    host_name: str = ""  # this MX host's name in the shared store ("" = the system's name)
    database_timeout: float = 5.0  # seconds to connect and per statement (commands, uploads)


@dataclass(frozen=True)
class Config:
    path: str
    authserv_id: str
    milter: MilterConfig
    dns: DnsConfig
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    skip_authenticated: bool
    trusted_arc_sealers: tuple[str, ...]
    fail_safe: str
    policy: Policy
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    detection: Detection = field(default_factory=Detection)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    quarantine: QuarantineConfig = field(default_factory=QuarantineConfig)
    allowlist: tuple[str, ...] = ()  # domains or addresses; apply only when authenticated

    def is_trusted_client(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.trusted_networks)


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value)
    return candidate if candidate.is_absolute() else (base.parent / candidate)


def _parse_mode(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads 0660 as the integer 660 (YAML 1.1 octal needs 0o); take digits as octal
        text = str(value)
    elif isinstance(value, str):
        text = value.removeprefix("0o")
    else:
        raise ValueError("must be an octal mode such as \"0660\"")
    if not re.fullmatch(r"[0-7]{3,4}", text):
        raise ValueError(f"must be an octal mode such as \"0660\", got {value!r}")
    return int(text, 8)


def _load_milter(sec: Section) -> MilterConfig:
    socket = sec.str("socket", MilterConfig.socket)
    try:
        parse_socket_address(socket)
    except ValueError as exc:
        raise sec.error("socket", str(exc)) from None
    cfg = MilterConfig(
        socket=socket,
        socket_mode=sec.parsed("socket_mode", _parse_mode, "0660"),
        socket_group=sec.str("socket_group", ""),
        timeout=sec.int("timeout", MilterConfig.timeout, minimum=1),
        spool_threshold=sec.int("spool_threshold", MilterConfig.spool_threshold, minimum=0),
        max_message_size=sec.int("max_message_size", MilterConfig.max_message_size, minimum=1024),
        workers=sec.int("workers", MilterConfig.workers, minimum=0, maximum=MAX_WORKERS),
    )
    sec.done()
    return cfg


def _load_dns(sec: Section) -> DnsConfig:
    nameservers = sec.str_list("nameservers", ())
    for ns in nameservers:
        try:
            ipaddress.ip_address(ns)
        except ValueError:
            raise sec.error("nameservers", f"{ns!r} is not an IP address") from None
    cfg = DnsConfig(
        nameservers=nameservers,
        port=sec.int("port", 53, minimum=1),
        timeout=sec.float("timeout", 2.0, minimum=0.05, maximum=60),
        lifetime=sec.float("lifetime", 4.0, minimum=0.05, maximum=120),
        message_budget=sec.float("message_budget", 10.0, minimum=0.1, maximum=600),
        cache_size=sec.int("cache_size", 10000, minimum=0),
        outage_after=sec.int("outage_after", DnsConfig.outage_after, minimum=1),
        outage_budget=sec.float("outage_budget", DnsConfig.outage_budget, minimum=0.05,
                                maximum=60),
        probe_interval=sec.float("probe_interval", DnsConfig.probe_interval, minimum=0.1,
                                 maximum=3600),
    )
    if cfg.port > 65535:
        raise sec.error("port", "must be at most 65535")
    if cfg.outage_budget > cfg.message_budget:
        raise sec.error("outage_budget", f"must be at most message_budget "
                        f"({cfg.message_budget:g}): it is the short budget used while DNS is down")
    sec.done()
    return cfg


def _load_logging(sec: Section, base: Path) -> LoggingConfig:
    json_file = sec.str("json_file", "")
    cfg = LoggingConfig(
        level=sec.choice("level", ("debug", "info", "warning", "error"), "info"),
        json_file=str(_resolve(base, json_file)) if json_file else "",
        json_max_bytes=sec.int("json_max_bytes", LoggingConfig.json_max_bytes, minimum=4096),
        json_backups=sec.int("json_backups", LoggingConfig.json_backups, minimum=0),
        database=sec.bool("database", False),
        database_retention_days=sec.int("database_retention_days",
                                        LoggingConfig.database_retention_days, minimum=0),
    )
    sec.done()
    return cfg


def _load_allowlist(top: Section) -> tuple[str, ...]:
    entries = []
    for entry in top.str_list("allowlist", ()):
        local, at, domain = entry.strip().rpartition("@")
        normalized = normalize_domain(domain)
        if not is_qualified_domain(normalized):
            raise top.error("allowlist", f"{entry!r} is neither a domain nor an address")
        entries.append(f"{local.lower()}@{normalized}" if at else normalized)
    return tuple(entries)


def _load_metrics(sec: Section) -> MetricsConfig:
    listen = sec.str("listen", MetricsConfig.listen)
    if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):\d{1,5}", listen):
        raise sec.error("listen", f"must be HOST:PORT such as 127.0.0.1:9464; got {listen!r}")
    cfg = MetricsConfig(enabled=sec.bool("enabled", False), listen=listen)
    sec.done()
    return cfg


def _load_quarantine(sec: Section, base: Path) -> QuarantineConfig:
    directory = sec.str("directory", QuarantineConfig.directory)
    key_file = sec.str("release_key_file", "")
    database = sec.str("database", "")
    if database:
        problem = database_url_problem(database)
        if problem:
            raise sec.error("database", problem)
    password_file = sec.str("database_password_file", "")
    host_name = sec.str("host_name", "")
    if host_name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}", host_name):
        raise sec.error("host_name", f"must be a host name such as mx1.example.org; "
                                     f"got {host_name!r}")
    cfg = QuarantineConfig(
        directory=str(_resolve(base, directory)) if directory else "",
        retention_days=sec.int("retention_days", QuarantineConfig.retention_days, minimum=0),
        release_key_file=str(_resolve(base, key_file)) if key_file else "",
        database=database,
        database_password_file=str(_resolve(base, password_file)) if password_file else "",
        host_name=(host_name or socket.gethostname()).lower(),
        database_timeout=sec.float("database_timeout", QuarantineConfig.database_timeout,
                                   minimum=0.5, maximum=120.0),
    )
    if database and not cfg.directory:
        raise sec.error("directory", "a shared database needs a local directory too: it "
                                     "holds this host's spool (mail held while the database "
                                     "is unreachable) and its release key")
    sec.done()
    return cfg


def load_config(path: str | Path) -> Config:
    """Load and validate the service configuration (and the policy it names)."""
    path = Path(path)
    top = Section(path, load_yaml(path))
    authserv_id = top.str("authserv_id")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}", authserv_id):
        raise top.error(
            "authserv_id", f"must be a host name such as mx.example.org; got {authserv_id!r}")
    policy_file = top.str("policy", "default.yaml")
    policy_path = _resolve(path, policy_file)
    try:
        policy = load_policy(policy_path)
    except ConfigError as exc:
        if exc.problem == "file not found" and exc.path == str(policy_path):
            raise top.error("policy", f"policy file {policy_path} not found") from None
        raise
    config = Config(
        path=str(path),
        authserv_id=authserv_id.lower(),
        milter=_load_milter(top.section("milter")),
        dns=_load_dns(top.section("dns")),
        trusted_networks=top.networks("trusted_networks", ["127.0.0.0/8", "::1/128"]),
        skip_authenticated=top.bool("skip_authenticated", True),
        trusted_arc_sealers=tuple(s.lower() for s in top.str_list("trusted_arc_sealers", ())),
        fail_safe=top.choice("fail_safe", FAIL_SAFE, "accept"),
        policy=policy,
        logging=_load_logging(top.section("logging"), path),
        detection=_load_detection(top, path),
        metrics=_load_metrics(top.section("metrics")),
        quarantine=_load_quarantine(top.section("quarantine"), path),
        allowlist=_load_allowlist(top),
    )
    top.done()
    if config.logging.database and not config.quarantine.database:
        raise ConfigError(str(path), None, "logging.database",
                          "the decision log can go to the database only when "
                          "quarantine.database names one")
    return config


def _load_detection(top: Section, path: Path) -> Detection:
    watchlist = EMPTY_WATCHLIST
    watchlist_file = top.str("watchlist", "")
    if watchlist_file:
        wpath = _resolve(path, watchlist_file)
        if not wpath.is_file():
            raise top.error("watchlist", f"watchlist file {wpath} not found")
        watchlist = load_watchlist(wpath)
    zones = top.str_list("dnsbl_zones", ())
    for zone in zones:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{1,252}", zone):
            raise top.error("dnsbl_zones", f"{zone!r} is not a DNS zone name")
    patterns_file = top.str("threat_patterns", "")
    patterns_path = _resolve(path, patterns_file) if patterns_file else None
    concepts_file = top.str("threat_concepts", "")
    concepts_path = _resolve(path, concepts_file) if concepts_file else None
    learned = top.bool("threat_learned", True)
    try:
        return build_detection(watchlist, tuple(z.lower() for z in zones), patterns_path,
                               concepts_path, learned)
    except LearnedModelError as exc:
        raise top.error("threat_learned", str(exc)) from None
    except ConceptsError as exc:
        raise top.error("threat_concepts", str(exc)) from None
    except ValueError as exc:
        raise top.error("threat_patterns", str(exc)) from None


def _load_actions(sec: Section) -> tuple[tuple[Level, tuple[ActionName, ...]], ...]:
    out = []
    for level in Level:
        names = sec.str_list(level.value, ["headers"])
        for name in names:
            if name not in ACTION_NAMES:
                known = ", ".join(ACTION_NAMES)
                raise sec.error(level.value, f"unknown action {name!r}; known: {known}")
        if "reject" in names and "tempfail" in names:
            raise sec.error(level.value, "reject and tempfail exclude each other")
        if "headers" not in names:
            names = ("headers", *names)  # the verdict header is the contract: always added
        out.append((level, tuple(names)))
    sec.done()
    return tuple(out)


def _load_thresholds(sec: Section) -> tuple[tuple[Level, float], ...]:
    suspect = sec.float("suspect", 3.0, minimum=0.01)
    spoof = sec.float("spoof", 6.0, minimum=0.01)
    threat = sec.float("threat", 10.0, minimum=0.01)
    if not suspect <= spoof <= threat:
        raise sec.error("spoof", "thresholds must rise: suspect <= spoof <= threat")
    sec.done()
    return ((Level.SUSPECT, suspect), (Level.SPOOF, spoof), (Level.THREAT, threat))


def _load_weights(sec: Section) -> tuple[tuple[str, float], ...]:
    weights = dict(DEFAULT_WEIGHTS)
    for name in list(sec.data):
        problem = unknown_weight_problem(name)  # a typo must not silently weigh nothing
        if problem:
            raise sec.error(name, problem)
        weights[name] = sec.float(name, minimum=-100, maximum=100)
    sec.done()
    return tuple(sorted(weights.items()))


def _reply(sec: Section, name: str, default: str) -> str:
    value = sec.str(name, default)
    if not _REPLY_RE.match(value):
        raise sec.error(name, "must look like '550 5.7.1 text' (code, enhanced code, ASCII text)")
    return value


def load_policy(path: str | Path) -> Policy:
    """Load and validate one policy file."""
    path = Path(path)
    top = Section(path, load_yaml(path))
    mode = top.choice("mode", ("enforce", "monitor"), "enforce")
    tag = top.str("subject_tag", "[SPOOF?]")
    if any(ord(c) < 32 for c in tag):
        raise top.error("subject_tag", "must not contain control characters")
    banner = top.section("banner")
    banner_text = banner.str("text", DEFAULT_BANNER_TEXT)
    banner_html = banner.str("html", DEFAULT_BANNER_HTML)
    banner.done()
    policy = Policy(
        name=top.str("name", path.stem),
        path=str(path),
        mode=mode,
        thresholds=_load_thresholds(top.section("thresholds")),
        weights=_load_weights(top.section("weights")),
        actions=_load_actions(top.section("actions")),
        subject_tag=tag,
        reject_reply=_reply(top, "reject_reply",
                            "550 5.7.1 Message rejected as a forgery (spoofwatch)"),
        tempfail_reply=_reply(top, "tempfail_reply", "451 4.7.1 Message deferred by spoofwatch"),
        banner_text=banner_text,
        banner_html=banner_html,
        threat_min_score=top.float("threat_min_score", 3.0, minimum=0),
    )
    top.done()
    return policy


DEFAULT_BANNER_TEXT = (
    "WARNING: spoofwatch could not verify that this message comes from the sender it names.\n"
    "Reasons: {reasons}\n"
    "Do not act on its instructions without checking with the sender by other means."
)
DEFAULT_BANNER_HTML = (
    '<div style="border:2px solid #b00;padding:8px;margin:8px 0;background:#fee;color:#000">'
    "<strong>Warning:</strong> spoofwatch could not verify that this message comes from "
    "the sender it names.<br>Reasons: {reasons}<br>Do not act on its instructions without "
    "checking with the sender by other means.</div>"
)
