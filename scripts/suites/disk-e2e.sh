#!/usr/bin/env bash
# End-to-end test of the IDE controller with a real guest (one boot): VBoxManage creates a machine
# with a 200 GiB dynamic VDI on a PIIX4 IDE controller (and an empty DVD drive), qemu-io writes a
# pattern into the image, VBoxHeadless boots Debian's kernel (PVH) with the ata initramfs
# (scripts/fetch-guest.sh: ata_piix, libata, scsi_mod, sd_mod loaded by /init), whose sbx.test=disk
# reads the host's pattern, writes `seq -w 1 20000` at sector 4096 and 1024 sectors before the end
# (past 128 GiB: LBA48), syncs, drops its caches, reads both back and powers off. The host then checks
# the image with qemu-img check and reads the guest's data with qemu-img convert. Also: hard disks on a
# controller that is not emulated and missing images are refused at start. Prints "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vbm="$root/bin/VBoxManage"
vbh="$root/bin/VBoxHeadless"
work=$(mktemp -d /tmp/sbx-disk.XXXXXX)
export VBOX_USER_HOME="$work/home"
pass=0; fail=0
cleanup() { jobs -p | xargs -r kill 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

guest=$("$root/scripts/fetch-guest.sh") || { echo "disk-e2e: could not fetch the test guest"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$work/vms" >/dev/null

echo "--- boot: Debian's kernel writes and reads /dev/sda on the PIIX4 IDE controller"
disk="$work/vms/disk.vdi"
mkdir -p "$work/vms"
"$vbm" createvm --name disky --register >/dev/null &&
"$vbm" modifyvm disky --memory 256 --hwvirtex off --boot-kernel "$guest/vmlinux" --boot-initrd "$guest/initramfs-ata.cpio.gz" \
  --boot-cmdline "console=ttyS0 panic=-1 sbx.test=disk" --uart1 0x3f8 4 --uart-mode1 file "$work/serial.log" >/dev/null &&
"$vbm" createmedium disk --filename "$disk" --size 204800 >/dev/null 2>&1 &&
qemu-io -f vdi -c "write -P 0x5a 1M 128k" "$disk" >/dev/null &&
"$vbm" storagectl disky --name IDE --add ide --controller PIIX4 >/dev/null &&
"$vbm" storageattach disky --storagectl IDE --port 0 --device 0 --type hdd --medium "$disk" >/dev/null &&
"$vbm" storageattach disky --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive >/dev/null ||
  { bad setup "VBoxManage could not set up the machine"; echo "$pass passed, $fail failed"; exit 1; }
# ctl SOCKET COMMAND: one control-socket command; prints the reply (with debugvm's N further lines)
ctl() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1])
f = s.makefile("rw"); f.write(sys.argv[2] + "\n"); f.flush()
first = f.readline().rstrip("\n"); print(first)
if sys.argv[2].startswith("debugvm") and first.startswith("ok "):
    for _ in range(int(first[3:])): print(f.readline().rstrip("\n"))
PY
}
start=$(date +%s)
"$vbh" --startvm disky --control-socket "$work/disky.ctl" > "$work/boot.out" 2>&1 &
pid=$!
# The kernel's messages go to the serial log (no "quiet"), so a hang shows its last step; a guest that
# has not finished in 600 s gets its vCPU state printed before it is powered off.
for t in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 1; done
if kill -0 $pid 2>/dev/null; then
  echo "disk-e2e: the guest has not finished after 600 s; its state:"
  ctl "$work/disky.ctl" status 2>&1 | sed 's/^/  /'
  ctl "$work/disky.ctl" "debugvm info registers" 2>&1 | sed 's/^/  /'
  ctl "$work/disky.ctl" "debugvm disasm 0 12" 2>&1 | sed 's/^/  /'
  echo "  serial tail:"; tail -n 15 "$work/serial.log" | sed 's/^/  /'
  ctl "$work/disky.ctl" poweroff >/dev/null 2>&1
  for t in $(seq 1 20); do kill -0 $pid 2>/dev/null || break; sleep 1; done
  kill -9 $pid 2>/dev/null
fi
wait $pid; rc=$?
secs=$(( $(date +%s) - start ))
log="$work/vms/disky/Logs/VBox.log"
s="$work/serial.log"
want=$(head -c 131072 /dev/zero | tr '\0' '\132' | md5sum | cut -d' ' -f1)
if [ $rc -eq 0 ] && grep -q "^DISK-DONE" "$s"; then ok "guest ran the disk test and powered off ($secs s)"; else bad boot "exit $rc after $secs s; serial tail: $(tail -c 600 "$s" 2>/dev/null | tr '\n' ' ')"; fi
grep -q "^KMSG .*ata1.00: ATA-6: SHARPBOX HARDDISK" "$s" && grep -q "^KMSG .*ata1.00: 419430400 sectors, multi 16: LBA48" "$s" \
  && ok "libata identifies the disk: $(grep -o 'ata1.00: 419430400.*' "$s" | head -1)" || bad identify "$(grep '^KMSG' "$s" | tr '\n' ' ' | tail -c 600)"
