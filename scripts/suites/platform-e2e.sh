#!/usr/bin/env bash
# End-to-end tests of the VM process (issue 4), through the real tools: VBoxManage creates and
# configures the machine, VBoxHeadless runs it. Debian's kernel and a busybox initramfs come from
# scripts/fetch-guest.sh (cached in .cache/guest). Prints "N passed, N failed".
#   boot       bzImage + initramfs boots to INIT-READY, VBoxHeadless exits 0 after the guest's power-off
#   smp        --cpus 2: the guest's /proc/cpuinfo shows two CPUs
#   savestate  save mid-run through the control socket, restore in a new process: the counter goes on
#   hostile    random port/MMIO writes and reads on 2 CPUs: no crash, no hang, SIGTERM powers off
#   errors     a missing kernel, an unknown VM or bad settings: one line on stderr and exit 1
#   logs       VBox.log is rotated to VBox.log.1..3
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vbm="$root/bin/VBoxManage"
vbh="$root/bin/VBoxHeadless"
work=$(mktemp -d /tmp/sbx-e2e.XXXXXX)
export VBOX_USER_HOME="$work/home"
pass=0; fail=0
cleanup() { jobs -p | xargs -r kill 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

guest=$("$root/scripts/fetch-guest.sh") || { echo "platform-e2e: could not fetch the test guest"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$work/vms" >/dev/null
for p in hello hostile; do
  nasm -f bin -w-zeroing "$root/tests/Devices.Tests/Guests/$p.asm" -o "$work/$p.bin" || { echo "nasm failed on $p.asm"; echo "0 passed, 1 failed"; exit 1; }
done

# vm NAME ARGS...: create and configure a machine (quietly); 1 on failure
vm() {
  local name=$1; shift
  "$vbm" createvm --name "$name" --register >/dev/null && "$vbm" modifyvm "$name" "$@" >/dev/null
}

# ctl SOCKET COMMAND: one control-socket command, prints the reply
ctl() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1])
f = s.makefile("rw"); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}

# wait_for FILE PATTERN SECONDS PID: until the pattern shows up in the file (0) or the process ends/time runs out (1)
wait_for() {
  local t=0
  while [ "$t" -lt "$3" ]; do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || { grep -q "$2" "$1" 2>/dev/null; return; }
    sleep 1; t=$((t + 1))
  done
  return 1
}

echo "--- boot: bzImage $guest/vmlinuz + initramfs"
vm boot --memory 256 --hwvirtex off --boot-kernel "$guest/vmlinuz" --boot-initrd "$guest/initramfs.cpio.gz" \
  --boot-cmdline "console=ttyS0 quiet panic=-1" --uart1 0x3f8 4 --uart-mode1 file "$work/boot.log"
start=$(date +%s)
timeout 900 "$vbh" --startvm boot > "$work/boot.out" 2>&1; rc=$?
log="$work/vms/boot/Logs/VBox.log"
if [ $rc -eq 0 ] && grep -q "^INIT-READY" "$work/boot.log"; then
  ok "boot ($(( $(date +%s) - start )) s, $(grep -o 'Guest-boot-time = .*' "$log" | head -1))"
else
  bad boot "exit $rc; serial tail: $(tail -c 300 "$work/boot.log" 2>/dev/null | tr '\n' ' ')"
fi
grep -q "EM: execution engine: IEM" "$log" && grep -q "hardware virtualization is disabled" "$log" && ok "log names the engine and why" || bad "log" "VBox.log does not name the engine"

echo "--- smp: --cpus 2 (PVH vmlinux)"
vm smp --memory 256 --cpus 2 --ioapic on --hwvirtex off --boot-kernel "$guest/vmlinux" --boot-initrd "$guest/initramfs.cpio.gz" \
  --boot-cmdline "console=ttyS0 quiet panic=-1 sbx.test=cpus" --uart1 0x3f8 4 --uart-mode1 file "$work/smp.log"
timeout 900 "$vbh" --startvm smp > "$work/smp.out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "^CPUS 2" "$work/smp.log"; then ok "smp"; else bad smp "exit $rc; $(grep -a 'CPUS\|smpboot' "$work/smp.log" | tr '\n' ' ')"; fi

echo "--- savestate: save mid-run, restore in a new process"
vm counter --memory 256 --hwvirtex off --boot-kernel "$guest/vmlinux" --boot-initrd "$guest/initramfs.cpio.gz" \
  --boot-cmdline "console=ttyS0 quiet panic=-1 sbx.test=counter" --uart1 0x3f8 4 --uart-mode1 file "$work/counter.log"
