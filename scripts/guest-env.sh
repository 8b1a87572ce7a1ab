#!/usr/bin/env bash
# The guest environment for the Linux end-to-end tests, built once and cached in $VQ_GUEST_CACHE
# (default ~/.cache/vqkit/guest); prints the cache folder on its last line.
#  - QEMU 10: installed from bookworm-backports (the system's own apt sources are not changed).
#  - Linux >= 7.0: the kernel binary and modules of linux-image-amd64 from trixie-backports, downloaded and
#    unpacked into the cache, not installed.
#  - initramfs: busybox-static, socat and the libraries it links, Linux's vsock_test (built by
#    scripts/kernel-tools.sh), the virtio_net, vsock and virtio-rng modules, and test/guest/init as /init.
# The apt suites reuse the archive URI the machine already has configured.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${VQ_GUEST_CACHE:-$HOME/.cache/vqkit/guest}
mkdir -p "$cache"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# A private apt configuration: the machine's archive URI with bookworm, its backports and trixie-backports.
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources"
uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
keyring=$(awk '/^Signed-By:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
cat >"$apt_dir/sources/vqkit.sources" <<SOURCES
Types: deb
URIs: $uri
Suites: bookworm bookworm-updates bookworm-backports trixie-backports
Components: main
Signed-By: $keyring
SOURCES
apt_opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$apt_dir/sources"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "DPkg::Lock::Timeout=600"
  -o "APT::Sandbox::User=root")
apt_updated=0
apt_update() {
  if [ $apt_updated -eq 0 ]; then
    apt-get "${apt_opts[@]}" update -qq
    apt_updated=1
  fi
}

# QEMU 10 and cpio (to pack the initramfs).
if ! qemu-system-x86_64 --version 2>/dev/null | grep -q 'version 1[0-9]\.'; then
  apt_update
  $SUDO apt-get "${apt_opts[@]}" install -y -qq -t bookworm-backports qemu-system-x86 >/dev/null
fi
if ! command -v cpio >/dev/null; then
  apt_update
  $SUDO apt-get "${apt_opts[@]}" install -y -qq cpio >/dev/null
fi
# The packages apt fetched for those installs are not needed again.
rm -rf "$apt_dir/cache/archives"/*.deb

# The kernel: whatever linux-image-amd64 of trixie-backports depends on, >= 7.0.
if [ ! -f "$cache/kernel/vmlinuz" ]; then
  apt_update
  image=$(apt-cache "${apt_opts[@]}" depends -t trixie-backports linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  version=${image#linux-image-}
  case "$version" in
    [7-9].* | [1-9][0-9].*) ;;
    *) echo "guest-env: linux-image-amd64 of trixie-backports is $version, older than 7.0" >&2; exit 1 ;;
  esac
  rm -rf "$cache/debs" "$cache/kernel.new"
  mkdir -p "$cache/debs" "$cache/kernel.new"
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" download -t trixie-backports "linux-binary-$version" "linux-modules-$version" >/dev/null)
  for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$cache/kernel.new/root"; done
  # trixie ships the kernel beside its modules (/usr/lib/modules/VERSION/vmlinuz); older layouts in /boot.
  for k in "usr/lib/modules/$version/vmlinuz" "boot/vmlinuz-$version"; do
    [ -f "$cache/kernel.new/root/$k" ] && cp "$cache/kernel.new/root/$k" "$cache/kernel.new/vmlinuz"
  done
  [ -f "$cache/kernel.new/vmlinuz" ] || { echo "guest-env: no vmlinuz in linux-binary-$version" >&2; exit 1; }
  echo "$version" >"$cache/kernel.new/version"
  rm -rf "$cache/kernel"
  mv "$cache/kernel.new" "$cache/kernel"
  rm -rf "$cache/debs"
fi
version=$(cat "$cache/kernel/version")

# Userland for the initramfs: busybox-static and socat (with the libraries ldd lists).
if [ ! -x "$cache/userland/bin/busybox" ] || [ ! -x "$cache/userland/usr/bin/socat" ] ||
  [ ! -e "$cache/userland/usr/lib/x86_64-linux-gnu/libwrap.so.0" ]; then
  apt_update
  rm -rf "$cache/userland" "$cache/udebs"
  mkdir -p "$cache/udebs" "$cache/userland"
  # socat links libwrap (and it libnsl), which a Debian machine may not have: those come from the archive too.
  (cd "$cache/udebs" && apt-get "${apt_opts[@]}" download busybox-static socat libwrap0 libnsl2 >/dev/null)
  for deb in "$cache"/udebs/*.deb; do dpkg-deb -x "$deb" "$cache/userland"; done
fi

# Linux's vsock_test, linked statically.
vsock_test="$(bash "$here/scripts/kernel-tools.sh" | tail -1)/src/tools/testing/vsock/vsock_test"

# The initramfs, rebuilt when /init, vsock_test or the kernel changed.
stamp="$version $(cat "$here/test/guest/init" "$0" "$vsock_test" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$cache/initramfs.gz" ] || [ "$(cat "$cache/initramfs.stamp" 2>/dev/null)" != "$stamp" ]; then
  root=$cache/initramfs
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules,usr/bin}
  cp "$cache/userland/bin/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  cp "$cache/userland/usr/bin/socat" "$root/usr/bin/socat"
  cp "$vsock_test" "$root/usr/bin/vsock_test"
  # socat's libraries (the downloaded ones first, then this machine's, the same Debian release) and the loader,
  # each at the path the guest's loader looks in.
  ulib="$cache/userland/usr/lib/x86_64-linux-gnu:$cache/userland/lib/x86_64-linux-gnu"
  libs=$(LD_LIBRARY_PATH=$ulib ldd "$root/usr/bin/socat")
  if echo "$libs" | grep -q 'not found'; then
    echo "guest-env: socat needs libraries this machine does not have:" >&2
    echo "$libs" | grep 'not found' >&2
    exit 1
  fi
  echo "$libs" | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | while read -r lib; do
    dest=$lib
    case "$lib" in "$cache"/userland/*) dest=${lib#"$cache/userland"} ;; esac
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$lib" "$root$dest"
  done
  mods="$cache/kernel/root/usr/lib/modules/$version/kernel"
  [ -d "$mods" ] || mods="$cache/kernel/root/lib/modules/$version/kernel"
  for m in net/core/failover drivers/net/net_failover drivers/net/virtio_net net/vmw_vsock/vsock \
    net/vmw_vsock/vmw_vsock_virtio_transport_common net/vmw_vsock/vmw_vsock_virtio_transport \
    drivers/char/hw_random/virtio-rng; do
    src=$(ls "$mods/$m".ko* 2>/dev/null | head -1)
    [ -n "$src" ] || { echo "guest-env: module $m not found in $mods" >&2; exit 1; }
    case "$src" in
      *.xz) xz -dc "$src" >"$root/lib/modules/$(basename "$m").ko" ;;
      *.zst) zstd -dqc "$src" >"$root/lib/modules/$(basename "$m").ko" ;;
      *) cp "$src" "$root/lib/modules/$(basename "$m").ko" ;;
    esac
  done
  cp "$here/test/guest/init" "$root/init"
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$cache/initramfs.gz.new")
  mv "$cache/initramfs.gz.new" "$cache/initramfs.gz"
  echo "$stamp" >"$cache/initramfs.stamp"
fi
echo "guest-env: $(qemu-system-x86_64 --version | head -1); Linux $version; initramfs $(du -h "$cache/initramfs.gz" | cut -f1)" >&2
echo "$cache"
