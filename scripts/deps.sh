#!/usr/bin/env bash
# Installs the Debian packages SharpBox's build, tests and example need. Idempotent: only missing
# packages are installed, and apt-get update runs at most once per call.
set -euo pipefail
need=(qemu-utils nasm qemu-system-x86 busybox-static cpio xz-utils gdb gcc libc6-dev acpica-tools)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "deps: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }
