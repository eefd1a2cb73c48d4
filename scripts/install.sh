#!/usr/bin/env bash
# Install spoofwatch as a system service, as root:
#
#   bash scripts/install.sh
#
# What goes where (docs/operations.md has the full list):
#   $PREFIX (/opt/spoofwatch)                      a virtualenv with the package
#   /usr/local/bin/spoofwatch                      a link to $PREFIX/bin/spoofwatch
#   /usr/local/lib/systemd/system/spoofwatch.service
#   /usr/local/lib/sysusers.d/spoofwatch.conf      the user spoofwatch
#   /usr/local/lib/tmpfiles.d/spoofwatch.conf      /var/lib/spoofwatch (+ quarantine)
#   /usr/local/lib/tmpfiles.d/spoofwatch-postfix.conf   /var/spool/postfix/spoofwatch
#                                                  (only where group postfix exists)
#   /etc/spoofwatch/                               spoofwatch.yaml, policies, watchlist
#
# /var/lib/spoofwatch and /var/log/spoofwatch, and everything in them, are given to the user
# spoofwatch (files a command run as root left there included).
#
# An edited file in /etc/spoofwatch is never overwritten: the new version is put beside it
# as FILE.dist, and the script says so. A file you did not edit is updated.
#
# Environment:
#   PREFIX=/opt/spoofwatch   where the virtualenv goes
#   DESTDIR=                 install into this directory as if it were /, for testing. Users
#                            are not created and systemd is not told. The virtualenv only
#                            works where it was built ($DESTDIR$PREFIX): it is for testing,
#                            not for building a package.
#   PYTHON=/usr/bin/python3  the interpreter the virtualenv is made from (Debian's, which
#                            matches python3-dev)
#   PIP_ARGS=                extra arguments for pip install (e.g. a local wheel directory)
#
# Needs: python3-venv, and gcc, python3-dev and libmilter-dev to build pymilter
# (scripts/setup.sh installs them). pip fetches the Python dependencies from PyPI.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-/opt/spoofwatch}"
DESTDIR="${DESTDIR:-}"
PYTHON="${PYTHON:-/usr/bin/python3}"
PIP_ARGS="${PIP_ARGS:-}"

bindir=/usr/local/bin
unitdir=/usr/local/lib/systemd/system
sysusersdir=/usr/local/lib/sysusers.d
tmpfilesdir=/usr/local/lib/tmpfiles.d
confdir=/etc/spoofwatch
# The files as shipped last time: they tell an edited config from an unchanged one.
shipped="$PREFIX/share/spoofwatch/etc"
docdir="$PREFIX/share/doc/spoofwatch"

say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

