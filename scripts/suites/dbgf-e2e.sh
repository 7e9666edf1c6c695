#!/usr/bin/env bash
# The debugger end to end (issue 5): VBoxManage modifyvm --gdb-port, then VBoxHeadless runs a PVH guest of ours (an ELF with
# symbols) on the software CPU; Debian's gdb attaches to it while it runs, breaks at a symbol, steps,
# reads registers (general, segment, control) and memory, detaches, and the guest runs on. Then the
# debugvm commands through the control socket: info items, osdetect, disasm, and dumpvmcore, whose
# core file gdb opens. Prints "N passed, N failed".
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
ctl() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(120); s.connect(sys.argv[1])
f = s.makefile("rw"); f.write(sys.argv[2] + "\n"); f.flush()
try: first = f.readline().rstrip("\n")
except OSError: first = ""
print(first)
if first.startswith("ok ") and first[3:].isdigit():
    for _ in range(int(first[3:])): print(f.readline().rstrip("\n"))
PY
}
wait_for() { local t=0; while [ "$t" -lt "$3" ]; do grep -q "$2" "$1" 2>/dev/null && return 0; kill -0 "$4" 2>/dev/null || return 1; sleep 0.5; t=$((t + 1)); done; return 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$vbm" createvm --name dbg --register >/dev/null
"$vbm" modifyvm dbg --memory 64 --hwvirtex off --paravirt-provider minimal --gdb-port "$port" --boot-kernel "$work/pvhtick.elf" --uart1 0x3f8 4 --uart-mode1 file "$work/tick.log" >/dev/null
"$vbh" --startvm dbg --control-socket "$work/c.ctl" > "$work/vbh.out" 2>&1 &
pid=$!
if ! wait_for "$work/tick.log" "^TICK 3" 120 $pid; then
  bad start "the guest did not tick: $(tail -3 "$work/vbh.out")"; echo "$pass passed, $fail failed"; exit 1
fi

echo "--- gdb: attach to the running guest, break at tick, step, read, detach"
tick=$(printf '%x' "0x$(nm "$work/pvhtick.elf" | awk '$3 == "tick" {print $1}')")
gdb -nx -batch -ex "set pagination off" -ex "file $work/pvhtick.elf" -ex "target remote 127.0.0.1:$port" \
  -ex "break tick" -ex "continue" -ex 'printf "PC %lx\n", $pc' -ex 'printf "CS %x CR0 %lx EFER %lx\n", $cs, $cr0, $efer' \
  -ex 'printf "TICKS %d\n", *(int*)&ticks' -ex "stepi" -ex 'printf "STEP %lx\n", $pc' -ex "x/2i \$pc" -ex "info threads" \
  -ex "monitor info mmio" -ex "delete" -ex "detach" > "$work/gdb.out" 2>&1
n_before=$(grep -o '^TICKS [0-9]*' "$work/gdb.out" | awk '{print $2}')
if grep -q "Breakpoint 1, 0x0*$tick in tick ()" "$work/gdb.out" && grep -q "^PC $tick\$" "$work/gdb.out" \
   && grep -q "^CS 10 CR0 11 EFER 0" "$work/gdb.out" && grep -q "^STEP " "$work/gdb.out" && grep -q "Thread 1 (vCPU 0)" "$work/gdb.out" \
   && grep -q "MMIO" "$work/gdb.out" && [ -n "$n_before" ]; then
  ok "gdb (stopped at tick after $n_before ticks; CS, CR0, EFER read; stepped; monitor info mmio)"
else bad gdb "$(tail -c 800 "$work/gdb.out" | tr '\n' '|')"; fi
if wait_for "$work/tick.log" "^TICK $((n_before + 3))$" 60 $pid; then ok "detach: the guest runs on"; else bad detach "no ticks after detaching"; fi

echo "--- debugvm through the control socket"
ctl "$work/c.ctl" "debugvm info registers" > "$work/regs.txt"
grep -q "^cr0=00000011" "$work/regs.txt" && grep -q "^cs=0010" "$work/regs.txt" && grep -q "  " "$work/regs.txt" \
  && ok "info registers ($(grep -m1 'rip=' "$work/regs.txt" | cut -c1-40)...)" || bad "info registers" "$(head -c 400 "$work/regs.txt")"
echo "$(ctl "$work/c.ctl" "debugvm info cpuid")" | grep -q "^40000000/00  40000010 786f4256" && ok "info cpuid (the Minimal provider's leaves)" || bad "info cpuid" "no hypervisor leaf"
ctl "$work/c.ctl" "debugvm info mmio" > "$work/mmio.txt"
grep -q "RAM" "$work/mmio.txt" && grep -q "MMIO" "$work/mmio.txt" && ok "info mmio ($(grep -c MMIO "$work/mmio.txt") MMIO regions)" || bad "info mmio" "$(cat "$work/mmio.txt")"
echo "$(ctl "$work/c.ctl" "debugvm info ioports")" | grep -qi "serial\|uart\|16550" && ok "info ioports" || bad "info ioports" "no UART listed"
echo "$(ctl "$work/c.ctl" "debugvm info devices")" | grep -q "serial#0" && ok "info devices" || bad "info devices" "no serial#0"
echo "$(ctl "$work/c.ctl" "debugvm info timers")" | grep -q "virtual clock" && ok "info timers" || bad "info timers" "no clock line"
echo "$(ctl "$work/c.ctl" "debugvm disasm 0 3")" | grep -qE "^0010[0-9A-F]{4}  " && ok "disasm" || bad disasm "no instructions"
echo "$(ctl "$work/c.ctl" "debugvm osdetect")" | grep -q "^unknown" && ok "osdetect (our payload is no known OS)" || bad osdetect "unexpected answer"
echo "$(ctl "$work/c.ctl" "debugvm info nonsense")" | grep -q "^error: unknown info item 'nonsense'" && ok "bad item: clear error" || bad "bad item" "no error"
reply=$(ctl "$work/c.ctl" "debugvm dumpvmcore $work/vm.core")
if echo "$reply" | grep -q "core written" && [ -s "$work/vm.core" ]; then
  gdb -nx -batch -ex "file $work/pvhtick.elf" -ex "core-file $work/vm.core" -ex 'printf "CORE-PC %lx\n", $pc' \
    -ex 'printf "CORE-TICKS %d\n", *(int*)&ticks' -ex "x/4xb start" > "$work/core.out" 2>&1
  if grep -q "^CORE-PC 10" "$work/core.out" && grep -q "^CORE-TICKS [1-9]" "$work/core.out" && grep -q "<start>:" "$work/core.out"; then
    ok "dumpvmcore ($(stat -c %s "$work/vm.core") bytes; gdb reads registers and memory from it)"
  else bad dumpvmcore "$(tail -c 500 "$work/core.out" | tr '\n' '|')"; fi
else bad dumpvmcore "$reply"; fi
ctl "$work/c.ctl" poweroff >/dev/null 2>&1
wait $pid; rc=$?
[ $rc -eq 0 ] && ok "power-off with the debugger attached earlier" || bad poweroff "exit $rc"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
