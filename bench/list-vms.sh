#!/usr/bin/env bash
# Benchmark: wall time of the whole `VBoxManage list vms` command with N registered machines
# (default 1000), against the 200 ms target of issue 2. VBoxManage asks VBoxSVC (issue 6): "warm"
# runs find the service running (the usual case: it stays a few seconds after each client), "cold"
# runs start it first (SHARPBOX_SVC_SHUTDOWN_DELAY_MS=0, so it leaves after every command).
# VirtualBox itself is not installable on the build machine, so the figure beside ours is the same
# command run by the JIT-compiled build (artifacts/bin) instead of the ReadyToRun publish that
# bin/VBoxManage runs; the ratio shows what ReadyToRun buys.
#
#   bench/list-vms.sh [machines=1000] [runs=15]
#   COMPARE=/path/to/other/VBoxManage bench/list-vms.sh   # also time another build on the same machines
#
# The machines are real settings files: one VM is created and configured with VBoxManage, and its
# .vbox is copied N times with fresh UUIDs and names, each registered in VirtualBox.xml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n=${1:-1000}
runs=${2:-15}
r2r="$root/artifacts/publish/VBoxManage/VBoxManage"
jit="$root/artifacts/bin/VBoxManage/release/VBoxManage"
[ -x "$r2r" ] && [ -x "$jit" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }

work=$(mktemp -d)
trap 'stop_service 2>/dev/null; rm -rf "$work"' EXIT
export VBOX_USER_HOME="$work/config"
vms="$work/vms"
"$r2r" setproperty machinefolder "$vms"
"$r2r" createvm --name template --ostype Debian_64 --register >/dev/null
"$r2r" modifyvm template --memory 512 --cpus 1 --uart1 0x3f8 4 --uart-mode1 disconnected --description "bench machine"
"$r2r" storagectl template --name SATA --add sata --portcount 1
"$r2r" storagectl template --name IDE --add ide
"$r2r" storageattach template --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive
"$r2r" setextradata template GUI/LastCloseAction PowerOff
template="$vms/template/template.vbox"
tuuid=$(sed -n 's/.*<Machine uuid="{\([0-9a-f-]*\)}".*/\1/p' "$template")
"$r2r" unregistervm template

entries="$work/entries"
: >"$entries"
for i in $(seq 1 "$n"); do
  u=$(cat /proc/sys/kernel/random/uuid)
  name=$(printf 'vm%04d' "$i")
  mkdir -p "$vms/$name"
  sed -e "s/$tuuid/$u/g" -e "s/name=\"template\"/name=\"$name\"/" "$template" >"$vms/$name/$name.vbox"
  printf '<MachineEntry uuid="{%s}" src="%s"/>' "$u" "$vms/$name/$name.vbox" >>"$entries"
done
# Put the entries into the (now empty) machine registry.
insert_entries() {
  local xml="$VBOX_USER_HOME/VirtualBox.xml" tmp="$VBOX_USER_HOME/VirtualBox.xml.new"
  awk -v entries="$(cat "$entries")" '
    /<MachineRegistry *\/>/ { sub(/<MachineRegistry *\/>/, "<MachineRegistry>" entries "</MachineRegistry>") }
    { print }' "$xml" >"$tmp"
  mv "$tmp" "$xml"
}
insert_entries
count=$("$r2r" list vms | wc -l)
[ "$count" -eq "$n" ] || { echo "expected $n machines, listed $count" >&2; exit 1; }

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }'; }
measure() { # exe -> "median-wall min-wall median-cpu" in ms over $runs runs (after one warm-up run)
  local exe=$1 i samples TIMEFORMAT='%R %U %S'
  "$exe" list vms >/dev/null
  samples=$(for i in $(seq 1 "$runs"); do { time "$exe" list vms >/dev/null; } 2>&1; done |
    awk '{ printf "%.1f %.1f\n", $1 * 1000, ($2 + $3) * 1000 }')
  echo "$(cut -d' ' -f1 <<<"$samples" | median) $(cut -d' ' -f1 <<<"$samples" | sort -n | head -1) $(cut -d' ' -f2 <<<"$samples" | median)"
}

# Cold: the service leaves after each command, so every timed run starts it (`time` counts only
# VBoxManage's CPU; the service is another process, so wall time is the figure here).
measure_cold() { # exe -> "median-wall min-wall" in ms
  local exe=$1 i samples TIMEFORMAT='%R'
  samples=$(for i in $(seq 1 "$runs"); do
      while [ -S "$VBOX_USER_HOME/VBoxSVC.socket" ]; do sleep 0.05; done
      { time SHARPBOX_SVC_SHUTDOWN_DELAY_MS=0 "$exe" list vms >/dev/null; } 2>&1
    done | awk '{ printf "%.1f\n", $1 * 1000 }')
  echo "$(median <<<"$samples") $(sort -n <<<"$samples" | head -1)"
}
stop_service() {
  local pid
  pid=$(grep -o 'VBoxSVC starting: pid [0-9]*' "$VBOX_USER_HOME/VBoxSVC.log" | tail -1 | awk '{print $4}')
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  while [ -S "$VBOX_USER_HOME/VBoxSVC.socket" ]; do sleep 0.05; done
}

read -r r2r_med r2r_min r2r_cpu < <(measure "$r2r")
read -r jit_med jit_min jit_cpu < <(measure "$jit")
stop_service
read -r cold_med cold_min < <(measure_cold "$r2r")
echo "list vms, $n machines, $runs runs: wall median / wall min / CPU (user+sys) median, ms; load $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores"
echo "  bin/VBoxManage (ReadyToRun), VBoxSVC running:  $r2r_med / $r2r_min / $r2r_cpu"
echo "  JIT build (artifacts/bin), VBoxSVC running:    $jit_med / $jit_min / $jit_cpu"
echo "  bin/VBoxManage (ReadyToRun), VBoxSVC started:  $cold_med / $cold_min / -"
if [ -n "${COMPARE:-}" ]; then
  read -r cmp_med cmp_min cmp_cpu < <(measure "$COMPARE")
  echo "  $COMPARE:  $cmp_med / $cmp_min / $cmp_cpu"
fi
awk -v a="$r2r_med" -v b="$jit_med" 'BEGIN { printf "  ratio JIT/ReadyToRun: %.2fx\n", b / a }'
awk -v a="$r2r_med" 'BEGIN { printf "  target 200 ms: %s (median %.0f%% of target)\n", (a < 200 ? "met" : "MISSED"), a / 2 }'
stop_service
