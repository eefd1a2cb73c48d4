"""The shared quarantine store's address: a PostgreSQL URL that must never carry the
password. (Core: the configuration checks it when it is loaded.)

The URL goes into a YAML file that is often world-readable, copied into tickets and kept in
version control, so a password in it is refused with the two places libpq and spoofwatch
read one from instead (``quarantine.database_password_file``, or libpq's environment:
PGPASSWORD, PGPASSFILE, ``~/.pgpass``). Parsed with the standard library: the check runs
when the configuration is loaded, before anything imports the database driver.
"""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["DatabasePasswordError", "database_url_problem", "read_password_file", "shown_url"]

_SCHEMES = ("postgresql", "postgres")


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot name the shared store, or None when it can."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in _SCHEMES:
        # Not echoed: a libpq "key=value" string may hold a password.
        return ("must be a PostgreSQL URL such as postgresql://spoofwatch@db.example.org/"
                "spoofwatch (this value is not one; it is not shown here in case it holds "
                "a password)")
    # Anywhere in it, decoded: a query key, a ";password=" in the path, "pass%77ord" ...
    if password is not None or "password" in unquote(url).lower():
        return ("must not contain the password: put it in the file named by "
                "quarantine.database_password_file (mode 0600), or in libpq's environment "
                "(PGPASSWORD, PGPASSFILE, ~/.pgpass)")
    if importlib.util.find_spec("psycopg") is None:
        return ("needs the PostgreSQL driver, which is not installed: "
                "pip install 'spoofwatch[postgresql]' (psycopg 3 and psycopg-pool)")
    return None


def shown_url(url: str) -> str:
    """The URL as logs and errors may show it (any password replaced, though none passes
    the check above)."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            return "(not a PostgreSQL URL)"
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        query = "&".join(
            f"{key}=***" if "password" in key.lower() else f"{key}={value}"
            for key, values in parse_qs(parts.query, keep_blank_values=True).items()
            for value in values)
        path = "/(hidden)" if "password" in unquote(parts.path).lower() else parts.path
        # Put together by hand: urlunsplit drops the "//" of an empty host
        # ("postgresql:///db?host=/run/postgresql" is a common form).
        return f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    except ValueError:
        return "(not a valid URL)"


class DatabasePasswordError(Exception):
    """The password file cannot be used; the message says why and what to do."""


def read_password_file(path: str) -> str:
    """The password in ``path`` (its first line), which only its owner and group may read."""
    file = Path(path)
    try:
        st = file.stat()
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatabasePasswordError(
            f"cannot read the database password file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DatabasePasswordError(f"the database password file {path} is not UTF-8") from None
    if st.st_mode & stat.S_IROTH:
        raise DatabasePasswordError(
            f"the database password file {path} is readable by every user (mode "
            f"{st.st_mode & 0o777:04o}): chmod 0640 {path}")
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise DatabasePasswordError(f"the database password file {path} is empty")
    return lines[0]


def libpq_has_password() -> bool:
    """Does libpq's environment name a password (for the message when none is given)?"""
    return bool(os.environ.get("PGPASSWORD") or os.environ.get("PGPASSFILE"))
