#!/usr/bin/env bash
# The debugger end to end (issue 5): VBoxManage modifyvm --gdb-port, then VBoxHeadless runs a PVH guest of ours (an ELF with
# symbols) on the software CPU; Debian's gdb attaches to it while it runs, breaks at a symbol, steps,
# reads registers (general, segment, control) and memory, disassembles (monitor disasm), detaches, and
# the guest runs on. Then VBoxManage debugvm through VBoxSVC: info items, get/setregisters, osdetect,
# statistics, injectnmi (the guest counts it), dumpvmcore (gdb opens the core) and the errors
# (bad item, bad register value, no such vCPU, missing --filename, existing file, VM not running).
# Prints "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vbm="$root/bin/VBoxManage"
vbh="$root/bin/VBoxHeadless"
work=$(mktemp -d /tmp/sbx-dbgf-e2e.XXXXXX)
export VBOX_USER_HOME="$work/home"
pass=0; fail=0
cleanup() { jobs -p | xargs -r kill 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
src="$root/tests/Vmm.Tests/Dbgf/Payloads"
# ELF64 (its code is 32-bit): gdb then takes the target's amd64 description and the symbols together.
nasm -f elf64 "$src/pvhtick.asm" -o "$work/t.o" && ld -m elf_x86_64 -T "$src/pvhtick.ld" -o "$work/pvhtick.elf" "$work/t.o" 2>/dev/null \
  || { echo "could not build the guest"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$work/vms" >/dev/null
wait_for() { local t=0; while [ "$t" -lt "$3" ]; do grep -q "$2" "$1" 2>/dev/null && return 0; kill -0 "$4" 2>/dev/null || return 1; sleep 0.5; t=$((t + 1)); done; return 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$vbm" createvm --name dbg --register >/dev/null
"$vbm" modifyvm dbg --memory 64 --hwvirtex off --paravirt-provider minimal --gdb-port "$port" --boot-kernel "$work/pvhtick.elf" --uart1 0x3f8 4 --uart-mode1 file "$work/tick.log" >/dev/null
"$vbh" --startvm dbg > "$work/vbh.out" 2>&1 &
pid=$!
if ! wait_for "$work/tick.log" "^TICK 3" 120 $pid; then
  bad start "the guest did not tick: $(tail -3 "$work/vbh.out")"; echo "$pass passed, $fail failed"; exit 1
fi

echo "--- gdb: attach to the running guest, break at tick, step, read, detach"
tick=$(printf '%x' "0x$(nm "$work/pvhtick.elf" | awk '$3 == "tick" {print $1}')")
gdb -nx -batch -ex "set pagination off" -ex "file $work/pvhtick.elf" -ex "target remote 127.0.0.1:$port" \
  -ex "break tick" -ex "continue" -ex 'printf "PC %lx\n", $pc' -ex 'printf "CS %x CR0 %lx EFER %lx\n", $cs, $cr0, $efer' \
  -ex 'printf "TICKS %d\n", *(int*)&ticks' -ex "stepi" -ex 'printf "STEP %lx\n", $pc' -ex "x/2i \$pc" -ex "info threads" \
  -ex "monitor info mmio" -ex "monitor disasm 0 3" -ex "delete" -ex "detach" > "$work/gdb.out" 2>&1
n_before=$(grep -o '^TICKS [0-9]*' "$work/gdb.out" | awk '{print $2}')
if grep -q "Breakpoint 1, 0x0*$tick in tick ()" "$work/gdb.out" && grep -q "^PC $tick\$" "$work/gdb.out" \
   && grep -q "^CS 10 CR0 11 EFER 0" "$work/gdb.out" && grep -q "^STEP " "$work/gdb.out" && grep -q "Thread 1 (vCPU 0)" "$work/gdb.out" \
   && grep -q "MMIO" "$work/gdb.out" && grep -qE "^0010[0-9A-F]{4}  " "$work/gdb.out" && [ -n "$n_before" ]; then
  ok "gdb (stopped at tick after $n_before ticks; CS, CR0, EFER read; stepped; monitor info mmio, monitor disasm)"
else bad gdb "$(tail -c 800 "$work/gdb.out" | tr '\n' '|')"; fi
if wait_for "$work/tick.log" "^TICK $((n_before + 3))$" 60 $pid; then ok "detach: the guest runs on"; else bad detach "no ticks after detaching"; fi

echo "--- VBoxManage debugvm (through VBoxSVC to the VM process)"
dvm() { "$vbm" debugvm dbg "$@" 2>&1; }
dvm info registers > "$work/regs.txt"
grep -q "^cr0=00000011" "$work/regs.txt" && grep -q "^cs=0010" "$work/regs.txt" \
  && ok "info registers ($(grep -m1 'rip=' "$work/regs.txt" | cut -c1-40)...)" || bad "info registers" "$(head -c 400 "$work/regs.txt")"
dvm info cpuid | grep -q "^40000000/00  40000010 786f4256" && ok "info cpuid (the Minimal provider's leaves)" || bad "info cpuid" "no hypervisor leaf"
dvm info mmio > "$work/mmio.txt"
grep -q "RAM" "$work/mmio.txt" && grep -q "MMIO" "$work/mmio.txt" && ok "info mmio ($(grep -c MMIO "$work/mmio.txt") MMIO regions)" || bad "info mmio" "$(cat "$work/mmio.txt")"
dvm info ioports | grep -qi "serial\|uart\|16550" && ok "info ioports" || bad "info ioports" "no UART listed"
dvm info devices | grep -q "serial#0" && ok "info devices" || bad "info devices" "no serial#0"
dvm info timers | grep -q "virtual clock" && ok "info timers" || bad "info timers" "no clock line"
out=$(dvm info nonsense); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "^VBoxManage: error: unknown info item 'nonsense'" && ok "info of an unknown item: exit 1, clear error" || bad "bad item" "rc=$rc $out"
out=$(dvm getregisters cr0 cs_base)
echo "$out" | grep -q "^cr0 = 0x0000000000000011$" && echo "$out" | grep -q "^cs_base = 0x0000000000000000$" \
  && ok "getregisters (cr0, cs_base)" || bad getregisters "$out"
n=$(dvm getregisters all | grep -c " = 0x")
[ "$n" -ge 60 ] && ok "getregisters all ($n registers)" || bad "getregisters all" "$n lines"
# edi is not used by the guest: set it, read it back.
out=$(dvm setregisters edi=0x1234abcd); v=$(dvm getregisters edi)
[ "$out" = "Successfully set edi" ] && [ "$v" = "edi = 0x1234abcd" ] && ok "setregisters edi (read back)" || bad setregisters "$out / $v"
out=$(dvm setregisters ax=0x10000); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "does not fit the 16-bit register ax" && ok "setregisters: a value too wide is refused" || bad "setregisters wide" "rc=$rc $out"
out=$(dvm getregisters --cpu 3 rip); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "no vCPU '3'" && ok "getregisters --cpu 3: no such vCPU" || bad "cpu 3" "rc=$rc $out"
out=$(dvm osdetect); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "No guest OS was detected" && ok "osdetect (our payload is no known OS: exit 1)" || bad osdetect "rc=$rc $out"
dvm statistics --pattern '/EM/CPU0/*|/TM/VirtualClock' > "$work/stats.xml"
python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); c = {e.get("name"): int(e.get("c")) for e in r}; assert set(c) == {"/EM/CPU0/Instructions", "/EM/CPU0/Runs", "/EM/CPU0/Halts", "/TM/VirtualClock"}, c; assert c["/EM/CPU0/Instructions"] > 0' "$work/stats.xml" \
  && ok "statistics (XML, pattern)" || bad statistics "$(head -c 400 "$work/stats.xml")"
nmis_before=$(grep -c '^NMI$' "$work/tick.log")
dvm injectnmi >/dev/null && wait_for "$work/tick.log" '^NMI$' 20 $pid && [ "$(grep -c '^NMI$' "$work/tick.log")" -eq $((nmis_before + 1)) ] \
  && ok "injectnmi (the guest's NMI handler ran)" || bad injectnmi "no NMI line in the guest's output"
out=$(dvm dumpvmcore); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "The --filename option is required" && ok "dumpvmcore without --filename: syntax error" || bad "dumpvmcore syntax" "rc=$rc $out"
(cd "$work" && "$vbm" debugvm dbg dumpvmcore --filename=vm.core) > "$work/dump.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ -s "$work/vm.core" ]; then
  gdb -nx -batch -ex "file $work/pvhtick.elf" -ex "core-file $work/vm.core" -ex 'printf "CORE-PC %lx\n", $pc' \
    -ex 'printf "CORE-TICKS %d\n", *(int*)&ticks' -ex "x/4xb start" > "$work/core.out" 2>&1
  if grep -q "^CORE-PC 10" "$work/core.out" && grep -q "^CORE-TICKS [1-9]" "$work/core.out" && grep -q "<start>:" "$work/core.out"; then
    ok "dumpvmcore (relative name, $(stat -c %s "$work/vm.core") bytes; gdb reads registers and memory from it)"
  else bad dumpvmcore "$(tail -c 500 "$work/core.out" | tr '\n' '|')"; fi
else bad dumpvmcore "rc=$rc $(cat "$work/dump.out")"; fi
out=$(dvm dumpvmcore --filename "$work/vm.core"); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "already exists" && ok "dumpvmcore never replaces a file" || bad "dumpvmcore exists" "rc=$rc $out"
"$vbm" createvm --name idle --register >/dev/null
out=$("$vbm" debugvm idle info cpuid 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "VBoxManage: error: Machine 'idle' is not currently running." ] && ok "debugvm on a VM that is not running: VirtualBox's error" || bad "not running" "rc=$rc $out"
"$vbm" controlvm dbg poweroff >/dev/null 2>&1
wait $pid; rc=$?
[ $rc -eq 0 ] && ok "power-off with the debugger attached earlier" || bad poweroff "exit $rc"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