grep -q "^KMSG .*bmdma 0xc000 irq 14" "$s" && ok "ata_piix uses bus-master DMA on IRQ 14" || bad dma "$(grep 'ata1:' "$s")"
if grep -q "DISK-FAIL\|MODULE-FAIL" "$s" || grep -qiE "^KMSG .*(exception Emask|failed command|I/O error|timeout)" "$s"; then
  bad "errors" "$(grep -E 'DISK-FAIL|MODULE-FAIL|Emask|failed command|I/O error|timeout' "$s" | head -5 | tr '\n' ' ')"
else
  ok "no disk errors in the guest"
fi
[ "$(sed -n 's/^DISK-HOSTPATTERN //p' "$s" | tr -d '\r')" = "$want" ] && ok "the guest read the pattern the host wrote" || bad "host pattern" "$(grep DISK-HOSTPATTERN "$s") (want $want)"
end=$((419430400 - 1024))
grep -q "^DISK-READBACK-OK 4096" "$s" && grep -q "^DISK-READBACK-OK $end" "$s" && ok "the guest read back what it wrote (after dropping its caches)" || bad readback "$(grep '^DISK-' "$s" | tr '\n' ' ')"

echo "--- host: the image after power-off"
check=$(qemu-img check "$disk" 2>&1); crc=$?
[ $crc -eq 0 ] && ok "qemu-img check: $check" || bad "qemu-img check" "$check"
seq -w 1 20000 > "$work/pattern"
if qemu-img convert -f vdi -O raw "$disk" "$work/disk.raw" 2>"$work/convert.err"; then
  r1=$(dd if="$work/disk.raw" bs=512 skip=4096 count=235 2>/dev/null | head -c 120000 | cmp - "$work/pattern" 2>&1 && echo same)
  r2=$(dd if="$work/disk.raw" bs=512 skip=$end count=235 2>/dev/null | head -c 120000 | cmp - "$work/pattern" 2>&1 && echo same)
  [ "$r1" = same ] && [ "$r2" = same ] && ok "qemu-img reads the guest's data at sectors 4096 and $end" || bad "guest data" "$r1 / $r2"
  rm -f "$work/disk.raw"
else
  bad "qemu-img convert" "$(cat "$work/convert.err")"
fi
grep -q "piix3ide: PIIX4 IDE at 00:01.1 (8086:7111)" "$log" && grep -q "piix3ide: primary master: ATA hard disk .*disk.vdi (VDI" "$log" \
  && grep -q "Storage: the DVD drive at controller 'IDE' port 1 device 0 is not emulated yet" "$log" \
  && ok "VBox.log names the controller, the image and the empty DVD slot" || bad "log" "$(grep -E 'piix3ide|Storage' "$log" | head -8 | tr '\n' ' ')"

echo "--- errors: refused at start"
"$vbm" createvm --name sata --register >/dev/null
"$vbm" modifyvm sata --memory 64 --hwvirtex off --boot-kernel "$guest/vmlinux" >/dev/null
"$vbm" createmedium disk --filename "$work/vms/sata.vdi" --size 16 >/dev/null 2>&1
"$vbm" storagectl sata --name SATA --add sata --controller IntelAhci >/dev/null
"$vbm" storageattach sata --storagectl SATA --port 0 --device 0 --type hdd --medium "$work/vms/sata.vdi" >/dev/null
"$vbh" --startvm sata > "$work/e1.out" 2> "$work/e1.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$work/e1.err")" -eq 1 ] && grep -q "controller 'SATA' port 0 device 0 (IntelAhci) has a hard disk attached" "$work/e1.err"; then
  ok "a disk on SATA: $(cat "$work/e1.err")"
else
  bad "SATA disk" "exit $rc: $(cat "$work/e1.err")"
fi
"$vbm" storageattach sata --storagectl SATA --port 0 --device 0 --medium none >/dev/null
"$vbm" storagectl sata --name IDE --add ide --controller PIIX3 >/dev/null
"$vbm" storageattach sata --storagectl IDE --port 0 --device 1 --type hdd --medium "$work/vms/sata.vdi" >/dev/null
mv "$work/vms/sata.vdi" "$work/vms/moved.vdi"
"$vbh" --startvm sata > "$work/e2.out" 2> "$work/e2.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$work/e2.err")" -eq 1 ] && grep -q "primary slave.*sata.vdi" "$work/e2.err"; then
  ok "a missing image: $(cat "$work/e2.err")"
else
  bad "missing image" "exit $rc: $(cat "$work/e2.err")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
