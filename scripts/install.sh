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

# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download
# cannot be fetched here); only development installs need it.
if [ "${1:-}" != "--no-dev" ] \
  && ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi

# The second page model (tests/corpus2) sets its pages with LibreOffice, at generation time
# only; development installs need it, the service never does.
if [ "${1:-}" != "--no-dev" ] && ! command -v soffice >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libreoffice-writer-nogui
fi

PYTHON="${PYTHON:-python3}"
TARGET=".[dev]"
if [ "${1:-}" = "--no-dev" ]; then TARGET="."; fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-cache-dir -e "$TARGET"

# Both RapidOCR lines (rapidocr-onnxruntime 1.4.4, rapidocr 3.10.0) load their models from
# their own wheels by path: the bot runs offline, and rapidocr 3 would fetch a missing model.
"$PYTHON" -c "from detectors.ocr.rapid3 import model_paths; model_paths()"

# The offline Wechaty puppet-service server the WeChat tests run against (tests/harness/, npm
# packages pinned in its package.json and package-lock.json); only development installs need it.
# `npm install`, not `npm ci`: optional platform packages of the lock file may be unavailable.
if [ "${1:-}" != "--no-dev" ]; then
  if ! command -v npm >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  npm install --prefix tests/harness --no-audit --no-fund --loglevel=error
fi
