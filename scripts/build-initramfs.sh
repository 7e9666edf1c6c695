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
esac
poweroff -f
INIT
chmod +x "$tmp/init"
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) > "$out.tmp"
mv "$out.tmp" "$out"
