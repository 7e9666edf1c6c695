#!/usr/bin/env bash
# Fetches the standard test guest into .cache/guest (git-ignored; nothing outside the project changes):
#   - Debian's kernel: `apt-get download linux-image-<version>-amd64`, unpacked with `dpkg-deb -x`,
#     giving .cache/guest/vmlinuz (the XZ bzImage) and .cache/guest/vmlinux (the uncompressed ELF with
#     its PVH note, extracted from the bzImage's payload);
#   - the kernel's modules: .cache/guest/modules/<version> (its lib/modules tree; .cache/guest/modules/.complete
#     names the version);
#   - the busybox initramfs (scripts/build-initramfs.sh): .cache/guest/initramfs.cpio.gz, whose /init
#     prints "INIT-READY <uptime>" and powers off, and .cache/guest/initramfs-ata.cpio.gz, the same
#     with the IDE disk drivers loaded (ata_piix, sd_mod and their dependencies) and the ACPI power
#     button (button, evdev: /init powers off on controlvm acpipowerbutton).
# Idempotent: an existing, complete download is reused. Prints the directory on success.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.cache/guest"
mkdir -p "$out"
"$root/scripts/deps.sh"

# The kernel package: the one recorded by an earlier fetch (so kernel and modules always match), else
# the one the linux-image-amd64 metapackage currently depends on.
kernel_package() {
  if [ -s "$out/kernel-package" ]; then cat "$out/kernel-package"; return; fi
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -q >/dev/null 2>&1 || true
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  echo "$pkg"
}

if [ ! -s "$out/vmlinuz" ] || [ ! -s "$out/modules/.complete" ]; then
  pkg=$(kernel_package)
  [ -n "$pkg" ] || { echo "fetch-guest: cannot find the Debian kernel package (apt-cache depends linux-image-amd64)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) || { echo "fetch-guest: apt-get download $pkg failed" >&2; exit 1; }
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/root"
  if [ ! -s "$out/vmlinuz" ]; then
    k=$(ls "$tmp"/root/boot/vmlinuz-* | head -1)
    [ -s "$k" ] || { echo "fetch-guest: $pkg has no /boot/vmlinuz" >&2; exit 1; }
    cp "$k" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    echo "$pkg" > "$out/kernel-package"
  fi
  # The kernel's modules (lib/modules/<version>), for initramfs images that load drivers.
  m=$(ls -d "$tmp"/root/lib/modules/*/ 2>/dev/null | head -1)
  [ -n "$m" ] && [ -d "$m/kernel" ] || { echo "fetch-guest: $pkg has no /lib/modules/<version>/kernel" >&2; exit 1; }
  rm -rf "$out/modules"
  mkdir -p "$out/modules"
  mv "${m%/}" "$out/modules/"
  basename "${m%/}" > "$out/modules/.complete"
  rm -rf "$tmp"
  trap - EXIT
fi

if [ ! -s "$out/vmlinux" ]; then
  "$root/scripts/extract-vmlinux.sh" "$out/vmlinuz" > "$out/vmlinux.tmp"
  mv "$out/vmlinux.tmp" "$out/vmlinux"
fi

if [ ! -s "$out/initramfs.cpio.gz" ] || [ "$root/scripts/build-initramfs.sh" -nt "$out/initramfs.cpio.gz" ]; then
  "$root/scripts/build-initramfs.sh" "$out/initramfs.cpio.gz"
fi
# The same with the IDE disk drivers (ata_piix, sd_mod and what they need): /dev/sda appears; and the
# ACPI power button (button, evdev).
if [ ! -s "$out/initramfs-ata.cpio.gz" ] || [ "$root/scripts/build-initramfs.sh" -nt "$out/initramfs-ata.cpio.gz" ]; then
  "$root/scripts/build-initramfs.sh" --modules "$out/modules/$(cat "$out/modules/.complete")" ata_piix,sd_mod,button,evdev "$out/initramfs-ata.cpio.gz"
fi
echo "$out"
