#!/usr/bin/env bash
# Lints the infrastructure offline: checkov 3.3.30 over infra/ (Bicep), then bash -n and
# ShellCheck over every shell script, then the offline tests of the grant and deploy scripts (stub az). The Bicep syntax check is a cargo test (tests/infra.rs).
#
# checkov is installed once into a virtualenv under target/ (gitignored, reused by later runs);
# set CHECKOV_VENV to put it elsewhere. Every accepted finding is an inline
# `// checkov:skip=<ID>:<reason>` in the .bicep file, so plain `checkov -d infra` agrees with this.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

checkov_version="3.3.30"
venv="${CHECKOV_VENV:-$root/target/checkov-venv}"

if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$checkov_version"; then
  echo "installing checkov $checkov_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$checkov_version"
fi

echo "== checkov (bicep)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
"$venv/bin/checkov" -d infra --framework bicep --skip-download --compact --quiet >"$log" 2>&1 || status=$?
cat "$log"
# A file checkov cannot parse is not checked at all, and does not fail the run by itself.
if grep -Eq 'Parsing errors: [1-9]' "$log"; then
  echo "checkov could not parse a .bicep file (see above)" >&2
  exit 1
fi
if [[ $status -ne 0 ]]; then
  echo "checkov failed (exit $status)" >&2
  exit "$status"
fi

echo "== shell scripts"
scripts=(scripts/*.sh infra/*.sh)
for script in "${scripts[@]}"; do
  bash -n "$script"
done
if command -v shellcheck >/dev/null; then
  shellcheck "${scripts[@]}"
else
  echo "shellcheck not installed (apt-get install -y shellcheck); only bash -n was run" >&2
fi

echo "== grant script and deploy script (stub az)"
scripts/test-grant-defender-roles.sh
scripts/test-deploy.sh
echo "infra checks passed"
