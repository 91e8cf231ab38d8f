#!/usr/bin/env bash
# Install (if missing) and start the servers the tests use, on loopback only. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
for step in prepare-*.sh; do
    [ -e "$step" ] && "./$step"
done
