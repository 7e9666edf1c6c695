#!/usr/bin/env bash
# CPU conformance: the 80386 SingleStepTests sample (all 500 must pass) and the decoder against Iced.
# Prints one "N passed, N failed" line (the sum).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
moo="$root/tests/data/singlestep-80386/00.MOO"   # third-party data, origin and licence in its README.md
p=0; f=0
run() {
  local out line
  out=$("$@" 2>&1); local rc=$?
  echo "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -z "$line" ]; then echo "cputest: '$*' printed no result (exit $rc)"; f=$((f + 1)); return; fi
  p=$((p + ${line%% passed*})); f=$((f + $(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')))
  if [ "$rc" -ne 0 ] && [ "$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')" = 0 ]; then f=$((f + 1)); fi
  echo "  $*: $line"
}
if [ -f "$moo" ]; then run "$root/bin/sbx-cputest" moo "$moo"
else echo "cputest: $moo not found"; f=$((f + 1)); fi
run "$root/bin/sbx-cputest" decode --seed 20240601 --count 300000 --mode all
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