"$vbh" --startvm counter --control-socket "$work/c.ctl" > "$work/counter1.out" 2>&1 &
pid=$!
if wait_for "$work/counter.log" "^COUNT 3" 600 $pid; then
  reply=$(ctl "$work/c.ctl" savestate); wait $pid; rc=$?
  before=$(grep -a '^COUNT' "$work/counter.log" | tr -d '\r' | tail -1 | awk '{print $2}')
  sav=$(ls "$work"/vms/counter/Snapshots/*.sav 2>/dev/null | head -1)
  if [ $rc -ne 0 ] || [ -z "$sav" ]; then
    bad savestate "save: exit $rc, reply '$reply'"
  else
    "$vbh" --startvm counter --control-socket "$work/c.ctl" > "$work/counter2.out" 2>&1 &
    pid=$!
    if wait_for "$work/counter.log" "^COUNT $((before + 2))" 120 $pid; then
      ctl "$work/c.ctl" poweroff >/dev/null; wait $pid; rc=$?
      first=$(grep -a '^COUNT' "$work/counter.log" | tr -d '\r' | head -1 | awk '{print $2}')
      if [ $rc -eq 0 ] && [ "$first" = "$((before + 1))" ] && ! grep -q INIT-READY "$work/counter.log" && [ ! -e "$sav" ]; then
        ok "savestate (COUNT $before saved, restored run went on with COUNT $first)"
      else
        bad savestate "restored run: exit $rc, first COUNT '$first' after $before, state file left: $([ -e "$sav" ] && echo yes || echo no)"
      fi
    else
      kill $pid 2>/dev/null; wait $pid
      bad savestate "the restored guest did not go on: $(tail -c 200 "$work/counter.log" | tr '\n' ' ') $(tail -3 "$work/counter2.out")"
    fi
  fi
else
  kill $pid 2>/dev/null; wait $pid
  bad savestate "the counter never reached 3: $(tail -c 300 "$work/counter.log" | tr '\n' ' ')"
fi

echo "--- hostile: random port and MMIO accesses on 2 CPUs"
vm hostile --memory 64 --cpus 2 --ioapic on --acpi off --hpet on --hwvirtex off --boot-kernel "$work/hostile.bin" \
  --uart1 0x3f8 4 --uart-mode1 file "$work/hostile.log"
"$vbh" --startvm hostile --control-socket "$work/h.ctl" > "$work/hostile.out" 2>&1 &
pid=$!
sleep 8
s1=$(ctl "$work/h.ctl" status 2>&1); sleep 2; s2=$(ctl "$work/h.ctl" status 2>&1)
n1=$(echo "$s1" | sed -n 's/.*instructions=\([0-9]*\).*/\1/p'); n2=$(echo "$s2" | sed -n 's/.*instructions=\([0-9]*\).*/\1/p')
kill -TERM $pid
for t in $(seq 1 20); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
if kill -0 $pid 2>/dev/null; then
  kill -9 $pid; wait $pid; bad hostile "VBoxHeadless did not power off within 10 s of SIGTERM"
else
  wait $pid; rc=$?
  if [ $rc -eq 0 ] && [ -n "$n1" ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ]; then
    ok "hostile ($((n2 - n1)) guest instructions in 2 s of random I/O, clean power-off on SIGTERM)"
  else
    bad hostile "exit $rc, status '$s1' then '$s2': $(tail -2 "$work/hostile.out")"
  fi
fi

echo "--- errors: failures to start"
vm nokernel --memory 64 --hwvirtex off --boot-kernel "$work/does-not-exist"
"$vbh" --startvm nokernel > "$work/e1.out" 2> "$work/e1.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$work/e1.err")" -eq 1 ] && grep -q "does-not-exist" "$work/e1.err"; then ok "missing kernel: $(cat "$work/e1.err")"; else bad "missing kernel" "exit $rc: $(cat "$work/e1.err")"; fi
"$vbh" --startvm no-such-vm > "$work/e2.out" 2> "$work/e2.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$work/e2.err")" -eq 1 ]; then ok "unknown VM: $(cat "$work/e2.err")"; else bad "unknown VM" "exit $rc: $(cat "$work/e2.err")"; fi
vm badsmp --memory 64 --cpus 2 --ioapic off --hwvirtex off --boot-kernel "$work/hello.bin"
"$vbh" --startvm badsmp > "$work/e3.out" 2> "$work/e3.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$work/e3.err")" -eq 1 ] && grep -q "I/O APIC" "$work/e3.err"; then ok "bad settings: $(cat "$work/e3.err")"; else bad "bad settings" "exit $rc: $(cat "$work/e3.err")"; fi
vm badlog --memory 64 --hwvirtex off --boot-kernel "$work/hello.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/no/such/dir/com1.log"
"$vbh" --startvm badlog > "$work/e4.out" 2> "$work/e4.err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l < "$work/e4.err")" -eq 1 ] && grep -q "com1.log" "$work/e4.err"; then ok "bad serial file: $(cat "$work/e4.err")"; else bad "bad serial file" "exit $rc: $(cat "$work/e4.err")"; fi

echo "--- logs: VBox.log rotation"
vm logs --memory 64 --hwvirtex off --boot-kernel "$work/hello.bin" --uart1 0x3f8 4 --uart-mode1 file "$work/hello.log"
for i in 1 2 3 4 5; do "$vbh" --startvm logs >/dev/null 2>&1 || true; done
d="$work/vms/logs/Logs"
if [ -s "$d/VBox.log" ] && [ -s "$d/VBox.log.1" ] && [ -s "$d/VBox.log.2" ] && [ -s "$d/VBox.log.3" ] && [ ! -e "$d/VBox.log.4" ] && grep -q "HELLO FROM THE GUEST" "$work/hello.log"; then
  ok "logs rotated to VBox.log.1..3"
else
  bad logs "$(ls "$d")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
