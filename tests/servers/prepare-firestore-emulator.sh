#!/usr/bin/env bash
# Install the Firestore emulator the tests start (tests/servers/firestore-emulator), from the npm
# registry at the version its package-lock.json pins. Idempotent: skips when already installed.
set -euo pipefail
cd "$(dirname "$0")/firestore-emulator"
if ! command -v npm >/dev/null; then
    echo "prepare-firestore-emulator: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
# npm ci records the lock it installed as node_modules/.package-lock.json; reinstall when the
# pinned lock is newer (changed since) or the install is missing.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --silent --no-audit --no-fund
fi
