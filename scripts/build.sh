#!/usr/bin/env bash
# Builds the whole solution in Release (warnings are errors) into artifacts/, then publishes
# VBoxManage and VBoxSVC ReadyToRun-compiled into artifacts/publish/ for bin/VBoxManage and the
# service it starts (start-up time matters for scripts that call it many times; see
# docs/performance.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/deps.sh"
dotnet build SharpBox.slnx -c Release -nologo -v quiet -clp:ErrorsOnly "$@"
dotnet publish src/Frontends/VBoxManage/VBoxManage.csproj -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -o artifacts/publish/VBoxManage -nologo -v quiet -clp:ErrorsOnly
dotnet publish src/Service/VBoxSVC.csproj -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -o artifacts/publish/VBoxSVC -nologo -v quiet -clp:ErrorsOnly
dotnet publish src/Frontends/VBoxHeadless/VBoxHeadless.csproj -c Release -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -o artifacts/publish/VBoxHeadless -nologo -v quiet -clp:ErrorsOnly
