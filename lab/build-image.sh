#!/usr/bin/env bash
# Build the pteguard lab image: Debian 12 (bookworm) rootfs with the test
# tooling installed in a chroot (not in a guest), the test-only kernel module
# built against the headers of the kernel the lab boots, an SSH key pair, and
# an ext4 disk made without loop devices (mke2fs -d) converted to qcow2.
#
# Usage: build-image.sh OUTDIR MIRROR
#   OUTDIR  empty directory to fill (the caller renames it into the cache)
#   MIRROR  Debian mirror URL (the caller reads it from the host's apt sources)
#
# Needs root and: debootstrap, e2fsprogs (mke2fs), qemu-utils (qemu-img),
# openssh-client (ssh-keygen), util-linux (unshare).
set -euo pipefail

OUT=${1:?usage: build-image.sh OUTDIR MIRROR}
MIRROR=${2:?usage: build-image.sh OUTDIR MIRROR}
HERE=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm
ROOT="$OUT/rootfs"

BASE_PKGS=systemd,systemd-sysv,udev,dbus,openssh-server,python3,sudo,linux-image-amd64,initramfs-tools,kmod,procps,iproute2,ca-certificates
TOOL_PKGS=(rasdaemon fio smartmontools gdb binutils dmsetup kexec-tools grub-pc memtest86+ memtester stress-ng dmidecode gcc make libc6-dev)

log() { printf '[build-image %(%H:%M:%S)T] %s\n' -1 "$*"; }

[ "$(id -u)" = 0 ] || { echo "build-image.sh: must run as root" >&2; exit 2; }
for tool in debootstrap mke2fs qemu-img ssh-keygen unshare chroot; do
    command -v "$tool" >/dev/null || { echo "build-image.sh: missing host tool: $tool" >&2; exit 2; }
done

mkdir -p "$OUT"

# Run a command inside the rootfs with /proc, /sys, /dev mounted in a private
# mount namespace: the mounts vanish with the namespace, even on failure.
in_root() {
    # shellcheck disable=SC2016  # $1/$@ belong to the inner sh, not to this script
    unshare --mount --propagation private -- /bin/sh -ec '
        R=$1; shift
        mount -t proc proc "$R/proc"
        mount -t sysfs sysfs "$R/sys"
        mount --rbind /dev "$R/dev"
        mount -t tmpfs tmpfs "$R/run"
        mount -t tmpfs tmpfs "$R/tmp"
        exec chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root "$@"
    ' in_root "$ROOT" "$@"
}

log "debootstrap $SUITE"
# In a private mount namespace too: debootstrap's own /proc mount cannot leak.
unshare --mount --propagation private -- debootstrap --variant=minbase --include="$BASE_PKGS" "$SUITE" "$ROOT" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 \
    || { tail -n 30 "$OUT/debootstrap.log" >&2; exit 1; }

printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$ROOT/etc/apt/sources.list"
# Keep services from starting inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# Small initramfs: only what a virtio guest needs to mount its root.
mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
echo 'MODULES=list' >"$ROOT/etc/initramfs-tools/conf.d/pteguard-lab.conf"
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 >>"$ROOT/etc/initramfs-tools/modules"

