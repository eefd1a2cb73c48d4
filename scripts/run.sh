#!/usr/bin/env bash
# Set everything up and run the milter in the foreground with the bundled configuration
# (policies/spoofwatch.yaml, default policy), for development and trying it out.
#
# It keeps its state in a development directory inside the checkout, never in the
# production paths (/var/lib/spoofwatch, /var/spool/postfix/spoofwatch) that
# scripts/install.sh hands to the service user: running this as root must not leave
# root-owned files where the service will need to write. The directory ($SPOOFWATCH_STATE,
# default .state/ in the checkout; git ignores it) holds:
#   spoofwatch.yaml   the bundled configuration with the two paths below changed
#   spoofwatch.sock   the milter socket (milter.socket)
#   quarantine/       spoofwatch's own quarantine store (quarantine.directory)
#
# Extra arguments go to `spoofwatch run`; `--config FILE` among them runs FILE instead
# (for example `bash scripts/run.sh --config policies/spoofwatch.yaml` for the production
# paths, which is what the installed service does).
#
# Environment:
#   SPOOFWATCH_STATE=DIR   the development state directory (default: .state)
#   SPOOFWATCH_SETUP=no    skip scripts/setup.sh (everything is installed already)
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$(pwd)"

if [ "${SPOOFWATCH_SETUP:-yes}" != no ]; then
    bash scripts/setup.sh
fi

state="${SPOOFWATCH_STATE:-$checkout/.state}"
case "$state" in
    /*) ;;
    *) state="$checkout/$state" ;;
esac
mkdir -p "$state/quarantine"
chmod 0700 "$state/quarantine"  # the store refuses a directory other users can read
config="$state/spoofwatch.yaml"

# The bundled file, with paths made absolute (its policy and watchlist are named relative
# to policies/) and the socket and the store moved into the state directory.
.venv/bin/python - "$checkout/policies/spoofwatch.yaml" "$state" "$config" <<'EOF'
import os
import sys

import yaml

bundled, state, target = sys.argv[1:]
with open(bundled, encoding="utf-8") as f:
    data = yaml.safe_load(f)
here = os.path.dirname(os.path.abspath(bundled))
for key in ("policy", "watchlist"):
    if data.get(key) and not os.path.isabs(data[key]):
        data[key] = os.path.join(here, data[key])
data.setdefault("milter", {})["socket"] = "unix:" + os.path.join(state, "spoofwatch.sock")
data.setdefault("quarantine", {})["directory"] = os.path.join(state, "quarantine")
with open(target, "w", encoding="utf-8") as f:
    f.write(f"# Written by scripts/run.sh from {bundled}; edit that file, not this one.\n")
    yaml.safe_dump(data, f, sort_keys=False)
EOF

echo "run: development state in $state (socket unix:$state/spoofwatch.sock," \
     "quarantine $state/quarantine); the production paths are not touched"
exec .venv/bin/spoofwatch run --config "$config" "$@"
