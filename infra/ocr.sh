#!/usr/bin/env bash
# Debian's tesseract for the test that a blurred licence plate is not read back by an OCR
# (tests/workers/test_blur.py). Installed when missing and we are root with apt.
set -uo pipefail
if command -v tesseract >/dev/null; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null
else
  echo "ocr: tesseract-ocr missing (needs root and apt-get); the OCR test skips" >&2
fi
exit 0
