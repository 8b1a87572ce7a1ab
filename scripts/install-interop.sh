#!/usr/bin/env bash
# Installs what the interop suite runs against, from the Debian archive the machine already has configured, if
# missing: DPDK's testpmd (package dpdk-dev, with dpdk), and ping and tcpdump for the tap tests.
set -euo pipefail
missing=()
command -v dpdk-testpmd >/dev/null 2>&1 || missing+=(dpdk dpdk-dev)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
fi
echo "dpdk-testpmd: $(command -v dpdk-testpmd); ping: $(command -v ping); tcpdump: $(command -v tcpdump)"
