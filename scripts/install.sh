#!/usr/bin/env bash
# Installs everything leaksentry needs on a fresh Debian/Ubuntu machine (run as root, or with
# sudo available): OCR engines and CJK fonts from apt, the Python package and its tools from pip.
#   scripts/install.sh            everything, test and lint tools included
#   scripts/install.sh --no-dev   what the service needs (the Docker image)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  tesseract-ocr tesseract-ocr-chi-sim   # the second OCR engine, with Simplified Chinese
  fonts-noto-cjk fonts-wqy-microhei     # CJK fonts: OFD rendering and the test corpus
  libarchive-tools                      # bsdtar: the RAR backend of rarfile
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
TARGET=".[dev]"
if [ "${1:-}" = "--no-dev" ]; then TARGET="."; fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-cache-dir -e "$TARGET"
