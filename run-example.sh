#!/usr/bin/env bash
# The main job: installs what is missing, builds, and creates, configures and shows the example VM
# ("Example VM", with a dynamic VDI disk) in a configuration directory of its own under .cache/, so a
# VirtualBox set-up of the user's is never touched. Running it again recreates the VM.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
./scripts/build.sh
export VBOX_USER_HOME="${VBOX_USER_HOME:-$root/.cache/example-home}"
vbm="$root/bin/VBoxManage"
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$VBOX_USER_HOME/VirtualBox VMs"
if "$vbm" showvminfo "Example VM" >/dev/null 2>&1; then
  "$vbm" unregistervm "Example VM" --delete
fi
"$vbm" createvm --name "Example VM" --ostype Debian_64 --register
"$vbm" modifyvm "Example VM" --memory 256 --cpus 1 --hwvirtex off --uart1 0x3f8 4 --uart-mode1 disconnected
disk="$VBOX_USER_HOME/VirtualBox VMs/Example VM/Example VM.vdi"
"$vbm" createmedium disk --filename "$disk" --size 64 --format VDI
"$vbm" storagectl "Example VM" --name SATA --add sata --controller IntelAhci --portcount 1
"$vbm" storageattach "Example VM" --storagectl SATA --port 0 --device 0 --type hdd --medium "$disk"
"$vbm" showvminfo "Example VM"
echo
echo "The example VM lives in VBOX_USER_HOME=$VBOX_USER_HOME; export it to use bin/VBoxManage on it."
