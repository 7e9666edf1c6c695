#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs each test project and the CPU conformance
# runner, and prints one closing "N passed, N failed" line. Exit status is non-zero on any failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
"$root/scripts/build.sh" || { echo "0 passed, 1 failed (build)"; exit 1; }
exec "$root/scripts/test-all.sh" "$@"
