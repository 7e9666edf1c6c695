#!/usr/bin/env bash
# End-to-end tests of the engine choice and of moving a VM between engines (issue 5), through the
# real tools: VBoxManage configures, VBoxHeadless runs. Prints "N passed, N failed".
#   off        --hwvirtex off: the software CPU, and VBox.log says why
#   fallback   --hwvirtex on with no usable KVM (a missing device node): the software CPU, and why
#   default    --hwvirtex on: KVM when this host's KVM runs ordinary guests, else the software CPU and why
#   kvm        the multiboot payload on the KVM engine (forced where KVM runs only user mode natively)
#   switch     saved on KVM, restored on the software CPU, saved again, restored on KVM: the count goes on;
#              while each runs, showvminfo reports the engine and the HM features in effect (the VM
#              is configured with the old option spellings --nestedpaging, --vtxvpid, --largepages)
# KVM cases print SKIPPED (and count as neither) where /dev/kvm is not usable.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vbm="$root/bin/VBoxManage"
vbh="$root/bin/VBoxHeadless"
work=$(mktemp -d /tmp/sbx-hm-e2e.XXXXXX)
export VBOX_USER_HOME="$work/home"
pass=0; fail=0
cleanup() { jobs -p | xargs -r kill 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$work/vms" >/dev/null
for p in Devices.Tests/Guests/hello Vmm.Tests/Hm/Payloads/mbcount; do
  nasm -f bin -w-zeroing "$root/tests/$p.asm" -o "$work/$(basename $p).bin" || { echo "nasm failed on $p.asm"; echo "0 passed, 1 failed"; exit 1; }
done
vm() { local name=$1; shift; "$vbm" createvm --name "$name" --register >/dev/null && "$vbm" modifyvm "$name" "$@" >/dev/null; }
ctl() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1])
f = s.makefile("rw"); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}
wait_for() {
  local t=0
  while [ "$t" -lt "$3" ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || { grep -q "$2" "$1" 2>/dev/null; return; }
    sleep 0.5; t=$((t + 1))
  done
  return 1
}
engine_of() { grep -o "EM: execution engine: [A-Z]*" "$work/vms/$1/Logs/VBox.log" | tail -1 | awk '{print $4}'; }
last_count() { grep -a '^COUNT' "$1" | tr -d '\r' | tail -1 | awk '{print $2}'; }

# Does this host's KVM work at all (the same probe the engine choice uses)?
kvm_usable=no
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then kvm_usable=maybe; fi

echo "--- off: --hwvirtex off"
vm off --memory 64 --hwvirtex off --boot-kernel "$work/hello.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/off.log"
timeout 120 "$vbh" --startvm off > "$work/off.out" 2>&1; rc=$?
log="$work/vms/off/Logs/VBox.log"
if [ $rc -eq 0 ] && grep -q "HELLO FROM THE GUEST" "$work/off.log" && [ "$(engine_of off)" = IEM ] && grep -q "disabled in the settings (--hwvirtex off)" "$log"; then
  ok "off (software CPU, reason logged)"; else bad off "exit $rc, engine $(engine_of off)"; fi

echo "--- fallback: --hwvirtex on, KVM device missing"
vm fallback --memory 64 --hwvirtex on --boot-kernel "$work/hello.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/fb.log"
"$vbm" setextradata fallback SharpBox/KvmDevice "$work/no-such-kvm"
timeout 120 "$vbh" --startvm fallback > "$work/fb.out" 2>&1; rc=$?
log="$work/vms/fallback/Logs/VBox.log"
if [ $rc -eq 0 ] && grep -q "HELLO FROM THE GUEST" "$work/fb.log" && [ "$(engine_of fallback)" = IEM ] && grep -q "KVM is not usable here (KVM: $work/no-such-kvm does not exist" "$log"; then
  ok "fallback (software CPU, 'KVM is not usable here' logged)"; else bad fallback "exit $rc, engine $(engine_of fallback): $(grep 'execution engine' "$log")"; fi

echo "--- default: --hwvirtex on"
vm dflt --memory 64 --hwvirtex on --boot-kernel "$work/hello.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/dflt.log"
timeout 120 "$vbh" --startvm dflt > "$work/dflt.out" 2>&1; rc=$?
log="$work/vms/dflt/Logs/VBox.log"
line=$(grep "EM: execution engine" "$log")
if [ $rc -eq 0 ] && grep -q "HELLO FROM THE GUEST" "$work/dflt.log" && grep -q "^.*HM: requested: hwvirtex on" "$log" \
   && { [ "$(engine_of dflt)" = HM ] || echo "$line" | grep -q "falling back to the software CPU"; }; then
  ok "default ($(echo "$line" | sed 's/.*execution engine: //' | cut -c1-110))"
  echo "$line" | grep -q "EM: execution engine: HM" || grep -q "KVM usable" "$log" || kvm_usable=no
else bad default "exit $rc: $line"; fi
grep -q "HM: KVM usable" "$log" && kvm_usable=yes

if [ "$kvm_usable" != yes ]; then
  echo "SKIPPED kvm, switch: no usable KVM here ($(grep -o 'HM: KVM not usable.*' "$log" | head -1))"
else
  echo "--- kvm: the payload on the KVM engine"
  vm kvm --memory 64 --hwvirtex on --boot-kernel "$work/hello.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/kvm.log"
  "$vbm" setextradata kvm SharpBox/HwVirtForce 1
  timeout 120 "$vbh" --startvm kvm > "$work/kvm.out" 2>&1; rc=$?
  if [ $rc -eq 0 ] && grep -q "HELLO FROM THE GUEST" "$work/kvm.log" && [ "$(engine_of kvm)" = HM ]; then
    ok "kvm (UART output and ACPI power-off through the KVM engine)"; else bad kvm "exit $rc, engine $(engine_of kvm): $(tail -2 "$work/kvm.out")"; fi

  echo "--- switch: KVM -> saved state -> software CPU -> saved state -> KVM"
  vm sw --memory 64 --hwvirtex on --nestedpaging on --vtxvpid on --largepages on --boot-kernel "$work/mbcount.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/sw.log"
  # What the host allows: nested paging/VPID as its KVM module reports them, large pages if THP is not "never".
  mod() { for m in kvm_intel kvm_amd; do f=/sys/module/$m/parameters/$1; [ -r "$f" ] && { case $(cat "$f") in Y|1) echo on;; *) echo off;; esac; return; }; done; echo unknown; }
  exp_np=$(mod ept); [ "$exp_np" = unknown ] && exp_np=$(mod npt)
  exp_vpid=$(mod vpid)
  grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null && exp_lp=off || exp_lp=on
  in_effect() { # expected-engine: showvminfo of the running VM
    local info; info=$("$vbm" showvminfo sw --machinereadable)
    if [ "$1" = HM ]; then
      echo "$info" | grep -qx 'vmexecutionengine="NativeApi"' && echo "$info" | grep -qx "nestedpaging-active=\"$exp_np\"" \
        && echo "$info" | grep -qx "vtxvpid-active=\"$exp_vpid\"" && echo "$info" | grep -qx "largepages-active=\"$exp_lp\"" \
        && echo "$info" | grep -qx 'nestedpaging="on"' && echo "$info" | grep -qx 'largepages="on"' \
        && "$vbm" showvminfo sw | grep -q "^Execution Engine: *KVM (native API)"
    else
      echo "$info" | grep -qx 'vmexecutionengine="Emulated"' && echo "$info" | grep -qx 'nestedpaging-active="off"' && echo "$info" | grep -qx 'largepages-active="off"'
    fi
  }
  "$vbm" setextradata sw SharpBox/HwVirtForce 1
  # Each run writes its own COM1 file (a file back end starts empty): sw.1.log, sw.2.log, sw.3.log.
  step() { # run engine-setting expected-engine wait-for-count
    "$vbm" modifyvm sw --hwvirtex "$2" --uart-mode1 file "$work/sw.$1.log" >/dev/null
    "$vbh" --startvm sw --control-socket "$work/sw.ctl" > "$work/sw.$1.out" 2>&1 &
    local pid=$! target=$4
    if ! wait_for "$work/sw.$1.log" "^COUNT $target" 240 $pid; then kill $pid 2>/dev/null; wait $pid; err="no COUNT $target on $3: $(tail -c 120 "$work/sw.$1.log" | tr '\n' ' ')"; return 1; fi
    [ "$(engine_of sw)" = "$3" ] || { kill $pid; wait $pid; err="run $1 was on $(engine_of sw), expected $3"; return 1; }
    in_effect "$3" || { kill $pid; wait $pid; err="showvminfo of run $1 on $3: $("$vbm" showvminfo sw --machinereadable | grep -E 'engine|active' | tr '\n' ' ')"; return 1; }
    ctl "$work/sw.ctl" savestate >/dev/null; wait $pid || { err="save on $3 failed: $(tail -2 "$work/sw.$1.out")"; return 1; }
    ls "$work"/vms/sw/Snapshots/*.sav >/dev/null 2>&1 || { err="no saved state after run $1 on $3"; return 1; }
  }
  err=""
  if step 1 on HM 3 && c1=$(last_count "$work/sw.1.log") && step 2 off IEM $((c1 + 3)); then
    c2=$(last_count "$work/sw.2.log")
    "$vbm" modifyvm sw --hwvirtex on --uart-mode1 file "$work/sw.3.log" >/dev/null
    timeout 300 "$vbh" --startvm sw > "$work/sw.3.out" 2>&1; rc=$?
    first2=$(grep -a '^COUNT' "$work/sw.2.log" | tr -d '\r' | head -1 | awk '{print $2}')
    first3=$(grep -a '^COUNT' "$work/sw.3.log" | tr -d '\r' | head -1 | awk '{print $2}')
    seq_ok=$(cat "$work"/sw.[123].log | grep -a '^COUNT' | tr -d '\r' | awk 'BEGIN{p=0; ok=1} {if ($2 != p + 1) ok=0; p=$2} END{print (ok && p == 100) ? 1 : 0}')
    if [ $rc -eq 0 ] && [ "$(engine_of sw)" = HM ] && [ "$first2" = "$((c1 + 1))" ] && [ "$first3" = "$((c2 + 1))" ] && [ "$seq_ok" = 1 ]; then
      ok "switch (saved at COUNT $c1 on KVM, at $c2 on IEM, finished on KVM: COUNT 1..100 without a gap or repeat)"
      ok "showvminfo in effect (KVM: nested paging $exp_np, VPID $exp_vpid, large pages $exp_lp; IEM: Emulated, all off)"
    else bad switch "last run exit $rc on $(engine_of sw); COUNT $c1 then $first2 (IEM), $c2 then $first3 (KVM), sequence ok: $seq_ok"; fi
  else bad switch "$err"; fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
