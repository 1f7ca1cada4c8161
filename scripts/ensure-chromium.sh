#!/usr/bin/env bash
# The browser tests (test/browser) drive Debian's Chromium with playwright-core (its own browser
# download cannot reach this machine's registries). Installs the Debian package when it is missing.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then exit 0; fi
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "installing Debian's chromium for the browser tests..." >&2
# Never a password prompt (it would hang a test run): root, or sudo without a password, or a clear error.
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "the browser tests need Debian's chromium: run 'sudo apt-get install chromium' (or set CHROMIUM_PATH)" >&2
  exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
