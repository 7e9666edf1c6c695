#!/usr/bin/env bash
# Paravirtualization providers with Debian's kernel on the software CPU (issue 5), through the real
# tools. Each case boots the PVH vmlinux (scripts/fetch-guest.sh; no initramfs: the test never gets
# that far) with console messages on, reads what the kernel says about the hypervisor, and powers the
# VM off (VBoxManage controlvm) as soon as the kernel has chosen its clocksource (fs_initcall, about a
# quarter into the boot), which is the last line the cases need:
#   default    --ostype Debian_64 --paravirt-provider default: "Hypervisor detected: KVM", kvm-clock
#              registered and selected; while it runs, VBoxManage debugvm osdetect/osinfo name the kernel
#   hyperv     "Hypervisor detected: Microsoft Hyper-V", the Hyper-V reference TSC page clocksource
#   none       no hypervisor detected, neither kvm-clock nor Hyper-V
# Prints "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vbm="$root/bin/VBoxManage"
vbh="$root/bin/VBoxHeadless"
work=$(mktemp -d /tmp/sbx-gim-e2e.XXXXXX)
export VBOX_USER_HOME="$work/home"
pass=0; fail=0
cleanup() { jobs -p | xargs -r kill 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
guest=$("$root/scripts/fetch-guest.sh") || { echo "gim-e2e: could not fetch the test guest"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$work/vms" >/dev/null

wait_for() { local t=0; while [ "$t" -lt "$3" ]; do grep -aq "$2" "$1" 2>/dev/null && return 0; kill -0 "$4" 2>/dev/null || return 1; sleep 0.2; t=$((t + 1)); done; return 1; }
boot() { # name provider [extra modifyvm args]: boots until the kernel has chosen a clocksource; 0 on success, the VM left running
  local name=$1 pv=$2; shift 2
  "$vbm" createvm --name "$name" --register >/dev/null &&
  "$vbm" modifyvm "$name" --memory 256 --hwvirtex off --paravirt-provider "$pv" "$@" --boot-kernel "$guest/vmlinux" \
    --boot-cmdline "console=ttyS0 loglevel=7 panic=-1" --uart1 0x3f8 4 --uart-mode1 file "$work/$name.log" >/dev/null || return 1
  "$vbh" --startvm "$name" > "$work/$name.out" 2>&1 &
  vmpid=$!
  wait_for "$work/$name.log" "clocksource: Switched to clocksource" 3000 $vmpid
}
stop() { "$vbm" controlvm "$1" poweroff >/dev/null 2>&1; wait $vmpid 2>/dev/null; }
has() { grep -aq "$2" "$work/$1.log"; }

echo "--- default provider for a Linux guest (KVM)"
if boot kvm default --ostype Debian_64; then
  detected=$("$vbm" debugvm kvm osdetect 2>&1); osinfo=$("$vbm" debugvm kvm osinfo 2>&1)
  stop kvm
  [ "$detected" = "Detected: Linux" ] && echo "$osinfo" | grep -q "^Version: 6\.[0-9]" \
    && ok "debugvm osdetect/osinfo on the running kernel ($(echo "$osinfo" | sed -n 's/^Version: //p' | cut -d' ' -f1))" || bad osdetect "$detected / $osinfo"
  if has kvm "Hypervisor detected: KVM" && has kvm "kvm-clock: Using msrs 4b564d01 and 4b564d00" && has kvm "Switched to clocksource kvm-clock" \
     && grep -q "GIM: paravirtualization provider: KVM" "$work/vms/kvm/Logs/VBox.log"; then
    ok "default -> KVM: detected, kvm-clock registered and selected"
  else bad default "$(grep -a -i 'hypervisor\|kvm-clock\|Switched to' "$work/kvm.log" | tr '\n' ' ')"; fi
else stop kvm; bad default "no clocksource chosen: $(tail -c 300 "$work/kvm.log" | tr '\n' ' ') $(tail -2 "$work/kvm.out")"; fi

echo "--- hyperv"
if boot hv hyperv; then
  stop hv
  if has hv "Hypervisor detected: Microsoft Hyper-V" && has hv "Switched to clocksource hyperv_clocksource_tsc_page" \
     && ! has hv "unchecked MSR access" && ! has hv "kvm-clock"; then
    ok "hyperv: detected, reference TSC page clocksource, no MSR the guest needed was missing"
  else bad hyperv "$(grep -a -i 'hypervisor\|hyper-v\|unchecked\|Switched to' "$work/hv.log" | tr '\n' ' ' | cut -c1-400)"; fi
else stop hv; bad hyperv "no clocksource chosen: $(tail -c 300 "$work/hv.log" | tr '\n' ' ')"; fi

echo "--- none"
if boot none none; then
  stop none
  if ! has none "Hypervisor detected" && ! has none "kvm-clock" && ! has none "Hyper-V"; then
    ok "none: no hypervisor detected"
  else bad none "$(grep -a -i 'hypervisor\|kvm-clock\|hyper-v' "$work/none.log" | tr '\n' ' ')"; fi
else stop none; bad none "no clocksource chosen: $(tail -c 300 "$work/none.log" | tr '\n' ' ')"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
