#!/bin/busybox sh
# PID 1 of the rtrace test VM (copied into the initramfs by tests/vm/run-in-vm).
#
# Loads the virtio/9p modules listed in /modules.order, mounts the host's "/"
# (9p tag "root", read-only) as the new root and the run directory (9p tag "io",
# writable) at /io, gives the new root fresh kernel filesystems and an empty
# /tmp, runs /io/cmd in it, stores the exit status in /io/rc and powers off.
# Anything that goes wrong is written to the console and the VM powers off
# without an rc file, which the runner reports as a VM failure.

/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

give_up() {
    echo "rtrace-vm init: $*" > /dev/console
    sync
    poweroff -f
    sleep 30
}

while read -r module; do
    [ -n "$module" ] || continue
    insmod "/modules/$module.ko" || give_up "cannot load module $module"
done < /modules.order

p9=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /io /newroot
# The run directory must be coherent (no cache): the host reads it after poweroff.
mount -t 9p -o "$p9,cache=none,access=any" io /io || give_up "cannot mount the run directory"
# The host tree does not change during a run: cache it aggressively.
mount -t 9p -o "$p9,ro,cache=loose,access=any" root /newroot || give_up "cannot mount the host root"

r=/newroot
mount -t proc proc $r/proc || give_up "cannot mount /proc"
mount -t sysfs sysfs $r/sys || give_up "cannot mount /sys"
mount -t devtmpfs devtmpfs $r/dev || give_up "cannot mount /dev"
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
mount -t tmpfs tmpfs $r/dev/shm
ln -sf /proc/self/fd $r/dev/fd
ln -sf /proc/self/fd/0 $r/dev/stdin
ln -sf /proc/self/fd/1 $r/dev/stdout
ln -sf /proc/self/fd/2 $r/dev/stderr
# A fresh /tmp, unless the command runs from a directory under the host's /tmp
# (a checkout there must stay visible; the command then uses TMPDIR=/dev/shm).
if [ ! -e /io/keep-host-tmp ]; then
    mount -t tmpfs -o mode=1777 tmpfs $r/tmp || give_up "cannot mount /tmp"
fi
[ -d $r/run ] && mount -t tmpfs tmpfs $r/run
mount -t tracefs tracefs $r/sys/kernel/tracing
mount -t debugfs debugfs $r/sys/kernel/debug
mount -t bpf bpf $r/sys/fs/bpf
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup

# Loopback, so workloads can talk TCP on 127.0.0.1.
ip link set lo up || give_up "cannot bring up the loopback interface"
hostname rtrace-vm

cp /io/cmd $r/dev/shm/.rtrace-vm-cmd || give_up "no command in the run directory"
chroot $r /bin/sh /dev/shm/.rtrace-vm-cmd < /dev/null > /io/stdout 2> /io/stderr
echo $? > /io/rc.tmp && mv /io/rc.tmp /io/rc
sync
poweroff -f
sleep 30
