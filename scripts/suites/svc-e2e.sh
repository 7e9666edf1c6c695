#!/usr/bin/env bash
# Issue 6's proof: one Debian-kernel guest (PVH vmlinux, busybox init with sbx.test=diskcounter: a
# counter kept in sector 0 of an IDE disk, printed on the serial port every second as "COUNT i DISK j")
# through its whole life, all through bin/VBoxManage and VBoxSVC, booted ONCE:
#   start, pause (the counter stops), resume, racing clients, kill -9 of VBoxSVC (the VM goes on, the
#   next VBoxSVC shows it running), savestate (the process exits, the .sav exists), start again (the
#   counter goes on from where it was), online snapshots s1 and s2, poweroff, restore s1 and start (the
#   guest goes on from s1 with s1's disk), acpipowerbutton (the guest powers itself off), restore s2 and
#   start, kill -9 of the VM process (Aborted), delete s2 and s1 (merges).
# At every step the state is checked from a second client (scripts/suites/svc-watch.py, subscribed to
# VBoxSVC's events over the socket) and from other VBoxManage processes (showvminfo, list runningvms);
# the disk's contents are read from the host (clonemedium to raw) after each disk-changing step, and
# the guest itself checks on every line that the disk is in step with its memory (j = i - 1); every
# image passes qemu-img check (after the kill and at the end). Prints "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vbm="$root/bin/VBoxManage"
work=$(mktemp -d /tmp/sbx-svc-e2e.XXXXXX)
export VBOX_USER_HOME="$work/home"
export SHARPBOX_SVC_SHUTDOWN_DELAY_MS=2000
serial="$work/serial.log"
watch="$work/watch.log"
vmdir="$work/vms/proof"
pass=0; fail=0; watcher=""
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
check() { local name=$1 why=$2; shift 2; if "$@"; then ok "$name"; else bad "$name" "$why"; fi; }

svc_pid() { sed -n 's/.*VBoxSVC starting: pid \([0-9]*\).*/\1/p' "$VBOX_USER_HOME/VBoxSVC.log" 2>/dev/null | tail -1; }
vm_pid() { sed -n "s/.*VM process pid \([0-9]*\) runs machine {$uuid}.*/\1/p" "$VBOX_USER_HOME/VBoxSVC.log" 2>/dev/null | tail -1; }
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  local p; p=$(vm_pid); [ -n "$p" ] && kill -9 "$p" 2>/dev/null
  p=$(svc_pid); [ -n "$p" ] && kill "$p" 2>/dev/null
  wait 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap "exit 1" INT TERM
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }

