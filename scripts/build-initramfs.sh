#!/usr/bin/env bash
# Builds the test initramfs (newc cpio, gzip) from Debian's busybox-static: /bin/busybox with its
# applet links and an /init that mounts proc and sys, loads the kernel modules given with --modules,
# reports boot completion (the boot-marker port 0x3F0, as Firecracker's guests do), prints
# "INIT-READY <seconds from /proc/uptime>", runs an optional test from the kernel command line and
# powers off. Tests (sbx.test=...):
#   cpus         prints "CPUS <n>" from /proc/cpuinfo
#   counter      prints "COUNT <i>" every second
#   disk         on /dev/sda: prints the md5 of sectors 2048-2303 ("DISK-HOSTPATTERN <md5>", a pattern
#                the host wrote), writes `seq -w 1 20000` (120000 bytes) at sector 4096 and 1024 sectors
#                before the end, syncs, drops the caches, reads both back ("DISK-READBACK-OK <where>"),
#                prints "DISK-DONE"; "DISK-FAIL <why>" on errors; the kernel's ata/sd lines as "KMSG ..."
#   diskcounter  a counter kept in sector 0 of /dev/sda ("COUNT <i>"): every second reads it (O_DIRECT),
#                writes the next one (O_DIRECT) and prints "COUNT <i> DISK <what it read>"; starts from
#                the disk's count ("DISK-START <n>")
#   diskbench    reads the first 64 MiB of /dev/sda, then writes 64 MiB after them (synced), each with
#                busybox dd, and prints "DISKBENCH read|write <bytes> <seconds>" from /proc/uptime
# Usage: build-initramfs.sh [--modules MODDIR NAME[,NAME...]] OUT.cpio.gz
#   MODDIR is a kernel's lib/modules/<version> tree (scripts/fetch-guest.sh keeps Debian's in
#   .cache/guest/modules); each NAME is loaded after the modules it depends on (the "depends=" field of
#   the module's .modinfo section; .ko, .ko.xz and .ko.zst are taken, compressed ones are unpacked here).
set -euo pipefail
moddir=""; modnames=""
while [ $# -gt 1 ]; do
  case "$1" in
    --modules)
      [ $# -ge 4 ] || { echo "build-initramfs: --modules needs MODDIR and NAME[,NAME...] before OUT" >&2; exit 2; }
      moddir="$2"; modnames="$3"; shift 3 ;;
    *) echo "build-initramfs: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: build-initramfs.sh [--modules MODDIR NAME[,NAME...]] OUT.cpio.gz" >&2; exit 2; }
