#!/usr/bin/env bash
# Installs playwright-core for the team server's browser tests
# (crates/server/tests/browser). It drives Debian's Chromium (/usr/bin/chromium,
# `apt-get install chromium`); no browser is downloaded.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../crates/server/tests/browser" && pwd)"
if [ -f "$dir/node_modules/playwright-core/package.json" ]; then
  exit 0
fi
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent >/dev/null
