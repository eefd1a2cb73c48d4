"""A throwaway Postfix instance for end-to-end tests.

Its own configuration, queue and data directories live under a temporary directory, it
logs to a file (there is no syslog here), listens on a loopback port, lets tests choose
the client address and HELO with XCLIENT, uses spoofwatch as its milter, and delivers to
a loopback SMTP sink. The machine's own Postfix (if any) is not touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from pathlib import Path

from .milterproc import MilterProcess, free_port

POSTFIX_ETC = Path("/etc/postfix")


# --- the sink: a minimal SMTP server that stores what it receives ----------------------------
@dataclass
class Delivered:
    mail_from: str
    rcpts: list[str]
    data: bytes

    def email(self) -> EmailMessage:
        return message_from_bytes(self.data)


@dataclass
class SmtpSink:
    """Accepts every message on a loopback port and keeps it (thread-per-connection)."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Delivered] = field(default_factory=list)

    def start(self) -> None:
        self._sock = socket.socket()
        # Blocking, whatever socket.getdefaulttimeout() says: a timeout would end accept()
        # with TimeoutError after that many idle seconds, and the sink would stop answering.
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._sock.listen(16)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._sock.close()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Delivered]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._stop:  # stop() closed the socket
                    return
                continue  # a connection aborted before it was accepted, and the like
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        f = conn.makefile("rb")
        mail_from = ""
        rcpts: list[str] = []
        try:
            conn.sendall(b"220 sink ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                    conn.sendall(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif cmd.startswith(b"MAIL FROM:"):
                    mail_from = line.strip()[10:].decode("utf-8", "replace").split()[0].strip("<>")
                    rcpts = []
                    conn.sendall(b"250 ok\r\n")
                elif cmd.startswith(b"RCPT TO:"):
                    rcpts.append(line.strip()[8:].decode("utf-8", "replace").split()[0].strip("<>"))
                    conn.sendall(b"250 ok\r\n")
                elif cmd == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    chunks = []
                    while True:
                        data_line = f.readline()
                        if data_line in (b".\r\n", b".\n", b""):
                            break
                        if data_line.startswith(b".."):
                            data_line = data_line[1:]
                        chunks.append(data_line)
                    with self._cond:
                        self.messages.append(Delivered(mail_from, rcpts, b"".join(chunks)))
                        self._cond.notify_all()
                    conn.sendall(b"250 queued\r\n")
                elif cmd == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            return
        finally:
            f.close()
            conn.close()


# --- Postfix ---------------------------------------------------------------------------------
class PostfixError(RuntimeError):
    pass


class PostfixInstance:
    def __init__(self, base: Path, milter_socket: str, sink_port: int,
                 milter_default_action: str = "tempfail") -> None:
        self.base = base
        self.etc = base / "etc"
        self.queue = base / "queue"
        self.data = base / "data"
        self.maillog = base / "maillog"
        self.port = free_port()
        self.milter_socket = milter_socket
        self.sink_port = sink_port
        self.milter_default_action = milter_default_action

    # configuration
    def configure(self) -> None:
        if shutil.which("postfix") is None:
            raise PostfixError("postfix is not installed: scripts/test.sh installs it")
        for d in (self.etc, self.queue, self.data):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy(POSTFIX_ETC / "master.cf", self.etc / "master.cf")
        if not (POSTFIX_ETC / "master.cf").exists():
            raise PostfixError("/etc/postfix/master.cf missing")
        (self.etc / "main.cf").write_text("")
        subprocess.run(["chown", "-R", "postfix", str(self.data)], check=True)
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.base),
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "mx.test.example",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "static:ALL",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "default_transport": f"smtp:[127.0.0.1]:{self.sink_port}",
            "relay_transport": f"smtp:[127.0.0.1]:{self.sink_port}",
            "smtpd_milters": self.milter_socket,
            "non_smtpd_milters": self.milter_socket,
            "milter_default_action": self.milter_default_action,
            "milter_protocol": "6",
            "milter_connect_timeout": "10s",
            "milter_command_timeout": "20s",
            "milter_content_timeout": "60s",
            "milter_mail_macros": "i {auth_type} {auth_authen} {auth_author} {mail_addr} "
                                  "{mail_host} {mail_mailer}",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtputf8_enable": "yes",
            "message_size_limit": "60000000",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "import_environment": "MAIL_CONFIG TZ LANG=C",
        }
        args = ["postconf", "-c", str(self.etc), "-e"] + [f"{k}={v}" for k, v in settings.items()]
        subprocess.run(args, check=True)
        subprocess.run(["postconf", "-c", str(self.etc), "-F", "*/*/chroot = n"], check=True)
        # The smtpd on our port, instead of 25.
        subprocess.run(["postconf", "-c", str(self.etc), "-M#", "smtp/inet"], check=True)
        subprocess.run(
            ["postconf", "-c", str(self.etc), "-M",
             f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd"],
            check=True,
        )

    def set(self, **settings: str) -> None:
        args = ["postconf", "-c", str(self.etc), "-e"] + [f"{k}={v}" for k, v in settings.items()]
        subprocess.run(args, check=True)

    def _postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["postfix", "-c", str(self.etc), *args], capture_output=True,
                              text=True, check=check)

    def start(self, timeout: float = 20.0) -> None:
        result = self._postfix("check", check=False)
        if result.returncode != 0:
            raise PostfixError(f"postfix check failed: {result.stderr}")
        result = self._postfix("start", check=False)
        if result.returncode != 0:
            raise PostfixError(f"postfix start failed: {result.stderr} {self.log()}")
        self._wait_greeting(timeout)

    def _wait_greeting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if "fatal:" in self.log():
                raise PostfixError(f"postfix logged a fatal error: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(2)
                    banner = s.recv(512)
                    if banner.startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
                    last = banner.decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise PostfixError(f"postfix did not greet on port {self.port}: {last} {self.log()}")

    def master_pid(self) -> int | None:
        pidfile = self.queue / "pid" / "master.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.master_pid()
        self._postfix("stop", check=False)
        if pid is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    # the queue
    def queue_json(self) -> list[dict[str, object]]:
        result = subprocess.run(["postqueue", "-c", str(self.etc), "-j"], capture_output=True,
                                text=True, check=True)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def held(self) -> list[dict[str, object]]:
        return [q for q in self.queue_json() if q.get("queue_name") == "hold"]

    def wait_held(self, count: int, timeout: float = 20.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            held = self.held()
            if len(held) >= count:
                return held
            time.sleep(0.05)
        return self.held()

    def postsuper(self, *args: str) -> None:
        subprocess.run(["postsuper", "-c", str(self.etc), *args], check=True,
                       capture_output=True)

    def flush(self) -> None:
        subprocess.run(["postqueue", "-c", str(self.etc), "-f"], check=True)

    def clear_queue(self) -> None:
        subprocess.run(["postsuper", "-c", str(self.etc), "-d", "ALL"], check=False,
                       capture_output=True)

    def postcat(self, queue_id: str) -> str:
        result = subprocess.run(["postcat", "-c", str(self.etc), "-q", queue_id],
                                capture_output=True, text=True, check=True)
        return result.stdout


# --- sending through it ----------------------------------------------------------------------
@dataclass(frozen=True)
class SendResult:
    code: int
    reply: str
    queue_id: str


_QUEUED = re.compile(r"queued as ([0-9A-Za-z]+)")


def send(port: int, raw: bytes, *, client_ip: str, helo: str, mail_from: str,
         rcpts: tuple[str, ...] = ("voter@recipient.example",)) -> SendResult:
    """One SMTP transaction with XCLIENT so Postfix (and the milter) see ``client_ip``/``helo``."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("test-client.example")
        code, reply = smtp.docmd("XCLIENT", f"ADDR={client_ip} NAME=[UNAVAILABLE] HELO={helo}")
        if code != 220:
            raise PostfixError(f"XCLIENT refused: {code} {reply!r}")
        smtp.ehlo_resp = None
        smtp.ehlo(helo)
        code, reply = smtp.mail(mail_from)
        if code != 250:
            return SendResult(code, reply.decode(errors="replace"), "")
        for rcpt in rcpts:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                return SendResult(code, reply.decode(errors="replace"), "")
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPDataError as exc:  # a reject or tempfail at end of data
            error = exc.smtp_error  # bytes from smtplib itself; typed bytes | str
            text = error.decode(errors="replace") if isinstance(error, bytes) else error
            return SendResult(exc.smtp_code, text, "")
        text = reply.decode(errors="replace")
        match = _QUEUED.search(text)
        return SendResult(code, text, match.group(1) if match else "")


@dataclass
class Mta:
    """The end-to-end rig: Postfix, its sink, and the spoofwatch process it uses."""

    postfix: PostfixInstance
    sink: SmtpSink
    milter: MilterProcess
    base: Path
