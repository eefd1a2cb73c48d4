#!/usr/bin/env bash
# Install everything spoofwatch needs on Debian 12 (as root), then the package into .venv.
#   scripts/setup.sh          runtime: build tools, libmilter, a virtualenv with spoofwatch
#   scripts/setup.sh --test   also Postfix (installed unconfigured: no main.cf, not started;
#                             README.md says how to configure it) and the test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_bench=0
[ "${1:-}" = "--test" ] && want_test=1
[ "${1:-}" = "--bench" ] && want_test=1 && want_bench=1

packages=(gcc libc6-dev python3-dev python3-venv libmilter-dev)
if [ "$want_test" = 1 ]; then
    # postfix: the end-to-end tests run a throwaway instance; systemd: systemd-analyze for
    # the unit's hardening test; openssl: the tests generate DKIM keys with it; chromium:
    # tests/integration/test_banner_chromium.py renders the warning banner; wamerican,
    # wspanish: the word lists the threat-concept spelling exclusions are checked against;
    # patch: the audit tests apply `spoofwatch audit --suggest` diffs with it; postgresql:
    # the shared-store tests start throwaway clusters of their own (initdb, pg_ctl).
    packages+=(postfix systemd openssl chromium wamerican wspanish patch postgresql)
fi
if [ "$want_bench" = 1 ]; then
    # the reference milters bench/throughput.py compares against; rspamd runs there as a
    # process of the bench's own (its recommended redis-server stays out: the bench needs none)
    packages+=(opendkim opendkim-tools opendmarc rspamd)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
        # Installed unconfigured (no main.cf, not started): the tests run throwaway
        # instances of their own. The answer is only for this installation: see below.
        bash scripts/postfix-debconf.sh preseed
    fi
    if printf '%s\n' "${missing[@]}" | grep -qx postgresql \
        && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        # The tests run clusters of their own: no system cluster is created (or started) for
        # them. An admin's own PostgreSQL set-up is left as it is.
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
    if printf '%s\n' "${missing[@]}" | grep -qx rspamd; then
        # The package enables its service and starts it where services may start (listening
        # on localhost:11332-11334). The bench starts an rspamd of its own, so the one just
        # installed is stopped and kept from starting at boot. An rspamd that was installed
        # before is left as it is.
        if [ -d /run/systemd/system ]; then
            systemctl stop rspamd.service
            systemctl disable --quiet rspamd.service
        else
            if [ -e /run/rspamd/rspamd.pid ]; then
                /etc/init.d/rspamd stop >/dev/null
            fi
            update-rc.d rspamd disable >/dev/null 2>&1
        fi
    fi
fi
if [ "$want_test" = 1 ] && [ "$(id -u)" = 0 ]; then
    # Leave no "No configuration" answer behind as if the admin had given it (older
    # versions of this script did): `dpkg-reconfigure postfix` asks again. README.md,
    # "What the test set-up does to this machine".
    bash scripts/postfix-debconf.sh forget
fi

# Debian's python3, not whatever python3 comes first in PATH: the venv must match the headers.
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$want_test" = 1 ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q -e '.[postgresql]'
fi
echo "setup: done ($(.venv/bin/spoofwatch --version))"
