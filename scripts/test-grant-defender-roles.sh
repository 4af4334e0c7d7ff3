#!/usr/bin/env bash
# Offline test of infra/grant-defender-roles.sh against a stub `az` that plays Microsoft Graph:
# a dry run posts nothing; a real run grants only what is missing; Ti.ReadWrite.All only with
# --indicators. Run by scripts/check-infra.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stub="$(mktemp -d)"
trap 'rm -rf "$stub"' EXIT

cat >"$stub/az" <<'STUB'
#!/usr/bin/env bash
dir="$(dirname "$0")"
args="$*"
case "$args" in
  "cloud show --query endpoints.microsoftGraphResourceId"*) echo "https://graph.example.us/" ;;
  *"--method post"*) echo "$args" >>"$dir/posts" ;;
  *"servicePrincipals?"*) echo "defender-sp" ;;
  *"appRoles[?value=='Alert.ReadWrite.All']"*) echo "0f7000ec-157b-497f-b70e-ef0b0584f140" ;;
  *"appRoles[?value=='Ti.ReadWrite.All']"*) echo "fc511a58-3adf-4d71-af24-00f13e35e479" ;;
  *"appRoleAssignments --query"*0f7000ec*) [[ -f "$dir/alert-assigned" ]] && echo "assignment-1" ;;
  *"identity show"*userAssignedIdentities*) ;;
  *"identity show"*) echo "system-principal" ;;
esac
exit 0
STUB
chmod +x "$stub/az"
grant() { PATH="$stub:$PATH" "$root/infra/grant-defender-roles.sh" "$@"; }
posts() { if [[ -f "$stub/posts" ]]; then wc -l <"$stub/posts"; else echo 0; fi; }
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$(grant --app-name app --resource-group rg --indicators --dry-run)"
[[ "$(posts)" -eq 0 ]] || fail "a dry run posted"
grep -q "system-principal" <<<"$out" || fail "the app's identity was not looked up"
grep -q "would grant Ti.ReadWrite.All" <<<"$out" || fail "dry run did not list Ti.ReadWrite.All"

grant --principal-id p1 >/dev/null
[[ "$(posts)" -eq 1 ]] || fail "expected one grant without --indicators, got $(posts)"
grep -q '"appRoleId":"0f7000ec-157b-497f-b70e-ef0b0584f140"' "$stub/posts" || fail "Alert.ReadWrite.All not granted"
grep -q -- "--url https://graph.example.us/v1.0/servicePrincipals/p1/appRoleAssignments" "$stub/posts" \
  || fail "Graph was not the signed-in cloud's: $(cat "$stub/posts")"

rm "$stub/posts"
touch "$stub/alert-assigned"
out="$(grant --principal-id p1 --indicators)"
[[ "$(posts)" -eq 1 ]] || fail "expected only Ti.ReadWrite.All to be granted, got $(posts) posts"
grep -q '"appRoleId":"fc511a58-3adf-4d71-af24-00f13e35e479"' "$stub/posts" || fail "Ti.ReadWrite.All not granted"
grep -q "Alert.ReadWrite.All (already assigned)" <<<"$out" || fail "existing assignment not recognised"
echo "grant-defender-roles.sh: dry run, first grant and idempotent re-run behave"
