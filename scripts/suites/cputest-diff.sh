#!/usr/bin/env bash
# Differential test of the software CPU against this machine's CPU: random instructions of every
# integer, x87, MMX and SSE..SSE4.2 form with random state, in 64-bit mode and in 32-bit compatibility
# mode (sbx-cputest diff). Prints one "N passed, N failed" line (the sum).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
p=0; f=0
run() {
  local out line rc
  out=$("$root/bin/sbx-cputest" diff "$@" 2>&1); rc=$?
  echo "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -z "$line" ]; then echo "cputest-diff: 'diff $*' printed no result (exit $rc)"; f=$((f + 1)); return; fi
  local lp=${line%% passed*} lf; lf=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
  p=$((p + lp)); f=$((f + lf))
  if [ "$rc" -ne 0 ] && [ "$lf" = 0 ]; then f=$((f + 1)); fi
  echo "  diff $*: $line"
}
run --seed 20240601 --count 150000 --mode 64
run --seed 20240602 --count 100000 --mode 32
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
