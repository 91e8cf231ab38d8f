#!/usr/bin/env bash
# Chromium for the board test: Playwright drives the system's browser and downloads none.
# Installs the Debian package with apt-get if no Chromium is on the PATH. Idempotent.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "Chromium is not installed and this is not root: run 'apt-get install chromium'" \
        "as root (or run this script as root)." >&2
    exit 1
fi
echo "Installing Chromium with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
