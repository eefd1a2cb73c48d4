#!/usr/bin/env bash
# Set everything up and run the milter in the foreground with the bundled configuration
# (policies/spoofwatch.yaml, default policy). Extra arguments go to `spoofwatch run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/spoofwatch run --config policies/spoofwatch.yaml "$@"
