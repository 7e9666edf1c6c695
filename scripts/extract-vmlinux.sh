#!/usr/bin/env bash
# Writes the uncompressed ELF vmlinux held in a bzImage to stdout. The bzImage's protected-mode part
# carries the compressed kernel (payload_offset/payload_length in the setup header, boot protocol
# 2.08+); we find the compressed stream by its magic and decompress it, then check the ELF magic.
set -euo pipefail
img="$1"
[ -s "$img" ] || { echo "extract-vmlinux: '$img' does not exist" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
try() { # offset, decompressor
  tail -c +$(($1 + 1)) "$img" | $2 > "$tmp" 2>/dev/null || true
  [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = "7f454c46" ]
}
for pair in '\xfd\x37\x7a\x58\x5a\x00:xz -dc' '\x1f\x8b\x08\x00:gunzip -c' '\x42\x5a\x68:bunzip2 -c' '\x28\xb5\x2f\xfd:zstd -dc'; do
  magic=${pair%%:*}; tool=${pair#*:}
  for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1 | head -5); do
    if try "$off" "$tool"; then cat "$tmp"; exit 0; fi
  done
done
echo "extract-vmlinux: no compressed ELF kernel found in '$img'" >&2
exit 1
