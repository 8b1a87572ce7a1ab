#!/usr/bin/env bash
# Installs DPDK (dpdk-testpmd is in dpdk-dev) from the Debian archive the machine already has configured, if missing.
set -euo pipefail
if command -v dpdk-testpmd >/dev/null 2>&1; then
  echo "dpdk-testpmd: $(command -v dpdk-testpmd)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq dpdk dpdk-dev >/dev/null
echo "installed dpdk-testpmd: $(command -v dpdk-testpmd)"