out="$1"
bb=/bin/busybox
[ -x "$bb" ] && file -L "$bb" 2>/dev/null | grep -q static || bb=$(dpkg -L busybox-static 2>/dev/null | grep '/busybox$' | head -1)
[ -x "$bb" ] || { echo "build-initramfs: busybox-static is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,lib/modules}
cp "$bb" "$tmp/bin/busybox"
for applet in $("$tmp/bin/busybox" --list-full); do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$tmp/$(dirname "$applet")"
  ln -sf /bin/busybox "$tmp/$applet"
done

if [ -n "$moddir" ]; then
  [ -d "$moddir/kernel" ] || { echo "build-initramfs: '$moddir' is not a lib/modules/<version> tree (no kernel/ folder)" >&2; exit 1; }
  command -v objcopy >/dev/null || { echo "build-initramfs: objcopy (binutils) is needed to read module dependencies" >&2; exit 1; }
  # name (with - and _ alike) -> file
  declare -A file_of=()
  while IFS= read -r f; do
    b=$(basename "$f"); b=${b%.zst}; b=${b%.xz}; b=${b%.ko}; b=${b//-/_}
    file_of[$b]="$f"
  done < <(find "$moddir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
  declare -A done_=() active=()
  order=()
  add() { # name: the module's dependencies first, then the module
    local n=${1//-/_} f deps d
    [ -n "${done_[$n]:-}" ] && return 0
    [ -n "${active[$n]:-}" ] && { echo "build-initramfs: module dependency loop at $n" >&2; exit 1; }
    f=${file_of[$n]:-}
    [ -n "$f" ] || { echo "build-initramfs: module '$1' is not in $moddir" >&2; exit 1; }
    active[$n]=1
    case "$f" in
      *.xz) xz -dc "$f" > "$tmp/lib/modules/$n.ko" ;;
      *.zst) zstd -qdc "$f" > "$tmp/lib/modules/$n.ko" ;;
      *) cp "$f" "$tmp/lib/modules/$n.ko" ;;
    esac
    deps=$(objcopy -O binary --only-section=.modinfo "$tmp/lib/modules/$n.ko" /dev/stdout 2>/dev/null | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1)
    for d in ${deps//,/ }; do add "$d"; done
    unset "active[$n]"
    done_[$n]=1
    order+=("$n")
  }
  for m in ${modnames//,/ }; do add "$m"; done
  printf '%s\n' "${order[@]}" > "$tmp/lib/modules/load-order"
fi

cat > "$tmp/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
if [ -f /lib/modules/load-order ]; then
  while read m; do
    insmod "/lib/modules/$m.ko" || echo "MODULE-FAIL $m"
  done < /lib/modules/load-order
fi
# An orderly power-off on the ACPI power button (VBoxManage controlvm acpipowerbutton) when the image
# carries the button and evdev modules: one event from the "Power Button" input device ends the guest.
for ev in /sys/class/input/event*; do
  [ "$(cat "$ev/device/name" 2>/dev/null)" = "Power Button" ] || continue
  node=/dev/input/${ev##*/}
  (
    t=0; while [ ! -c "$node" ] && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
    dd if="$node" bs=24 count=1 of=/dev/null 2>/dev/null && echo "POWER-BUTTON: powering off" && sync && poweroff -f
  ) &
done
# Boot complete: the boot-marker port logs the guest boot time (value 123 at port 0x3f0).
printf '\173' | dd of=/dev/port bs=1 seek=1008 count=1 2>/dev/null
read up rest < /proc/uptime
echo "INIT-READY $up"

# wait_disk: until /dev/sda exists (disks are probed asynchronously), at most 30 s
wait_disk() {
  i=0
  while [ ! -b /dev/sda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  [ -b /dev/sda ]
}

disk_test() {
  if ! wait_disk; then
    echo "DISK-FAIL no /dev/sda"
    dmesg | grep -iE 'ata|scsi|sd[ a]' | sed 's/^/KMSG /'
    return
  fi
  dmesg | grep -iE 'ata[0-9]|scsi|sd[ a]' | sed 's/^/KMSG /'
  size=$(cat /sys/block/sda/size)
  echo "DISK-SIZE $size"
  echo "DISK-MODEL $(cat /sys/block/sda/device/model)"
  echo "DISK-HOSTPATTERN $(dd if=/dev/sda bs=512 skip=2048 count=256 2>/dev/null | md5sum | cut -d' ' -f1)"
  seq -w 1 20000 > /tmp/pat
  end=$((size - 1024))
  for at in 4096 $end; do
    dd if=/tmp/pat of=/dev/sda bs=512 seek=$at conv=notrunc 2>/dev/null || echo "DISK-FAIL write at $at"
  done
  sync
  blockdev --flushbufs /dev/sda
  echo 3 > /proc/sys/vm/drop_caches
  for at in 4096 $end; do
    if dd if=/dev/sda bs=512 skip=$at count=235 2>/dev/null | head -c 120000 | cmp -s - /tmp/pat; then
      echo "DISK-READBACK-OK $at"
    else
      echo "DISK-FAIL read back at $at"
    fi
  done
  echo "DISK-DONE"
}

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
  *" sbx.test=disk "*)
    disk_test
    ;;
  *" sbx.test=diskbench "*)
    if wait_disk; then
      t0=$(cut -d' ' -f1 /proc/uptime)
      dd if=/dev/sda of=/dev/null bs=1M count=64 2>/dev/null
      t1=$(cut -d' ' -f1 /proc/uptime)
      dd if=/dev/zero of=/dev/sda bs=1M count=64 seek=64 conv=fsync 2>/dev/null
      t2=$(cut -d' ' -f1 /proc/uptime)
      echo "DISKBENCH read 67108864 $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
      echo "DISKBENCH write 67108864 $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')"
    else
      echo "DISK-FAIL no /dev/sda"
    fi
    ;;
  *" sbx.test=diskcounter "*)
    # The counter kept on the disk (VM lifecycle proof, scripts/suites/svc-e2e.sh): sector 0 of
    # /dev/sda holds "COUNT n". Every second the guest reads it past its page cache (O_DIRECT),
    # writes the next count (O_DIRECT), then prints "COUNT i DISK j": after any save/restore the disk
    # must be in step with the memory image, i.e. j = i - 1 on every line.
    if ! wait_disk; then echo "DISK-FAIL no /dev/sda"; poweroff -f; fi
    rd() { # the count on the disk: 0 for a blank sector, nothing if unreadable or not a count
      dd if=/dev/sda of=/tmp/sector0 bs=512 count=1 iflag=direct 2>/dev/null || return
      s=$(tr -d '\000' < /tmp/sector0)
      if [ -z "$s" ]; then echo 0; else echo "$s" | sed -n 's/^COUNT \([0-9]*\)$/\1/p'; fi
    }
    i=$(rd); i=${i:-0}
    echo "DISK-START $i"
    while [ $i -lt 1000000 ]; do
      j=$(rd)
      i=$((i + 1))
      printf 'COUNT %d\n' $i | dd of=/dev/sda bs=512 count=1 conv=sync oflag=direct 2>/dev/null || echo "DISK-FAIL write $i"
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
