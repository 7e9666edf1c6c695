#!/usr/bin/env bash
# Runs the built test suites and sums their results. Each suite prints "N passed, N failed" (or
# xunit's summary, which is parsed); the last line is the total.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
passed=0; failed=0; log=$(mktemp)
trap 'rm -f "$log"' EXIT
suite() { # name, command...
  local name=$1; shift
  echo "=== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  # xunit/vstest: "Passed!  - Failed:     0, Passed:    12, Skipped: ..."
  p=$(grep -E '(Passed|Failed)! +- +Failed:' "$log" | sed -E 's/.*Passed: +([0-9]+).*/\1/' | awk '{s+=$1} END {print s+0}')
  f=$(grep -E '(Passed|Failed)! +- +Failed:' "$log" | sed -E 's/.*Failed: +([0-9]+),.*/\1/' | awk '{s+=$1} END {print s+0}')
  if [ "$p" = 0 ] && [ "$f" = 0 ]; then
    # our own runners: "N passed, N failed"
    local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -n "$line" ]; then p=${line%% passed*}; f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/'); fi
  fi
  if [ "$rc" -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  echo "--- $name: $p passed, $f failed"
}
for proj in tests/*/*.csproj; do
  suite "$(basename "$(dirname "$proj")")" dotnet test "$proj" -c Release --no-build -nologo
done
for extra in "$root"/scripts/suites/*.sh; do
  [ -e "$extra" ] || continue
  suite "$(basename "$extra" .sh)" bash "$extra"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
