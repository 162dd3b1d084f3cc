#!/usr/bin/env bash
# Create the project's virtualenv, installing Debian's venv support first when it is missing.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
if [[ -x "$venv/bin/python" ]]; then exit 0; fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev
  else
    echo "bootstrap: python3 venv support is missing; install python3-venv" >&2
    exit 1
  fi
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "bootstrap: urbangrid needs Python 3.11 or newer (found $("$python" --version))" >&2
  exit 1
}
"$python" -m venv "$venv"
