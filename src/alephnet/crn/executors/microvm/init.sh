#!/bin/busybox sh
# PID 1 of the micro-VM, run from our initramfs by the kernel (rdinit=/init).
#
# For a program it stays PID 1 for the VM's whole life: it finds the disks by their serial
# numbers (no udev here), mounts the runtime squashfs under a tmpfs overlay, starts the guest
# runtime chrooted into it, and when the runtime exits it reports the exit status on the
# console and powers off (ACPI S5), which ends QEMU. For an instance (`alephnet.instance`) it
# mounts the instance's own disk, applies the host's configuration disk and hands PID 1 over
# to the disk's init. (A reboot sometimes spun in the kernel's reset fallbacks on
# microvm.) Busybox, not Python: a shell starts in milliseconds under TCG, Python in most of
# a second.
export PATH=/bin
/bin/busybox mkdir -p /bin /proc /sys /dev /newroot /lower /overlay
/bin/busybox --install -s /bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

if grep -q alephnet.probe /proc/cmdline; then
    echo "alephnet-init: probe ok"
    poweroff -f
fi

for module in $(cat /etc/modules); do
    insmod "/lib/modules/$module" || echo "alephnet-init: cannot load $module"
done

# /dev/disk/by-id/virtio-<serial> for each disk, /dev/virtio-ports/<name> for each port.
mkdir -p /dev/disk/by-id /dev/virtio-ports
for disk in /sys/block/vd*; do
    [ -e "$disk/serial" ] && ln -sf "/dev/${disk##*/}" "/dev/disk/by-id/virtio-$(cat "$disk/serial")"
done
for port in /sys/class/virtio-ports/*; do
    [ -e "$port/name" ] && ln -sf "/dev/${port##*/}" "/dev/virtio-ports/$(cat "$port/name")"
done

# QEMU user-mode networking: fixed addresses, set before the guest's own init runs (which
# keeps them: the images we boot configure no network of their own). $1: where sysfs is.
network_up() {
    ip link set lo up
    [ -e "$1/class/net/eth0" ] || return 1
    ip addr add 10.0.2.15/24 dev eth0
    ip link set eth0 up
    ip route add default via 10.0.2.2
}

# An instance: its disk `rootfs` read-write, the host's `config` disk (a tar archive of files:
# authorized_keys, hostname, resolv.conf, the volumes' fstab) unpacked over it, its volumes
# mounted by the image's own `mount` (chrooted, so mount points are the guest's paths; by its
# path, or busybox runs its own applet), an SSH host key made on the first boot (the image
# ships none, so that no two instances share one), then the image's init.
boot_instance() {
    for module in $(cat /etc/modules-instance); do
        insmod "/lib/modules/$module" || echo "alephnet-init: cannot load $module"
    done
    mount -t ext4 -o rw /dev/disk/by-id/virtio-rootfs /newroot || return 1
    tar -x -f /dev/disk/by-id/virtio-config -C /newroot || return 1
    network_up /sys
    for fs in proc sys dev; do
        mkdir -p "/newroot/$fs" && mount --move "/$fs" "/newroot/$fs"
    done
    volumes=/etc/alephnet/volumes.fstab
    if [ -e "/newroot$volumes" ]; then
        chroot /newroot /bin/mount --all --fstab "$volumes" ||
            echo "alephnet-init: not every volume of $volumes could be mounted"
    fi
    host_key=/etc/ssh/ssh_host_ed25519_key
    if [ -x /newroot/usr/bin/ssh-keygen ] && [ ! -e "/newroot$host_key" ]; then
        chroot /newroot /usr/bin/ssh-keygen -q -t ed25519 -N "" -f "$host_key"
    fi
    echo "alephnet-init: starting the instance's init at $(cut -d' ' -f1 /newroot/proc/uptime)"
    exec switch_root /newroot /sbin/init
}

if grep -q alephnet.instance /proc/cmdline; then
    boot_instance
    echo "alephnet-init: the instance's disk could not be booted"
    poweroff -f
fi

mount -t squashfs -o ro /dev/disk/by-id/virtio-runtime /lower
mount -t tmpfs -o mode=0755 tmpfs /overlay
mkdir -p /overlay/upper /overlay/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/overlay/upper,workdir=/overlay/work /newroot
# The SDK image (sdk_image.py), when the host attached one: the guest runtime adds it to the
# program's import path, so only a program that imports alephnet.sdk reads it.
if [ -e /dev/disk/by-id/virtio-sdk ]; then
    mkdir -p /newroot/opt/sdk
    mount -t squashfs -o ro /dev/disk/by-id/virtio-sdk /newroot/opt/sdk ||
        echo "alephnet-init: cannot mount the SDK image"
fi
for fs in proc sys dev; do
    mkdir -p "/newroot/$fs" && mount --move "/$fs" "/newroot/$fs"
done
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/tmp

# Always grant allocations: a program over its memory meets the OOM killer (which the host
# reports as out_of_memory), not a MemoryError that depends on the size of one allocation.
echo 1 > /newroot/proc/sys/vm/overcommit_memory
# The runtime and its program run in a memory cgroup capped below the memory still available
# now. At the cap the kernel keeps evicting and re-reading the runtime's code from its disk
# rather than calling its OOM killer, for minutes under TCG; so this init, which runs from RAM
# and never waits on that disk, watches the cgroup and kills it once it has stayed at its cap.
cgroup=/newroot/sys/fs/cgroup
MARGIN_KIB=8192
mount -t cgroup2 cgroup2 "$cgroup"
echo +memory > "$cgroup/cgroup.subtree_control"
mkdir "$cgroup/runtime"
available_kib=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB$/\1/p' /newroot/proc/meminfo)
memory_cap=$(( (available_kib - MARGIN_KIB) * 1024 ))
echo "$memory_cap" > "$cgroup/runtime/memory.max"

watch_memory() {
    near_cap=$(( memory_cap - 1048576 ))
    strikes=0
    while sleep 0.25; do
        if [ "$(cat "$cgroup/runtime/memory.current")" -ge "$near_cap" ]; then
            strikes=$(( strikes + 1 ))
        else
            strikes=0
        fi
        if [ "$strikes" -ge 4 ]; then
            echo "alephnet-init: out of memory: the program stayed at its $memory_cap-byte cap"
            echo 1 > "$cgroup/runtime/cgroup.kill"
            strikes=0
        fi
    done
}
watch_memory &
watcher=$!
if network_up /newroot/sys; then
    echo "nameserver 10.0.2.3" > /newroot/etc/resolv.conf
fi

# The uptime lets the boot timeline be read from the console (docs/crn-microvm.md).
echo "alephnet-init: starting the guest runtime at $(cut -d' ' -f1 /newroot/proc/uptime)"
# A child shell joins the cgroup, then becomes the runtime: PID 1 stays outside, out of reach.
sh -c 'echo $$ > "$1/runtime/cgroup.procs" && exec chroot /newroot /usr/bin/env -i \
    PATH=/usr/local/bin:/usr/bin:/bin HOME=/root PYTHONPATH=/opt/alephnet \
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -S -OO -m alephnet.crn.guest \
    --channel-device /dev/virtio-ports/alephnet' init "$cgroup"
status=$?
kill "$watcher"
echo "alephnet-init: the guest runtime exited with status $status"
sync
poweroff -f