KVER=$(find "$ROOT/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
[ -n "$KVER" ] || { echo "build-image.sh: no kernel installed in rootfs" >&2; exit 1; }
log "kernel $KVER; installing tooling in the chroot"
in_root apt-get -o Acquire::Retries=3 -q update >"$OUT/apt.log" 2>&1
in_root apt-get -q -y --no-install-recommends install "${TOOL_PKGS[@]}" "linux-headers-$KVER" >>"$OUT/apt.log" 2>&1 \
    || { tail -n 30 "$OUT/apt.log" >&2; exit 1; }
in_root update-initramfs -u -k "$KVER" >>"$OUT/apt.log" 2>&1
in_root apt-get clean

log "building the test-only kernel module"
mkdir -p "$ROOT/opt/pteguard-lab/kmod"
cp "$HERE/kmod/pteguard_testmod.c" "$HERE/kmod/Makefile" "$ROOT/opt/pteguard-lab/kmod/"
in_root make -C /opt/pteguard-lab/kmod KVER="$KVER" >"$OUT/kmod.log" 2>&1 \
    || { tail -n 30 "$OUT/kmod.log" >&2; exit 1; }
install -m 0755 "$HERE/guest/pteguard-lab-victim" "$ROOT/usr/local/sbin/pteguard-lab-victim"

log "configuring the guest"
echo pteguard-lab >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 pteguard-lab\n' >"$ROOT/etc/hosts"
echo '/dev/vda / ext4 errors=remount-ro 0 1' >"$ROOT/etc/fstab"
: >"$ROOT/etc/machine-id"
# Static address on QEMU's user-mode network, set by one oneshot unit: no DHCP
# and no networkd (which costs ~10 s of boot under TCG). VMs only, so a container
# sharing the host's network never touches host interfaces. net.ifnames=0 and
# virtio_net in the initramfs make eth0 exist before systemd starts.
cat >"$ROOT/etc/systemd/system/pteguard-lab-net.service" <<'EOF'
[Unit]
Description=pteguard lab: static address on QEMU user-mode networking
ConditionVirtualization=vm
DefaultDependencies=no
Before=network.target ssh.service
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done'
ExecStart=/usr/bin/ip link set lo up
ExecStart=/usr/bin/ip link set eth0 up
ExecStart=/usr/bin/ip addr add 10.0.2.15/24 dev eth0
ExecStart=/usr/bin/ip route add default via 10.0.2.2

[Install]
WantedBy=sysinit.target
EOF
ssh-keygen -q -t ed25519 -N '' -C pteguard-lab -f "$OUT/id_ed25519"
install -d -m 0700 "$ROOT/root/.ssh"
install -m 0600 "$OUT/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
rm -f "$ROOT"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C pteguard-lab -f "$ROOT/etc/ssh/ssh_host_ed25519_key"
printf 'pteguard-lab %s\n' "$(cut -d' ' -f1-2 "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")" >"$OUT/known_hosts"
cat >"$ROOT/etc/ssh/sshd_config.d/10-pteguard-lab.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
# No PAM session (pam_systemd -> logind) per command: much faster under TCG.
UsePAM no
HostKey /etc/ssh/ssh_host_ed25519_key
EOF
# rasdaemon on Debian 12 records nothing unless its trace buffer flushes at once.
# Containers share the host's kernel: keep rasdaemon (host tracing) out of them.
mkdir -p "$ROOT/etc/systemd/system/rasdaemon.service.d"
cat >"$ROOT/etc/systemd/system/rasdaemon.service.d/pteguard-lab.conf" <<'EOF'
[Unit]
ConditionVirtualization=!container

[Service]
ExecStartPre=/bin/sh -c 'mkdir -p /sys/kernel/debug/tracing/instances/rasdaemon && echo 0 > /sys/kernel/debug/tracing/instances/rasdaemon/buffer_percent || true'
EOF
in_root systemctl enable pteguard-lab-net.service ssh.service rasdaemon.service >/dev/null 2>&1
# Units a lab guest does not need; each costs seconds of boot under TCG.
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
    e2scrub_reap.service fstrim.timer systemd-networkd-wait-online.service \
    ras-mc-ctl.service kexec-load.service systemd-networkd.service systemd-logind.service \
    getty@tty1.service systemd-binfmt.service modprobe@drm.service modprobe@fuse.service \
    modprobe@efi_pstore.service >/dev/null 2>&1
rm -f "$ROOT/usr/sbin/policy-rc.d"

log "extracting kernel, initrd and module"
cp "$ROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$OUT/initrd.img"
cp "$ROOT/opt/pteguard-lab/kmod/pteguard_testmod.ko" "$OUT/pteguard_testmod.ko"
echo "$KVER" >"$OUT/kernel-version"

log "making the ext4 image (mke2fs -d) and converting it to qcow2"
used_mb=$(du -smx "$ROOT" | cut -f1)
size_mb=$(( used_mb + used_mb / 2 + 1536 ))
mke2fs -q -t ext4 -L pteguard-lab -E root_owner=0:0 -d "$ROOT" "$OUT/disk.raw" "${size_mb}M"
qemu-img convert -f raw -O qcow2 "$OUT/disk.raw" "$OUT/disk.qcow2"
rm -f "$OUT/disk.raw"
log "done: $OUT ($KVER, ${size_mb} MiB disk)"
