#!/usr/bin/env bash
# Builds the test initramfs (newc cpio, gzip) from Debian's busybox-static: /bin/busybox with its
# applet links and an /init that mounts proc and sys, reports boot completion (the boot-marker port
# 0x3F0, as Firecracker's guests do), prints "INIT-READY <seconds from /proc/uptime>", runs an optional
# test from the kernel command line (sbx.test=cpus|counter) and powers off.
# Usage: build-initramfs.sh OUT.cpio.gz
set -euo pipefail
out="$1"
bb=/bin/busybox
[ -x "$bb" ] && file -L "$bb" 2>/dev/null | grep -q static || bb=$(dpkg -L busybox-static 2>/dev/null | grep '/busybox$' | head -1)
[ -x "$bb" ] || { echo "build-initramfs: busybox-static is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp}
cp "$bb" "$tmp/bin/busybox"
for applet in $("$tmp/bin/busybox" --list-full); do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$tmp/$(dirname "$applet")"
  ln -sf /bin/busybox "$tmp/$applet"
done
cat > "$tmp/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# Boot complete: the boot-marker port logs the guest boot time (value 123 at port 0x3f0).
printf '\173' | dd of=/dev/port bs=1 seek=1008 count=1 2>/dev/null
read up rest < /proc/uptime
echo "INIT-READY $up"
case " $(cat /proc/cmdline) " in
  *" sbx.test=cpus "*)
    echo "CPUS $(grep -c ^processor /proc/cpuinfo)"
    ;;
  *" sbx.test=counter "*)
    i=0
    while [ $i -lt 1000000 ]; do
      i=$((i + 1))
      echo "COUNT $i"
      sleep 1
    done
    ;;
  *" sbx.test=diskcounter "*)
    # The counter kept on the disk (VM lifecycle proof, scripts/suites/svc-e2e.sh): sector 0 of
    # /dev/sda holds "COUNT n". Every second the guest reads it past its page cache (O_DIRECT),
    # writes the next count, then prints "COUNT i DISK j": after any save/restore the disk must be in
    # step with the memory image, i.e. j = i - 1 on every line.
    t=0
    while [ ! -b /dev/sda ] && [ $t -lt 300 ]; do sleep 0.1; t=$((t + 1)); done
    if [ ! -b /dev/sda ]; then echo "NO-DISK"; poweroff -f; fi
    rd() { dd if=/dev/sda bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\000' | sed -n 's/^COUNT \([0-9]*\)$/\1/p'; }
    i=$(rd); i=${i:-0}
    echo "DISK-START $i"
    while [ $i -lt 1000000 ]; do
      j=$(rd)
      i=$((i + 1))
      printf 'COUNT %d\n' $i | dd of=/dev/sda bs=512 count=1 conv=sync oflag=direct 2>/dev/null
      echo "COUNT $i DISK ${j:-none}"
      sleep 1
    done
    ;;
esac
poweroff -f
INIT
chmod +x "$tmp/init"
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) > "$out.tmp"
mv "$out.tmp" "$out"
