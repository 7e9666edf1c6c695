#!/usr/bin/env bash
# Guest disk throughput on the IDE controller: Debian's kernel (PVH vmlinux, the ata initramfs from
# scripts/fetch-guest.sh, sbx.test=diskbench) reads the first 64 MiB of /dev/sda and writes 64 MiB
# after them with busybox dd (the write fsync'ed), timed by the guest's /proc/uptime. The disk is a
# dynamic VDI holding 128 MiB of random data, fresh for every run. Runs SharpBox with bus-master DMA,
# SharpBox with PIO only (extra data SharpBox/IDE/BusMaster 0), and QEMU TCG (-M pc: PIIX3 IDE with
# DMA, the same VDI format) in turns, RUNS times each, and prints the medians and SharpBox/QEMU ratios.
# Both run on software CPUs, so the figures are mostly the guest kernel's block path on each CPU
# emulator; the device's own share shows in the DMA/PIO difference.
# Usage: bench/disk-io.sh [RUNS]   (default 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${1:-3}
guest=$("$root/scripts/fetch-guest.sh")
work=$(mktemp -d /tmp/sbx-diskbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export VBOX_USER_HOME="$work/home"
mkdir -p "$VBOX_USER_HOME"
vbm="$root/bin/VBoxManage"
vbh="$root/bin/VBoxHeadless"
cmdline="console=ttyS0 quiet panic=-1 sbx.test=diskbench"
head -c $((128 << 20)) /dev/urandom > "$work/data.raw"

"$vbm" setproperty machinefolder "$work/vms" >/dev/null
"$vbm" createvm --name bench --register >/dev/null
"$vbm" modifyvm bench --memory 256 --hwvirtex off --boot-kernel "$guest/vmlinux" --boot-initrd "$guest/initramfs-ata.cpio.gz" \
  --boot-cmdline "$cmdline" --uart1 0x3f8 4 --uart-mode1 file "$work/serial.log" >/dev/null
"$vbm" storagectl bench --name IDE --add ide --controller PIIX4 >/dev/null

fresh_disk() { rm -f "$work/disk.vdi"; qemu-img convert -f raw -O vdi "$work/data.raw" "$work/disk.vdi"; }

# run_case NAME: one boot; appends "read write" seconds to $work/NAME.times
run_case() {
  local name=$1 log
  fresh_disk
  rm -f "$work/serial.log" "$work/qemu.log"
  case $name in
    dma|pio)
      "$vbm" setextradata bench SharpBox/IDE/BusMaster "$([ "$name" = pio ] && echo 0)" >/dev/null
      "$vbm" storageattach bench --storagectl IDE --port 0 --device 0 --type hdd --medium "$work/disk.vdi" >/dev/null
      "$vbh" --startvm bench >/dev/null 2>&1
      "$vbm" storageattach bench --storagectl IDE --port 0 --device 0 --medium none >/dev/null
      "$vbm" closemedium disk "$work/disk.vdi" >/dev/null
      log="$work/serial.log" ;;
    qemu)
      qemu-system-x86_64 -accel tcg -M pc -m 256 -kernel "$guest/vmlinux" -initrd "$guest/initramfs-ata.cpio.gz" \
        -append "$cmdline" -drive file="$work/disk.vdi",format=vdi,if=ide -display none \
        -serial file:"$work/qemu.log" -monitor none -no-reboot >/dev/null 2>&1
      log="$work/qemu.log" ;;
  esac
  local r w
  r=$(sed -n 's/^DISKBENCH read [0-9]* \([0-9.]*\).*/\1/p' "$log" | tr -d '\r')
  w=$(sed -n 's/^DISKBENCH write [0-9]* \([0-9.]*\).*/\1/p' "$log" | tr -d '\r')
  [ -n "$r" ] && [ -n "$w" ] || { echo "disk-io: the $name run printed no DISKBENCH lines: $(tail -c 300 "$log" 2>/dev/null | tr '\n' ' ')" >&2; exit 1; }
  echo "$r $w" >> "$work/$name.times"
  printf '  %-5s run: read %6s s, write %6s s\n' "$name" "$r" "$w"
}

for i in $(seq 1 "$runs"); do
  echo "run $i/$runs"
  for c in dma pio qemu; do run_case $c; done
done

median() { sort -n | awk '{a[NR]=$1} END { if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2] + a[NR/2+1]) / 2 }'; }
echo
printf '%-28s %10s %10s\n' "64 MiB, guest-timed (median)" "read" "write"
for c in dma pio qemu; do
  r=$(awk '{print $1}' "$work/$c.times" | median); w=$(awk '{print $2}' "$work/$c.times" | median)
  eval "${c}_r=$r ${c}_w=$w"
  printf '%-28s %7s s %4.0f MB/s %7s s %4.0f MB/s\n' "$c" "$r" "$(awk -v t="$r" 'BEGIN { print 64 / t }')" "$w" "$(awk -v t="$w" 'BEGIN { print 64 / t }')"
done
printf 'SharpBox DMA / QEMU speed: read %.2fx, write %.2fx\n' "$(awk -v a="$dma_r" -v b="$qemu_r" 'BEGIN { print b / a }')" "$(awk -v a="$dma_w" -v b="$qemu_w" 'BEGIN { print b / a }')"
printf 'SharpBox PIO / QEMU speed: read %.2fx, write %.2fx\n' "$(awk -v a="$pio_r" -v b="$qemu_r" 'BEGIN { print b / a }')" "$(awk -v a="$pio_w" -v b="$qemu_w" 'BEGIN { print b / a }')"
