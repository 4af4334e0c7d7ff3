#!/usr/bin/env bash
# Checks the deployment zip that scripts/package.sh produced:
#   - entries: host.json, the binary named by host.json's defaultExecutablePath, and
#     <Function>/function.json for exactly the repository's function folders; nothing else
#     (in particular no local.settings.json);
#   - the binary has its execute bit (zip external_attr), is an x86-64 ELF, and is static
#     (musl) - or, for the cargo-zigbuild fallback, needs nothing newer than glibc 2.28.
# Usage: scripts/check-package.sh [dist/defender-misp.zip]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
zip="${1:-dist/defender-misp.zip}"
target_file="${zip%.zip}.target"
[[ -f "$zip" ]] || { echo "$zip not found: run scripts/package.sh" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

expected_functions=()
for manifest in */function.json; do
  expected_functions+=("${manifest%/function.json}")
done

binary="$(python3 - "$zip" "$work" "${expected_functions[@]}" <<'PY'
import json, stat, sys, zipfile

zip_path, work, *functions = sys.argv[1:]
problems = []
with zipfile.ZipFile(zip_path) as zf:
    names = zf.namelist()
    if "host.json" not in names:
        sys.exit("host.json is not at the zip root")
    host = json.loads(zf.read("host.json"))
    binary = host["customHandler"]["description"]["defaultExecutablePath"]
    expected = {"host.json", binary} | {f"{f}/function.json" for f in functions}
    for missing in sorted(expected - set(names)):
        problems.append(f"missing entry {missing}")
    for extra in sorted(set(names) - expected):
        problems.append(f"unexpected entry {extra}")
    for name in names:
        if name.startswith("/") or ".." in name.split("/"):
            problems.append(f"unsafe path {name}")
    if binary in names:
        info = zf.getinfo(binary)
        mode = info.external_attr >> 16
        if info.create_system != 3 or not stat.S_ISREG(mode) or mode & 0o111 != 0o111:
            problems.append(f"{binary} is not a regular file with execute bits (mode {oct(mode)})")
        zf.extract(binary, work)
        for f in functions:
            json.loads(zf.read(f"{f}/function.json"))
if problems:
    sys.exit("\n".join(problems))
print(binary)
PY
)"

elf="$work/$binary"
description="$(file -b "$elf")"
echo "$binary: $description"
[[ "$description" == ELF\ 64-bit*x86-64* ]] || { echo "$binary is not an x86-64 ELF" >&2; exit 1; }

target="$(cat "$target_file" 2>/dev/null || echo x86_64-unknown-linux-musl)"
needed="$(readelf -d "$elf" | grep -c '(NEEDED)' || true)"
case "$target" in
  *-musl)
    if [[ "$needed" -ne 0 ]] || readelf -l "$elf" | grep -q 'INTERP'; then
      echo "$binary is dynamically linked ($needed NEEDED entries); a musl build must be static" >&2
      readelf -d "$elf" | grep NEEDED >&2 || true
      exit 1
    fi
    echo "static: no interpreter, no shared libraries"
    ;;
  *gnu.2.28)
    newest="$(objdump -T "$elf" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)"
    if [[ "$(printf '%s\n' "$newest" GLIBC_2.28 | sort -V | tail -n1)" != GLIBC_2.28 ]]; then
      echo "$binary needs $newest, newer than glibc 2.28" >&2
      exit 1
    fi
    echo "dynamic (cargo-zigbuild fallback): newest symbol $newest"
    ;;
  *)
    echo "unknown target $target in $target_file" >&2
    exit 1
    ;;
esac
echo "package ok: $zip ($(stat -c %s "$zip") bytes), binary $(stat -c %s "$elf") bytes"
