#!/usr/bin/env bash
# Builds (once per machine) a guest image for the real-OpenZFS VM tests: a Debian bookworm kernel and a
# zstd-compressed initramfs (without /init, which vm/run appends) holding OpenZFS, openssh, iproute2 and the
# peers used by the benchmarks. Two OpenZFS versions, chosen by ZREPLRS_VM_ZFS:
#   2.3 (default)  kernel and OpenZFS 2.3 from bookworm-backports;
#   2.1            bookworm's own kernel (6.1) and OpenZFS 2.1 (zfs-dkms, zfsutils-linux from contrib).
# The result is cached outside the work tree under a hash of this recipe and the version; the path of the
# cache directory (holding `vmlinuz` and `image.cpio.zst`) is printed on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
variant=${ZREPLRS_VM_ZFS:-2.3}
case "$variant" in
  2.3) suite=bookworm-backports ;;
  2.1) suite=bookworm ;;
  *) echo "build-image.sh: ZREPLRS_VM_ZFS must be 2.3 or 2.1, not '$variant'" >&2; exit 1 ;;
esac
recipe_hash=$( (cat "$here/build-image.sh"; echo "zfs $variant") | sha256sum | cut -c1-16)
cache_root=${ZREPLRS_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zreplrs/vm}
out="$cache_root/$recipe_hash"
if [ -f "$out/image.cpio.zst" ] && [ -f "$out/vmlinuz" ]; then
  echo "$out"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-image.sh: building the guest image needs root (debootstrap, chroot)" >&2; exit 1; }
for tool in debootstrap cpio zstd; do
  command -v "$tool" >/dev/null || { echo "build-image.sh: $tool missing; run .ci/install-deps" >&2; exit 1; }
done
start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/zreplrs-vm-build.XXXXXX")
root="$work/root"
cleanup() {
  for m in dev/pts dev sys proc; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
log() { echo "build-image: [$(( $(date +%s) - start ))s] $*" >&2; }

log "debootstrap bookworm (minbase)"
debootstrap --variant=minbase --components=main,contrib bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
cat >"$root/etc/apt/sources.list" <<'SRC'
deb http://deb.debian.org/debian bookworm main contrib
deb http://deb.debian.org/debian bookworm-updates main contrib
deb http://deb.debian.org/debian bookworm-backports main contrib
SRC
mount -t proc proc "$root/proc"; mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"; mount --bind /dev/pts "$root/dev/pts"
in_root() { chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
apt_install() { in_root apt-get install -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1 || { tail -40 "$work/apt.log" >&2; exit 1; }; }
# Runs "$@" in the background, printing a progress line (with apt's latest output) every 30 s meanwhile:
# the DKMS compile of OpenZFS prints nothing for many minutes.
with_progress() {
  local what=$1; shift
  "$@" &
  local pid=$! t=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1; t=$((t + 1))
    if [ $((t % 30)) = 0 ] && kill -0 "$pid" 2>/dev/null; then
      log "$what, still working (${t}s): $(tail -n 1 "$work/apt.log" | tr -cd '[:print:]' | cut -c1-100)"
    fi
  done
  wait "$pid"
}
in_root apt-get update -q >>"$work/apt.log" 2>&1
log "kernel and headers ($suite)"
with_progress "kernel" apt_install -t "$suite" linux-image-amd64 linux-headers-amd64
log "OpenZFS $variant from $suite (DKMS compile, the longest step: about 15 minutes on 2 cores) and userland"
with_progress "OpenZFS DKMS" apt_install -t "$suite" zfs-dkms zfsutils-linux
zver=$(in_root dpkg-query -W -f '${Version}' zfsutils-linux)
case "$zver" in "$variant".*) log "zfsutils-linux $zver" ;;
  *) echo "build-image: expected OpenZFS $variant, the image has zfsutils-linux $zver" >&2; exit 1 ;; esac
with_progress "tools and benchmark peers" apt_install openssh-server openssh-client iproute2 kmod procps psmisc util-linux time sanoid \
  python3 python3-pip mbuffer pv lzop zstd ca-certificates
# What the package test checks an installed .deb with: man pages, and systemd-analyze for the units.
with_progress "man and systemd-analyze" apt_install man-db systemd
# zfs-autobackup (benchmark peer) from PyPI: fetched by the host's pip (which knows the host's CA setup),
# installed offline in the guest.
python3 -m pip download -q --only-binary=:all: -d "$root/tmp/wheels" 'zfs-autobackup==3.3' >>"$work/apt.log" 2>&1 \
  || { tail -20 "$work/apt.log" >&2; exit 1; }
in_root pip3 install -q --no-index --find-links /tmp/wheels --break-system-packages 'zfs-autobackup==3.3' >>"$work/apt.log" 2>&1 \
  || { tail -20 "$work/apt.log" >&2; exit 1; }
rm -rf "$root/tmp/wheels"
kver=$(ls "$root/lib/modules" | sort -V | tail -1)
log "guest kernel $kver"
[ -n "$(find "$root/lib/modules/$kver" -name 'zfs.ko*' | head -1)" ] || { echo "build-image: zfs.ko was not built" >&2; exit 1; }

# Keep only the modules the tests need (and their dependencies), then depmod.
deps=$(for m in zfs 9p 9pnet_virtio virtio_pci veth sch_netem virtio_net; do in_root modprobe -S "$kver" --show-depends "$m"; done)
mods=$(echo "$deps" | awk '$1=="insmod"{print $2}' | sort -u)
for m in zfs 9p 9pnet_virtio virtio_pci veth sch_netem virtio_net; do
  echo "$deps" | grep -qE "/$m\.ko|^builtin $m\$" || { echo "build-image: module $m not found for $kver" >&2; exit 1; }
done
keep="$work/keep"; mkdir -p "$keep"
for m in $mods; do mkdir -p "$keep/$(dirname "$m")"; cp -a "$root$m" "$keep$m"; done
rm -rf "$root/lib/modules/$kver/kernel" "$root/lib/modules/$kver/updates"
cp -a "$keep/lib/modules/$kver/." "$root/lib/modules/$kver/"
in_root depmod "$kver"

mkdir -p "$out.tmp"
cp "$root/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
for p in usr/share/doc usr/share/man usr/share/info usr/share/locale usr/lib/gcc usr/libexec/gcc usr/src usr/include \
         var/cache/apt var/lib/apt/lists var/lib/dkms boot usr/share/i18n usr/lib/x86_64-linux-gnu/perl/5.36.0/CORE; do
  rm -rf "${root:?}/$p"
done
find "$root/usr/bin" -name 'x86_64-linux-gnu-*' -delete
# /init itself is not part of the cached image: vm/run appends it as a second cpio archive at boot.
# sshd in the guest runs in network namespaces started by tests; it needs host keys and its privsep dir.
in_root ssh-keygen -A >/dev/null
mkdir -p "$root/run/sshd"
for m in dev/pts dev sys proc; do umount -l "$root/$m"; done
log "packing initramfs"
(cd "$root" && find . -xdev -print0 | cpio --null -o -H newc --quiet | zstd -q -T2 -10 -o "$out.tmp/image.cpio.zst")
rm -rf "$out"; mv "$out.tmp" "$out"
log "done: $(du -sh "$out/image.cpio.zst" | cut -f1) compressed, $(( $(date +%s) - start ))s in all"
echo "$out"
