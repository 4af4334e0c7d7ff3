#!/usr/bin/env bash
# Builds the Linux release binary and the zip Azure Functions deploys:
#
#   dist/defender-misp.zip
#     host.json
#     defender-misp            the custom handler, mode 0755
#     MatchEvents/function.json
#     RaiseAlerts/function.json   (every top-level folder holding a function.json)
#
# The binary is static x86_64-unknown-linux-musl, so it runs on whatever Linux image the
# Functions platform uses. Needs the rust-std for that target (`rustup target add
# x86_64-unknown-linux-musl`) and musl-gcc (`apt-get install -y musl-tools`: aws-lc-sys is C).
#
# Fallback when the musl target cannot be installed (PACKAGE_TARGET=zig, or automatic when
# rustup cannot add the target): cargo-zigbuild building x86_64-unknown-linux-gnu.2.28, a
# dynamically linked binary needing only glibc >= 2.28 (pip install ziglang cargo-zigbuild).
#
# local.settings.json is never packaged. dist/defender-misp.target records what was built, for
# scripts/check-package.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

readonly BINARY="defender-misp"
readonly MUSL="x86_64-unknown-linux-musl"
readonly GLIBC="x86_64-unknown-linux-gnu.2.28"
dist="$root/dist"
zip="$dist/$BINARY.zip"

musl_ready() {
  command -v musl-gcc >/dev/null || { echo "musl-gcc missing: apt-get install -y musl-tools" >&2; return 1; }
  rustup target list --installed 2>/dev/null | grep -qx "$MUSL" && return 0
  echo "adding rust target $MUSL" >&2
  rustup target add "$MUSL" >&2
}

mode="${PACKAGE_TARGET:-musl}"
if [[ "$mode" == "musl" ]] && ! musl_ready; then
  echo "the musl target is unavailable; falling back to cargo-zigbuild ($GLIBC)" >&2
  mode="zig"
fi

started=$SECONDS
case "$mode" in
  musl)
    target="$MUSL"
    cargo build --release --locked --target "$MUSL" --bin "$BINARY"
    built="target/$MUSL/release/$BINARY"
    ;;
  zig)
    target="$GLIBC"
    if ! command -v cargo-zigbuild >/dev/null; then
      venv="$root/target/zig-venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet --disable-pip-version-check ziglang cargo-zigbuild
      export PATH="$venv/bin:$PATH"
    fi
    cargo zigbuild --release --locked --target "$GLIBC" --bin "$BINARY"
    built="target/x86_64-unknown-linux-gnu/release/$BINARY"
    ;;
  *)
    echo "PACKAGE_TARGET must be musl or zig, not $mode" >&2
    exit 2
    ;;
esac
echo "built $built for $target in $((SECONDS - started)) s"

functions=()
for manifest in */function.json; do
  functions+=("${manifest%/function.json}")
done
if [[ ${#functions[@]} -eq 0 ]]; then
  echo "no */function.json found" >&2
  exit 1
fi

mkdir -p "$dist"
rm -f "$zip"
# python3 zipfile, not zip(1): it is always present and sets the mode bits explicitly.
python3 - "$zip" "$built" "$BINARY" "${functions[@]}" <<'PY'
import sys, zipfile

zip_path, built, binary, *functions = sys.argv[1:]

def add(zf, source, name, mode):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # Unix, so the host honours external_attr
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(source, "rb") as f:
        zf.writestr(info, f.read())

with zipfile.ZipFile(zip_path, "w") as zf:
    add(zf, "host.json", "host.json", 0o644)
    add(zf, built, binary, 0o755)
    for function in sorted(functions):
        add(zf, f"{function}/function.json", f"{function}/function.json", 0o644)
PY
echo "$target" >"$dist/$BINARY.target"

size=$(stat -c %s "$built")
echo "binary: $size bytes ($((size / 1024 / 1024)) MiB); package: $(stat -c %s "$zip") bytes -> ${zip#"$root"/}"
