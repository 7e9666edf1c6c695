#!/usr/bin/env bash
# Builds the whole solution in Release (warnings are errors) into artifacts/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/deps.sh"
dotnet build SharpBox.slnx -c Release -nologo -v quiet -clp:ErrorsOnly "$@"