case "$PREFIX" in
    /*) ;;
    *) die "PREFIX must be an absolute path, got '$PREFIX'" ;;
esac
case "$PREFIX" in
    *[[:space:]\\\&\|]*) die "PREFIX must not contain spaces, '\\', '&' or '|': '$PREFIX'" ;;
esac
if [ -n "$DESTDIR" ]; then
    case "$DESTDIR" in
        /*) ;;
        *) die "DESTDIR must be an absolute path, got '$DESTDIR'" ;;
    esac
fi
[ "$(id -u)" = 0 ] || die "run me as root (files go to $PREFIX, /etc and /usr/local)"
[ -x "$PYTHON" ] || die "$PYTHON not found (apt-get install python3 python3-venv)"

# --- the package, in its own virtualenv ----------------------------------------------------
venv="$DESTDIR$PREFIX"
if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtualenv $venv"
    "$PYTHON" -m venv "$venv" || die "could not create a virtualenv (apt-get install python3-venv)"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
# Build from a copy of the sources: an in-tree build leaves build/ behind, and a stale
# build/lib can carry modules that no longer exist into the wheel.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
cp -r "$src/pyproject.toml" "$src/README.md" "$src/milter" "$work/src/"
find "$work/src" -name '__pycache__' -prune -exec rm -rf {} + -o -name '*.egg-info' -prune -exec rm -rf {} +
say "installing the spoofwatch package into $venv"
# shellcheck disable=SC2086 # PIP_ARGS is a list of words on purpose
# With the PostgreSQL driver (the extra "postgresql"): any host can then join a shared store
# (quarantine.database) without another install step.
"$venv/bin/python" -m pip install -q --disable-pip-version-check $PIP_ARGS "$work/src[postgresql]"
"$venv/bin/spoofwatch" --version >/dev/null || die "$venv/bin/spoofwatch does not run"

install -d -m 0755 "$DESTDIR$bindir"
ln -sfn "$PREFIX/bin/spoofwatch" "$DESTDIR$bindir/spoofwatch"
say "linked $bindir/spoofwatch -> $PREFIX/bin/spoofwatch"

install -d -m 0755 "$DESTDIR$docdir"
for doc in README.md docs/operations.md docs/configuration.md docs/quarantine.md postfix-example/README.md; do
    if [ -f "$src/$doc" ]; then
        name="$(basename "$doc")"
        [ "$doc" = postfix-example/README.md ] && name=postfix.md
        install -m 0644 "$src/$doc" "$DESTDIR$docdir/$name"
    fi
done
install -d -m 0755 "$DESTDIR$docdir/postfix-example"
install -m 0644 "$src"/postfix-example/main.cf "$src"/postfix-example/master.cf \
    "$src"/postfix-example/sendmail.mc "$DESTDIR$docdir/postfix-example/"

# --- systemd files -----------------------------------------------------------------------
install -d -m 0755 "$DESTDIR$unitdir" "$DESTDIR$sysusersdir" "$DESTDIR$tmpfilesdir"
# The unit names /opt/spoofwatch; the installed copy names the real PREFIX.
sed "s|/opt/spoofwatch|$PREFIX|g" "$src/systemd/spoofwatch.service" > "$work/spoofwatch.service"
install -m 0644 "$work/spoofwatch.service" "$DESTDIR$unitdir/spoofwatch.service"
sed "s|/opt/spoofwatch|$PREFIX|g" "$src/systemd/spoofwatch-agent.service" > "$work/spoofwatch-agent.service"
install -m 0644 "$work/spoofwatch-agent.service" "$DESTDIR$unitdir/spoofwatch-agent.service"
install -m 0644 "$src/systemd/spoofwatch.sysusers" "$DESTDIR$sysusersdir/spoofwatch.conf"
install -m 0644 "$src/systemd/spoofwatch.tmpfiles" "$DESTDIR$tmpfilesdir/spoofwatch.conf"
say "installed $unitdir/spoofwatch.service (ExecStart $PREFIX/bin/spoofwatch)"
if getent group postfix >/dev/null; then
    install -m 0644 "$src/systemd/spoofwatch-postfix.tmpfiles" "$DESTDIR$tmpfilesdir/spoofwatch-postfix.conf"
    say "installed $tmpfilesdir/spoofwatch-postfix.conf (socket directory /var/spool/postfix/spoofwatch)"
else
    rm -f "$DESTDIR$tmpfilesdir/spoofwatch-postfix.conf"
    say "no group postfix on this machine: no socket directory in /var/spool/postfix;" \
        "the unit's SupplementaryGroups=postfix needs that group (see docs/operations.md for Sendmail)"
fi

# --- configuration: never overwrite what the admin edited --------------------------------
# install_config SOURCE NAME: put SOURCE at $confdir/NAME unless the admin changed NAME.
install_config() {
    local from="$1" name="$2"
    local target="$DESTDIR$confdir/$name" previous="$DESTDIR$shipped/$name"
    if [ ! -e "$target" ]; then
        install -m 0644 "$from" "$target"
        say "installed $confdir/$name"
    elif cmp -s "$from" "$target"; then
        rm -f "$target.dist"
    elif [ -f "$previous" ] && cmp -s "$previous" "$target"; then
        install -m 0644 "$from" "$target"
        rm -f "$target.dist"
        say "updated $confdir/$name (you had not changed it)"
    else
        install -m 0644 "$from" "$target.dist"
        say "kept your edited $confdir/$name; the new version is $confdir/$name.dist"
    fi
}

install -d -m 0755 "$DESTDIR$confdir"
config_files=(spoofwatch.yaml default.yaml monitor.yaml strict.yaml watchlist.example.yaml)
for name in "${config_files[@]}"; do
    install_config "$src/policies/$name" "$name"
done
install -d -m 0755 "$DESTDIR$shipped"
for name in "${config_files[@]}"; do
    install -m 0644 "$src/policies/$name" "$DESTDIR$shipped/$name"
done

# --- tell the system -------------------------------------------------------------------
if [ -n "$DESTDIR" ]; then
    say "DESTDIR is set: not creating the user or directories and not reloading systemd;" \
        "on the target run: systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload"
else
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$sysusersdir/spoofwatch.conf"
        say "user spoofwatch: ok"
    else
        say "systemd-sysusers not found: create the system user spoofwatch yourself"
    fi
    if command -v systemd-tmpfiles >/dev/null; then
        tmpfiles=("$tmpfilesdir/spoofwatch.conf")
        [ -f "$tmpfilesdir/spoofwatch-postfix.conf" ] && tmpfiles+=("$tmpfilesdir/spoofwatch-postfix.conf")
        systemd-tmpfiles --create "${tmpfiles[@]}"
        say "directories: ok"
    else
        say "systemd-tmpfiles not found: create /var/lib/spoofwatch (0750, spoofwatch) yourself"
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        say "systemd reloaded; start with: systemctl enable --now spoofwatch"
    else
        say "systemd is not running here (no /run/systemd/system): not reloading it"
    fi
fi

# --- hand the state tree to the service user -------------------------------------------
# Anything run as root before (an earlier `spoofwatch run` or `quarantine` command as root)
# may have left root-owned files in the store: the release key, the index, msg/, tmp/,
# damaged/. The service (user spoofwatch) could then read or write none of them. Give the
# whole tree back to it. -h: a symbolic link inside is changed itself, never what it points to.
# With DESTDIR the user is looked up in $DESTDIR/etc/passwd (by number), as the target has it.
service_owner() {
    local passwd="$DESTDIR/etc/passwd" group="$DESTDIR/etc/group" uid gid
    if [ -n "$DESTDIR" ]; then
        uid="$(awk -F: '$1 == "spoofwatch" { print $3 }' "$passwd" 2>/dev/null || true)"
        gid="$(awk -F: '$1 == "spoofwatch" { print $3 }' "$group" 2>/dev/null || true)"
        [ -n "$uid" ] && [ -n "$gid" ] && echo "$uid:$gid"
    elif id -u spoofwatch >/dev/null 2>&1; then
        echo "spoofwatch:$(id -gn spoofwatch)"
    fi
}
owner="$(service_owner || true)"
if [ -n "$owner" ]; then
    for dir in /var/lib/spoofwatch /var/log/spoofwatch; do
        if [ -d "$DESTDIR$dir" ]; then
            chown -R -h "$owner" "$DESTDIR$dir"
            say "$dir and everything in it: owned by spoofwatch"
        fi
    done
    # the socket directory keeps its group (postfix), only the user changes
    if [ -d "$DESTDIR/var/spool/postfix/spoofwatch" ]; then
        chown -R -h "${owner%%:*}" "$DESTDIR/var/spool/postfix/spoofwatch"
    fi
else
    say "no user spoofwatch yet: the ownership of /var/lib/spoofwatch is left as it is"
fi

"$venv/bin/spoofwatch" check-config --config "$DESTDIR$confdir/spoofwatch.yaml" \
    || say "the configuration has a problem (above); fix $confdir/spoofwatch.yaml before starting"
say "done: $("$venv/bin/spoofwatch" --version)"
