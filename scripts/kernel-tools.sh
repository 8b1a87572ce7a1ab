#!/usr/bin/env bash
# Linux's own test programs, built from Debian's kernel source package (linux-source-6.12, from the archive the
# machine already has configured) and cached in $VQ_KERNEL_TOOLS (default ~/.cache/vqkit/kernel-tools); prints the
# cache folder on its last line. The kernel source is downloaded, not installed, and only the tools are unpacked;
# gcc and make are installed if missing.
#  - tools/virtio/ringtest: ring, virtio_ring_0_9, virtio_ring_inorder (`vq bench ringtest`).
#  - tools/testing/vsock: vsock_test, linked statically for the guest's initramfs (the vsock_test interop test).
set -euo pipefail
cache=${VQ_KERNEL_TOOLS:-$HOME/.cache/vqkit/kernel-tools}
package=linux-source-6.12
mkdir -p "$cache"
ringtest=$cache/src/tools/virtio/ringtest
vsock=$cache/src/tools/testing/vsock

if [ ! -x "$ringtest/virtio_ring_inorder" ] || [ ! -x "$ringtest/virtio_ring_0_9" ] || [ ! -x "$ringtest/ring" ] ||
  [ ! -x "$vsock/vsock_test" ]; then
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
  # vsock_test wants this kernel's uapi headers (usr/include, as `make headers` leaves them): the vsock and socket
  # ones, through the kernel's own header-cleaning script, over the system's for the rest.
  if [ ! -f "$cache/src/usr/include/linux/vm_sockets.h" ]; then
    (
      cd "$cache/src"
      [ -x scripts/unifdef ] || cc -O2 -o scripts/unifdef scripts/unifdef.c
      for h in linux/vm_sockets.h linux/virtio_vsock.h linux/sockios.h linux/errqueue.h linux/time_types.h; do
        mkdir -p "usr/include/$(dirname "$h")"
        sh scripts/headers_install.sh "include/uapi/$h" "usr/include/$h"
      done
    )
  fi
  make -C "$vsock" -s vsock_test LDFLAGS=-static >/dev/null
fi
echo "kernel-tools: $package, ringtest in $ringtest, vsock_test in $vsock" >&2
echo "$cache"
