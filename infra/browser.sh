#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser tests (Playwright drives /usr/bin/chromium;
# its own browser download is not used), and Noto CJK so that the screenshots the tests save show
# the dashboard's and the residents' page's Chinese labels rather than empty boxes. Installed
# when missing and we are root with apt.
set -uo pipefail
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium chromium-driver)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "browser: ${missing[*]} missing (needs root and apt-get); browser tests may skip" >&2
fi
exit 0
