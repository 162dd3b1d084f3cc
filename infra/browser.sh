#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser tests (Playwright drives /usr/bin/chromium;
# its own browser download is not used). Installed when missing and we are root with apt.
set -uo pipefail
if [[ -x /usr/bin/chromium ]]; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "browser: chromium missing (needs root and apt-get); browser tests will skip" >&2
fi
exit 0
