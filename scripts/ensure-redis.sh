#!/usr/bin/env bash
# The differential test (test/e2e/differential.test.ts) runs the same commands against Debian's
# redis-server and against /redis. Installs the Debian package when it is missing.
set -euo pipefail
if [ -n "${REDIS_SERVER_PATH:-}" ] && [ -x "$REDIS_SERVER_PATH" ]; then exit 0; fi
if [ -x /usr/bin/redis-server ]; then exit 0; fi
echo "installing Debian's redis-server for the differential test..." >&2
# Never a password prompt (it would hang a test run): root, or sudo without a password, or a clear error.
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "the differential test needs Debian's redis-server: run 'sudo apt-get install redis-server' (or set REDIS_SERVER_PATH)" >&2
  exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# Debian's package starts a system service on port 6379; the test starts its own instances on free ports.
