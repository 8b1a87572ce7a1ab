#!/usr/bin/env bash
# Installs Debian's Chromium for the explainer page's browser test, from the archive the machine already has
# configured, if missing (playwright-core drives it by its executablePath; no browser is downloaded by npm).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
  echo "installed: chromium"
fi
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null | head -1))"
