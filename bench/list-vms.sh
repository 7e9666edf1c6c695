#!/usr/bin/env bash
# Benchmark: wall time of the whole `VBoxManage list vms` command with N registered machines
# (default 1000), against the 200 ms target of issue 2. VirtualBox itself is not installable on the
# build machine, so the figure beside ours is the same command run by the JIT-compiled build
# (artifacts/bin) instead of the ReadyToRun publish that bin/VBoxManage runs; the ratio shows what
# ReadyToRun buys.
#
#   bench/list-vms.sh [machines=1000] [runs=15]
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
trap 'rm -rf "$work"' EXIT
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

measure() { # exe -> prints median and min in ms over $runs runs (after one warm-up run)
  local exe=$1 t0 t1 i
  "$exe" list vms >/dev/null
  local -a times=()
  for i in $(seq 1 "$runs"); do
    t0=$(date +%s%N)
    "$exe" list vms >/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000}'
}

read -r r2r_med r2r_min < <(measure "$r2r")
read -r jit_med jit_min < <(measure "$jit")
echo "list vms, $n machines, $runs runs (median / min wall ms):"
echo "  bin/VBoxManage (ReadyToRun):  $r2r_med / $r2r_min"
echo "  JIT build (artifacts/bin):     $jit_med / $jit_min"
awk -v a="$r2r_med" -v b="$jit_med" 'BEGIN { printf "  ratio JIT/ReadyToRun: %.2fx\n", b / a }'
awk -v a="$r2r_med" 'BEGIN { printf "  target 200 ms: %s (median %.0f%% of target)\n", (a < 200 ? "met" : "MISSED"), a / 2 }'
