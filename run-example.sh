#!/usr/bin/env bash
# The main job: installs what is missing, builds, fetches the test guest (Debian's kernel and a busybox
# initramfs, scripts/fetch-guest.sh), creates and configures the example VM ("Example VM": 256 MiB, the
# kernel booted directly, an IDE disk, its console on COM1 into a file) in a configuration directory of
# its own under .cache/, so a VirtualBox set-up of the user's is never touched; then starts it through
# VBoxSVC (`VBoxManage startvm --type headless`), shows its console while the guest boots and counts
# on its disk, shows the VM running from a second client, and stops it cleanly with the ACPI power
# button. Running it again recreates the VM. EXAMPLE_SECONDS=N: how long to watch the counter (10).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
./scripts/build.sh
guest=$(./scripts/fetch-guest.sh)
export VBOX_USER_HOME="${VBOX_USER_HOME:-$root/.cache/example-home}"
vbm="$root/bin/VBoxManage"
name="Example VM"
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$VBOX_USER_HOME/VirtualBox VMs"
if "$vbm" showvminfo "$name" >/dev/null 2>&1; then
  state=$("$vbm" showvminfo "$name" --machinereadable | sed -n 's/^VMState="\(.*\)"$/\1/p')
  case "$state" in running|paused|stuck) "$vbm" controlvm "$name" poweroff ;; esac
  "$vbm" unregistervm "$name" --delete
fi
dir="$VBOX_USER_HOME/VirtualBox VMs/$name"
console="$dir/console.log"
"$vbm" createvm --name "$name" --ostype Debian_64 --register
"$vbm" modifyvm "$name" --memory 256 --cpus 1 --hwvirtex off \
  --boot-kernel "$guest/vmlinux" --boot-initrd "$guest/initramfs-ata.cpio.gz" \
  --boot-cmdline "console=ttyS0 panic=-1 sbx.test=diskcounter" \
  --uart1 0x3f8 4 --uart-mode1 file "$console"
disk="$dir/$name.vdi"
"$vbm" createmedium disk --filename "$disk" --size 64 --format VDI
"$vbm" storagectl "$name" --name IDE --add ide --controller PIIX4
"$vbm" storageattach "$name" --storagectl IDE --port 0 --device 0 --type hdd --medium "$disk"
"$vbm" showvminfo "$name"

echo
"$vbm" startvm "$name" --type headless
echo "--- the guest's console ($console):"
tail -n +1 -F "$console" 2>/dev/null &
tailer=$!
trap 'kill $tailer 2>/dev/null || true' EXIT
count() { grep -ac '^COUNT ' "$console" 2>/dev/null || true; }
want=${EXAMPLE_SECONDS:-10}
t=0
until [ "$(count)" -ge "$want" ]; do
  if [ $t -ge 1200 ] || ! "$vbm" list runningvms | grep -q "^\"$name\" "; then
    kill $tailer 2>/dev/null || true
    echo "run-example: the guest did not reach COUNT $want (see $dir/Logs/VBox.log)" >&2
    exit 1
  fi
  sleep 0.5; t=$((t + 1))
done
sleep 0.3
kill $tailer 2>/dev/null || true
wait $tailer 2>/dev/null || true
echo "--- seen from another client:"
"$vbm" list runningvms
"$vbm" showvminfo "$name" --machinereadable | grep -E '^(VMState|SessionName)='
echo "--- controlvm acpipowerbutton: the guest powers itself off"
"$vbm" controlvm "$name" acpipowerbutton
t=0
until [ "$("$vbm" showvminfo "$name" --machinereadable | sed -n 's/^VMState="\(.*\)"$/\1/p')" = poweroff ]; do
  if [ $t -ge 120 ]; then
    echo "run-example: the guest did not power off on the power button; powering it off" >&2
    "$vbm" controlvm "$name" poweroff
    exit 1
  fi
  sleep 0.5; t=$((t + 1))
done
sed -n '/^POWER-BUTTON/,$p' "$console" | tr -d '\r'
"$vbm" showvminfo "$name" --machinereadable | grep -E '^VMState='
echo
echo "The example VM lives in VBOX_USER_HOME=$VBOX_USER_HOME; export it to use bin/VBoxManage on it"
echo "(e.g. bin/VBoxManage startvm \"$name\" --type headless, then controlvm \"$name\" savestate)."
