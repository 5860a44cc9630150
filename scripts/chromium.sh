#!/usr/bin/env bash
# Headless Chromium for the HTML report's rendering test (tests/test_report_html.py): Debian's own
# package, installed when missing. Idempotent; waits for another apt run instead of failing on its lock.
set -euo pipefail
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" != 0 ]; then
  echo "chromium.sh: chromium is missing; install Debian's 'chromium' package (needs root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null