vmstate() { "$vbm" showvminfo proof --machinereadable 2>/dev/null | sed -n 's/^VMState="\(.*\)"$/\1/p'; }
listed() { "$vbm" list runningvms | grep -q "^\"proof\" {$uuid}\$"; }
not_listed() { ! listed; }
gone() { local t=0; while kill -0 "$1" 2>/dev/null; do [ $t -ge 100 ] && return 1; sleep 0.1; t=$((t + 1)); done; }
# COUNT lines of the serial log (from line $1 + 1 on). Each VM process starts the log afresh (the
# UART's file back end replaces the file, as VirtualBox's does), so a restored run's lines start at 0.
# A line the guest is still writing is left out.
counts() {
  local s; s=$(cat "$serial" 2>/dev/null; echo x); s=${s%x}
  [ "${s: -1}" = $'\n' ] || s=${s%$'\n'*}
  printf '%s' "$s" | tail -n +$(( ${1:-0} + 1 )) | tr -d '\r' | grep -a '^COUNT [0-9]* DISK '
}
last_count() { counts | tail -1 | awk '{print $2}'; }
wait_lines() { # N SECONDS: until there are N COUNT lines
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do [ "$(counts | wc -l)" -ge "$1" ] && return 0; sleep 0.2; done
  return 1
}
wait_count() { # N SECONDS: until the counter reaches N
  local end=$((SECONDS + $2)) c
  while [ $SECONDS -lt $end ]; do c=$(last_count); [ -n "$c" ] && [ "$c" -ge "$1" ] && return 0; sleep 0.2; done
  return 1
}
# The guest's own check: on every line from line $1 on, the disk held the previous count.
in_step() { counts "$1" | awk '$4 != $2 - 1 { bad = 1; print "  out of step: " $0 > "/dev/stderr" } END { exit bad }'; }
wmark() { wc -l < "$watch"; }
# expect STATE MARK: the second client hears the state change (after watcher line MARK) within 10 s
expect() {
  local t=0
  while [ $t -lt 100 ]; do tail -n +$(($2 + 1)) "$watch" | grep -qx "STATE $1" && return 0; sleep 0.1; t=$((t + 1)); done
  return 1
}
# disk_count IMAGE: the count in sector 0 of the image as the guest sees it (its chain flattened by clonemedium)
disk_count() {
  rm -f "$work/flat.raw"
  "$vbm" clonemedium "$1" "$work/flat.raw" --format RAW >/dev/null 2>"$work/clone.err" || { echo "clone-failed: $(cat "$work/clone.err")"; return; }
  head -c 512 "$work/flat.raw" 2>/dev/null | tr -d '\0' | sed -n 's/^COUNT \([0-9]*\)$/\1/p'
  "$vbm" closemedium "$work/flat.raw" --delete >/dev/null 2>&1
}
current_image() { "$vbm" showvminfo proof --machinereadable | sed -n 's/^"IDE-0-0"="\(.*\)"$/\1/p'; }
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
same() { [ -n "$1" ] && [ "$1" = "$2" ]; }
# qemu_check IMAGE: qemu-img check; a differencing VDI (which QEMU does not open: "non-NULL link UUID")
# is checked as a copy whose header says "dynamic, no parent" — its block map and data layout are
# exactly those of a dynamic image.
qemu_check() {
  local img=$1 type
  type=$(od -An -tu4 -j 76 -N 4 "$img" | tr -d ' ')
  if [ "$type" = 4 ]; then
    cp "$img" "$work/qc.vdi"
    printf '\001\000\000\000' | dd of="$work/qc.vdi" bs=1 seek=76 conv=notrunc 2>/dev/null
    dd if=/dev/zero of="$work/qc.vdi" bs=1 seek=424 count=32 conv=notrunc 2>/dev/null
    img="$work/qc.vdi"
  fi
  qemu-img check -f vdi "$img" > "$work/qc.out" 2>&1 || { echo "  qemu-img check $1: $(cat "$work/qc.out")" >&2; return 1; }
}
all_images_pass() { local f r=0; for f in "$vmdir/proof.vdi" "$vmdir"/Snapshots/*.vdi; do [ -e "$f" ] || continue; qemu_check "$f" || r=1; done; return $r; }

guest=$("$root/scripts/fetch-guest.sh") || { echo "svc-e2e: could not fetch the test guest"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$VBOX_USER_HOME"
"$vbm" setproperty machinefolder "$work/vms" >/dev/null
uuid=$("$vbm" createvm --name proof --register | sed -n 's/^UUID: //p')
"$vbm" modifyvm proof --memory 128 --hwvirtex off --boot-kernel "$guest/vmlinux" --boot-initrd "$guest/initramfs-ata.cpio.gz" \
  --boot-cmdline "console=ttyS0 quiet panic=-1 sbx.test=diskcounter" --uart1 0x3f8 4 --uart-mode1 file "$serial" >/dev/null &&
"$vbm" createmedium disk --filename "$vmdir/proof.vdi" --size 8 --format VDI >/dev/null 2>&1 &&
"$vbm" storagectl proof --name IDE --add ide --controller PIIX4 >/dev/null &&
"$vbm" storageattach proof --storagectl IDE --port 0 --device 0 --type hdd --medium "$vmdir/proof.vdi" >/dev/null ||
  { echo "svc-e2e: could not set up the machine"; echo "0 passed, 1 failed"; exit 1; }
: > "$watch"
python3 "$root/scripts/suites/svc-watch.py" "$VBOX_USER_HOME/VBoxSVC.socket" "$watch" "$uuid" &
watcher=$!

echo "--- start: startvm --type headless (the one boot of this suite)"
m=$(wmark); t0=$SECONDS
out=$("$vbm" startvm proof --type headless 2>&1); rc=$?
check "startvm returns when the VM runs" "exit $rc: $out" grep -q 'VM "proof" has been successfully started.' <<< "$out"
check "second client: Running event" "$(tail -3 "$watch" | tr '\n' ' ')" expect Running "$m"
check "showvminfo: running" "VMState=$(vmstate)" test "$(vmstate)" = running
check "list runningvms shows it" "$("$vbm" list runningvms)" listed
vp=$(vm_pid)
if wait_count 3 900; then ok "guest counts (COUNT 3 $((SECONDS - t0)) s after startvm)"
else bad "boot" "no COUNT 3: $(tail -c 400 "$serial" | tr '\n' ' ')"; finish; fi
check "the guest counts from a fresh disk" "$(grep -a DISK-START "$serial")" grep -qa '^DISK-START 0' "$serial"
check "every count reaches the disk (COUNT i DISK i-1)" "" in_step 0

echo "--- pause / resume"
m=$(wmark)
"$vbm" controlvm proof pause; rc=$?
check "controlvm pause" "exit $rc" test $rc -eq 0
check "second client: Paused event" "$(tail -3 "$watch" | tr '\n' ' ')" expect Paused "$m"
check "showvminfo: paused" "VMState=$(vmstate)" test "$(vmstate)" = paused
check "list runningvms lists the paused VM" "" listed
c1=$(last_count); sleep 2.5; c2=$(last_count)
check "the counter stops while paused (COUNT $c1 for 2.5 s)" "COUNT $c1 then $c2" test "$c1" = "$c2"
m=$(wmark)
"$vbm" controlvm proof resume; rc=$?
check "controlvm resume" "exit $rc" test $rc -eq 0
check "second client: Running event" "" expect Running "$m"
check "showvminfo: running" "VMState=$(vmstate)" test "$(vmstate)" = running
check "the counter goes on after resume" "stuck at $(last_count)" wait_count $((c2 + 2)) 20

echo "--- racing clients on the running machine"
# The VM's session holds the machine: both settings writers lose, with VirtualBox's error.
"$vbm" modifyvm proof --memory 256 > "$work/r1" 2>&1 & r1=$!
"$vbm" modifyvm proof --cpus 2 > "$work/r2" 2>&1 & r2=$!
wait $r1; e1=$?; wait $r2; e2=$?
check "settings writers are refused while the VM runs" "exit $e1/$e2: $(cat "$work/r1" "$work/r2")" \
  bash -c "[ $e1 -eq 1 ] && [ $e2 -eq 1 ] && grep -q 'is already locked for a session' '$work/r1' && grep -q 'is already locked for a session' '$work/r2'"
# Extra data is written through the session at once (as VirtualBox does): two racing writers lose nothing.
racers=""
for w in a b; do ( for i in 1 2 3 4 5 6; do "$vbm" setextradata proof "race/$w$i" "$w$i" || exit 1; done ) & racers="$racers $!"; done
wait $racers
n=$("$vbm" getextradata proof enumerate | grep -c "^Key: race/")
check "racing setextradata clients lose no update" "$n of 12 keys" test "$n" = 12
check "settings untouched by the refused writers" "" bash -c "'$vbm' showvminfo proof --machinereadable | grep -qx 'memory=128'"

echo "--- kill -9 VBoxSVC while the VM runs"
sp=$(svc_pid)
kill -9 "$sp"
check "VBoxSVC $sp is gone" "" gone "$sp"
c=$(last_count)
check "the VM goes on without VBoxSVC" "stuck at $c" wait_count $((c + 2)) 20
check "the VM process $vp survives" "" kill -0 "$vp"
t=0; while [ "$(vmstate)" != running ] && [ $t -lt 40 ]; do sleep 0.5; t=$((t + 1)); done
check "a new VBoxSVC shows it running" "VMState=$(vmstate)" test "$(vmstate)" = running
sp2=$(svc_pid)
check "it is a new VBoxSVC" "pid $sp2" bash -c "[ -n '$sp2' ] && [ '$sp2' != '$sp' ]"
check "the VM process registered with it" "$(grep 'runs machine' "$VBOX_USER_HOME/VBoxSVC.log")" test "$(vm_pid)" = "$vp"
check "list runningvms (new VBoxSVC)" "" listed
t=0; while ! grep -q "^CONNECTED $sp2\$" "$watch" && [ $t -lt 50 ]; do sleep 0.2; t=$((t + 1)); done
check "the second client reconnected to the new VBoxSVC" "$(tail -3 "$watch" | tr '\n' ' ')" grep -q "^CONNECTED $sp2\$" "$watch"

echo "--- savestate"
m=$(wmark)
out=$("$vbm" controlvm proof savestate 2>&1); rc=$?
check "controlvm savestate" "exit $rc: $out" test $rc -eq 0
check "second client: Saved event" "" expect Saved "$m"
check "showvminfo: saved" "VMState=$(vmstate)" test "$(vmstate)" = saved
check "the VM process exits" "" gone "$vp"
check "list runningvms no longer lists it" "" not_listed
saved=$(last_count)
sav=$("$vbm" showvminfo proof --machinereadable | sed -n 's/^VMStateFile="\(.*\)"$/\1/p')
check "the .sav is in the Snapshots folder" "VMStateFile='$sav'" bash -c "[ -s '$sav' ] && [ '$(dirname "$sav")' = '$vmdir/Snapshots' ]"
check ".vbox stateFile= names it" "" grep -q "stateFile=\"Snapshots/$(basename "$sav")\"" "$vmdir/proof.vbox"
d=$(disk_count "$(current_image)")
check "disk after savestate holds the last count ($d)" "disk '$d', serial COUNT $saved" between "$d" "$saved" $((saved + 1))
sleep 1.5
check "the counter stands still while saved" "" test "$(last_count)" = "$saved"

echo "--- start again: restore from the saved state"
off=0; m=$(wmark)
out=$("$vbm" startvm proof --type headless 2>&1); rc=$?
check "startvm of the saved machine" "exit $rc: $out" test $rc -eq 0
check "second client: Running event" "" expect Running "$m"
check "showvminfo: running" "VMState=$(vmstate)" test "$(vmstate)" = running
vp=$(vm_pid)
wait_lines 3 60
first=$(counts "$off" | head -1 | awk '{print $2}')
check "the counter goes on from where it was (saved at $saved, went on with $first)" "first COUNT after restore '$first', saved at $saved" test "$first" = $((saved + 1))
check "no new boot" "" bash -c "! tail -n +$((off + 1)) '$serial' | grep -qa 'INIT-READY\|DISK-START'"
check "the disk is in step with the restored memory" "" in_step "$off"
check "the state file is consumed" "" bash -c "[ ! -e '$sav' ] && ! '$vbm' showvminfo proof --machinereadable | grep -q VMStateFile"

echo "--- online snapshots s1, s2"
base="$vmdir/proof.vdi"
b1=$(last_count)
out=$("$vbm" snapshot proof take s1 --description "first, while running" 2>&1); rc=$?
a1=$(last_count)
check "snapshot take s1 (running VM)" "exit $rc: $out" grep -q "Snapshot taken. UUID:" <<< "$out"
check "the VM runs on after take" "VMState=$(vmstate)" test "$(vmstate)" = running
check ".vbox: s1 with its saved state" "" bash -c "grep -q '<Snapshot uuid=\"{[0-9a-f-]*}\" name=\"s1\" timeStamp=\"[^\"]*\" stateFile=\"Snapshots/' '$vmdir/proof.vbox'"
img1=$(current_image)
check "the VM writes to a differencing image" "$img1" bash -c "[[ '$img1' == '$vmdir/Snapshots/{'*'}.vdi' ]]"
k1=$(disk_count "$base")
check "s1's disk holds the count at take ($k1)" "disk '$k1', counter $b1..$a1" between "$k1" "$b1" $((a1 + 1))
wait_count $((a1 + 3)) 20
b2=$(last_count)
out=$("$vbm" snapshot proof take s2 --live 2>&1); rc=$?
a2=$(last_count)
check "snapshot take s2 --live" "exit $rc: $out" test $rc -eq 0
k2=$(disk_count "$img1")
check "s2's disk holds the count at take ($k2)" "disk '$k2', counter $b2..$a2" between "$k2" "$b2" $((a2 + 1))
k1again=$(disk_count "$base")
check "s1's disk is unchanged by later writes" "now '$k1again', was '$k1'" same "$k1again" "$k1"
wait_count $((a2 + 2)) 20

echo "--- poweroff"
m=$(wmark)
out=$("$vbm" controlvm proof poweroff 2>&1); rc=$?
check "controlvm poweroff" "exit $rc: $out" test $rc -eq 0
check "second client: PoweredOff event" "" expect PoweredOff "$m"
check "showvminfo: poweroff" "VMState=$(vmstate)" test "$(vmstate)" = poweroff
check "the VM process exits" "" gone "$vp"
check "list runningvms no longer lists it" "" not_listed
p=$(last_count)
d=$(disk_count "$(current_image)")
check "disk after poweroff holds the last count ($d)" "disk '$d', serial COUNT $p" between "$d" "$p" $((p + 1))

echo "--- restore s1 and start: the guest goes on from s1 with s1's disk"
m=$(wmark)
out=$("$vbm" snapshot proof restore s1 2>&1); rc=$?
check "snapshot restore s1" "exit $rc: $out" test $rc -eq 0
check "showvminfo: saved (s1 was taken online)" "VMState=$(vmstate)" test "$(vmstate)" = saved
check "second client: Saved event" "" expect Saved "$m"
d=$(disk_count "$(current_image)")
check "the current disk is s1's again ($d)" "disk '$d', s1 had '$k1'" same "$d" "$k1"
off=0; m=$(wmark)
"$vbm" startvm proof --type headless >/dev/null 2>&1; rc=$?
check "startvm from s1" "exit $rc" test $rc -eq 0
check "second client: Running event" "" expect Running "$m"
vp=$(vm_pid)
wait_lines 3 60
first=$(counts "$off" | head -1 | awk '{print $2}')
check "the counter goes on from s1 (taken at COUNT $b1..$a1, went on with $first)" "first COUNT '$first', s1 taken at $b1..$a1" between "$first" $((b1 + 1)) $((a1 + 1))
check "the disk is in step with s1's memory" "" in_step "$off"
check "no new boot" "" bash -c "! tail -n +$((off + 1)) '$serial' | grep -qa 'INIT-READY\|DISK-START'"

echo "--- acpipowerbutton: the guest powers itself off"
m=$(wmark)
out=$("$vbm" controlvm proof acpipowerbutton 2>&1); rc=$?
check "controlvm acpipowerbutton" "exit $rc: $out" test $rc -eq 0
t=0; while [ "$(vmstate)" != poweroff ] && [ $t -lt 60 ]; do sleep 0.5; t=$((t + 1)); done
check "showvminfo: poweroff after the guest's own power-off" "VMState=$(vmstate)" test "$(vmstate)" = poweroff
check "second client: PoweredOff event" "" expect PoweredOff "$m"
check "the guest saw the button" "$(tail -c 300 "$serial" | tr '\n' ' ')" grep -qa "^POWER-BUTTON" "$serial"
check "the VM process exits" "" gone "$vp"
p=$(last_count)
d=$(disk_count "$(current_image)")
check "disk after the guest's power-off holds the last count ($d)" "disk '$d', serial COUNT $p" between "$d" "$p" $((p + 1))

echo "--- restore s2 and start"
out=$("$vbm" snapshot proof restore s2 2>&1); rc=$?
check "snapshot restore s2" "exit $rc: $out" test $rc -eq 0
d=$(disk_count "$(current_image)")
check "the current disk is s2's ($d)" "disk '$d', s2 had '$k2'" same "$d" "$k2"
m=$(wmark)
"$vbm" startvm proof --type headless >/dev/null 2>&1; rc=$?
check "startvm from s2" "exit $rc" test $rc -eq 0
check "second client: Running event" "" expect Running "$m"
vp=$(vm_pid)
wait_lines 3 60
first=$(counts | head -1 | awk '{print $2}')
check "the counter goes on from s2 (taken at COUNT $b2..$a2, went on with $first)" "first COUNT '$first'" between "$first" $((b2 + 1)) $((a2 + 1))
check "the disk is in step with s2's memory" "" in_step 0

echo "--- kill -9 of the VM process"
m=$(wmark)
kill -9 "$vp"
check "second client: Aborted event" "$(tail -3 "$watch" | tr '\n' ' ')" expect Aborted "$m"
check "showvminfo: aborted" "VMState=$(vmstate)" test "$(vmstate)" = aborted
check ".vbox says aborted" "" grep -q 'aborted="true"' "$vmdir/proof.vbox"
check "VBoxSVC.log says why" "" grep -q "ended without powering off" "$VBOX_USER_HOME/VBoxSVC.log"
check "list runningvms no longer lists it" "" not_listed
k=$(last_count)
dk=$(disk_count "$(current_image)")
check "disk after the kill holds the last count ($dk)" "disk '$dk', serial COUNT $k" between "$dk" "$k" $((k + 1))
check "every image passes qemu-img check after the kill" "" all_images_pass

echo "--- delete s2, then s1 (merges into the base)"
out=$("$vbm" snapshot proof delete s2 2>&1); rc=$?
check "snapshot delete s2" "exit $rc: $out" test $rc -eq 0
d=$(disk_count "$(current_image)")
check "the current disk is unchanged by deleting s2" "disk '$d', was '$dk'" same "$d" "$dk"
out=$("$vbm" snapshot proof delete s1 2>&1); rc=$?
check "snapshot delete s1" "exit $rc: $out" test $rc -eq 0
cur=$(current_image)
check "the base image is current again" "$cur" test "$cur" = "$base"
d=$(disk_count "$cur")
check "the current disk is unchanged by deleting s1" "disk '$d', was '$dk'" same "$d" "$dk"
check "no snapshots left" "" bash -c "'$vbm' snapshot proof list 2>&1 | grep -q 'does not have any snapshots'"
left=$(ls "$vmdir/Snapshots" 2>/dev/null)
check "nothing left in Snapshots/" "$left" test -z "$left"
check "every image passes qemu-img check at the end" "" all_images_pass

# The second client heard the whole life in order (a subsequence: it also hears transient states).
want="Running Paused Running Saved Running PoweredOff Saved Running PoweredOff Saved Running Aborted"
heard=$(sed -n 's/^STATE //p' "$watch" | tr '\n' ' ')
check "the second client heard every state in order" "heard: $heard" \
  awk -v want="$want" -v heard="$heard" 'BEGIN { n = split(want, w, " "); m = split(heard, h, " "); j = 1; for (i = 1; i <= m && j <= n; i++) if (h[i] == w[j]) j++; exit !(j > n) }'
finish
