#!/bin/sh
# Runs INSIDE a direct-kernel lab guest (root on /dev/vda) whose second virtio disk /dev/vdb already carries an
# MBR with one Linux partition (written by pteguard_lab.grub_image on the host: no sfdisk in the guest, no loop
# device on the host). Copies the running system onto /dev/vdb1 and installs GRUB (BIOS) on /dev/vdb, so that disk
# boots alone through its own GRUB menu, its own kernels and memtest86+'s entries. Prints grub.cfg at the end,
# between markers, for the host to keep.
set -eu
DISK=/dev/vdb
PART=/dev/vdb1
MNT=/mnt/grubdisk

for _ in $(seq 50); do [ -b "$PART" ] && break; sleep 0.2; done
[ -b "$PART" ] || { echo "grub-image-guest: $PART missing" >&2; exit 2; }
mkfs.ext4 -q -L pteguard-grub "$PART"
mkdir -p "$MNT"
mount "$PART" "$MNT"
cp -ax /. "$MNT/"
uuid=$(blkid -s UUID -o value "$PART")
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$MNT/etc/fstab"
# The serial console is the only screen: GRUB's menu, the kernel and memtest86+ all draw there.
cat >"$MNT/etc/default/grub" <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200 net.ifnames=0 mitigations=off panic=10"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
for d in dev proc sys; do mount --bind "/$d" "$MNT/$d"; done
chroot "$MNT" grub-install --target=i386-pc "$DISK"
chroot "$MNT" update-grub
echo "----- grub.cfg -----"
cat "$MNT/boot/grub/grub.cfg"
echo "----- end grub.cfg -----"
for d in sys proc dev; do umount "$MNT/$d"; done
umount "$MNT"
sync
