#!/usr/bin/env bash
# Linux's own test programs, built from Debian's kernel source package (linux-source-6.12, from the archive the
# machine already has configured) and cached in $VQ_KERNEL_TOOLS (default ~/.cache/vqkit/kernel-tools); prints the
# cache folder on its last line. The kernel source is downloaded, not installed, and only the tools are unpacked;
# gcc and make are installed if missing.
#  - tools/virtio/ringtest: ring, virtio_ring_0_9, virtio_ring_inorder (`vq bench ringtest`).
set -euo pipefail
cache=${VQ_KERNEL_TOOLS:-$HOME/.cache/vqkit/kernel-tools}
package=linux-source-6.12
mkdir -p "$cache"
ringtest=$cache/src/tools/virtio/ringtest

if [ ! -x "$ringtest/virtio_ring_inorder" ] || [ ! -x "$ringtest/virtio_ring_0_9" ] || [ ! -x "$ringtest/ring" ]; then
  if ! command -v cc >/dev/null || ! command -v make >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq gcc make libc6-dev >/dev/null
  fi
  if [ ! -f "$cache/src/Makefile" ]; then
    work=$(mktemp -d "$cache/download.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get -o APT::Sandbox::User=root download -qq "$package" >/dev/null)
    dpkg-deb --fsys-tarfile "$work"/${package}_*.deb | tar -x -C "$work" --wildcards './usr/src/*.tar.xz'
    rm -rf "$cache/src"
    mkdir -p "$cache/src"
    # Only what the tools need: the tools, the headers they include, and the top Makefile (a marker).
    tar -xJf "$work"/usr/src/${package}.tar.xz -C "$cache/src" --strip-components=1 \
      "${package}/Makefile" "${package}/tools" "${package}/include" "${package}/arch/x86/include" \
      "${package}/scripts" "${package}/usr"
    rm -rf "$work"
    trap - EXIT
  fi
  make -C "$ringtest" -s ring virtio_ring_0_9 virtio_ring_inorder >/dev/null
fi
echo "kernel-tools: $package, ringtest in $ringtest" >&2
echo "$cache"
