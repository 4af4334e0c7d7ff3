#!/usr/bin/env bash
# Offline test of infra/deploy.sh and infra/recover-key-vault.sh against a stub `az` that
# records every call and plays a subscription, with stub package scripts (the real build is
# scripts/package.sh's own step in scripts/test). Checks: the checks and the package build come
# before anything is created; the deployment has a known name and its outputs are printed; Flex
# deploys by config-zip and Premium uploads the blob, retrying while the new role propagates;
# a soft-deleted vault of this resource group is recovered first; no public-cloud host is
# hard-coded in any call. Run by scripts/check-infra.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo/infra" "$work/repo/scripts" "$work/bin"
cp "$root"/infra/*.sh "$root/infra/main.parameters.json" "$work/repo/infra/"
cat >"$work/repo/scripts/package.sh" <<'STUB'
#!/usr/bin/env bash
mkdir -p dist && echo zip >dist/defender-misp.zip && echo "package.sh" >>"$STUB_LOG"
STUB
cat >"$work/repo/scripts/check-package.sh" <<'STUB'
#!/usr/bin/env bash
echo "check-package.sh $*" >>"$STUB_LOG"
STUB
cat >"$work/bin/az" <<'STUB'
#!/usr/bin/env bash
echo "az $*" >>"$STUB_LOG"
case "$*" in
  "account show --query id"*) echo "sub-1" ;;
  "account show --query user.type"*) echo "user" ;;
  "account show"*) echo "test-subscription" ;;
  "provider show --namespace "*)
    [[ " ${STUB_UNREGISTERED:-} " == *" $4 "* ]] && echo "NotRegistered" || echo "Registered" ;;
  "functionapp list-flexconsumption-locations"*) printf 'eastus\nwesteurope\n' ;;
  "keyvault list-deleted"*)
    if [[ -n "${STUB_DELETED:-}" ]]; then
      printf 'kv-defmisp-abcdefgh\t/subscriptions/sub-1/resourceGroups/RG-Test/providers/Microsoft.KeyVault/vaults/kv-defmisp-abcdefgh\n'
      printf 'kv-defmisp-zzzzzzzz\t/subscriptions/sub-1/resourceGroups/other/providers/Microsoft.KeyVault/vaults/kv-defmisp-zzzzzzzz\n'
    fi ;;
  "group exists"*) echo "${STUB_GROUP_EXISTS:-true}" ;;
  "ad signed-in-user show"*) echo "user-object-id" ;;
  "deployment group create"*)
    cat <<JSON
{"functionAppName": {"value": "func-defmisp-1"}, "principalId": {"value": "principal-1"},
 "hostingPlan": {"value": "${STUB_PLAN:-FlexConsumption}"}, "storageAccountName": {"value": "stdefmisp1"},
 "eventHubNamespaceResourceId": {"value": "/subscriptions/sub-1/resourceGroups/rg-test/providers/Microsoft.EventHub/namespaces/evhns-1"},
 "eventHubName": {"value": "defender-stream"}}
JSON
    ;;
  "storage blob upload"*)
    if [[ -n "${STUB_UPLOAD_403:-}" && ! -f "$STUB_LOG.uploaded" ]]; then
      touch "$STUB_LOG.uploaded"
      echo "ERROR: This request is not authorized to perform this operation using this permission. ErrorCode:AuthorizationPermissionMismatch" >&2
      exit 1
    fi ;;
esac
exit 0
STUB
chmod +x "$work/bin/az" "$work/repo/scripts/"*.sh "$work/repo/infra/"*.sh

export STUB_LOG="$work/calls"
fail() { echo "FAIL: $*" >&2; exit 1; }
deploy() {
  rm -f "$STUB_LOG" "$STUB_LOG.uploaded" "$work/repo/dist/defender-misp.zip"
  PATH="$work/bin:$PATH" MISP_API_KEY=test-misp-key DEPLOY_RETRY_SECONDS=0 \
    "$work/repo/infra/deploy.sh" --resource-group rg-test --skip-grant "$@"
}
line_of() { grep -n -m1 -F "$1" "$STUB_LOG" | cut -d: -f1; }

# Flex Consumption, the default.
out="$(deploy --location westeurope 2>&1)" || fail "the Flex deployment failed: $out"
[[ "$(line_of package.sh)" -lt "$(line_of "group create")" ]] || fail "the package was not built before Azure was touched"
grep -q "deployment group create --resource-group rg-test --name defender-misp " "$STUB_LOG" || fail "deployment not named defender-misp"
grep -q "functionapp deployment source config-zip" "$STUB_LOG" || fail "Flex did not deploy by config-zip"
! grep -q "storage blob upload" "$STUB_LOG" || fail "Flex uploaded a blob"
grep -q "Event Hub resource ID: /subscriptions/sub-1/.*/namespaces/evhns-1" <<<"$out" || fail "the Event Hub id was not printed"
grep -q "Event Hub name:        defender-stream" <<<"$out" || fail "the hub name was not printed"
grep -q "az deployment group show --resource-group rg-test --name defender-misp" <<<"$out" || fail "how to show the outputs was not printed"
! grep -q "keyvault recover" "$STUB_LOG" || fail "a vault was recovered with none deleted"

# A region without Flex Consumption stops before the build and before any deployment.
if out="$(deploy --location southpole 2>&1)"; then fail "an unsupported region was accepted"; fi
grep -q "Flex Consumption is not offered in southpole" <<<"$out" || fail "no region message: $out"
! grep -q "package.sh\|group create" "$STUB_LOG" || fail "work was done despite the region"

# Sentinel (on by default) needs its provider; turning it off does not.
grep -q "provider show --namespace Microsoft.SecurityInsights" "$STUB_LOG" || fail "Sentinel's provider not checked"
STUB_UNREGISTERED=Microsoft.SecurityInsights deploy --location westeurope --param enableSentinel=false >/dev/null 2>&1 \
  || fail "Sentinel's provider was required with enableSentinel=false"

# An unregistered provider stops with the command that registers it.
if out="$(STUB_UNREGISTERED=Microsoft.EventHub deploy --location westeurope 2>&1)"; then fail "an unregistered provider was accepted"; fi
grep -q "az provider register --wait --namespace Microsoft.EventHub" <<<"$out" || fail "no register command: $out"

# Elastic Premium after a teardown: the soft-deleted vault of this group is recovered first, the
# deployer gets the package role, the upload is retried through the role's propagation.
out="$(STUB_PLAN=ElasticPremium STUB_DELETED=1 STUB_UPLOAD_403=1 \
  deploy --location westeurope --param hostingPlan=ElasticPremium 2>&1)" || fail "the Premium deployment failed: $out"
grep -q "keyvault recover --name kv-defmisp-abcdefgh" "$STUB_LOG" || fail "the deleted vault was not recovered"
! grep -q "kv-defmisp-zzzzzzzz" <(grep "keyvault recover" "$STUB_LOG") || fail "another group's vault was recovered"
[[ "$(line_of "keyvault recover")" -lt "$(line_of "deployment group create")" ]] || fail "recovered after deploying"
grep -q "deployerPrincipalId=user-object-id" "$STUB_LOG" || fail "the deployer was not given the package role"
[[ "$(grep -c "storage blob upload --auth-mode login" "$STUB_LOG")" -eq 2 ]] || fail "the refused upload was not retried once"
grep -q "upload refused (403)" <<<"$out" || fail "the retry did not say why"
grep -q "resource invoke-action --action syncfunctiontriggers" "$STUB_LOG" || fail "triggers not synced"

# azd up's preprovision hook before the group exists: no recovery, a failure naming the fix.
if out="$(STUB_LOG="$work/calls-recover" STUB_DELETED=1 STUB_GROUP_EXISTS=false PATH="$work/bin:$PATH" \
  "$work/repo/infra/recover-key-vault.sh" --resource-group rg-test 2>&1)"; then
  fail "a vault was found for a group that does not exist, and the hook succeeded"
fi
grep -q "az group exists" "$work/calls-recover" || fail "the group was not looked up"
! grep -q "keyvault recover" "$work/calls-recover" || fail "a vault was recovered into a missing group"
grep -q "az group create --name rg-test" <<<"$out" || fail "the missing group's fix was not named: $out"

# Nothing names a public-cloud host; the key never reaches a command line.
! grep -Eq "management\.azure\.com|windows\.net" "$STUB_LOG" || fail "a public-cloud host is hard-coded"
! grep -q "test-misp-key" "$STUB_LOG" || fail "the MISP key reached a command line"

if PATH="$work/bin:$PATH" "$work/repo/infra/deploy.sh" --resource-group rg >/dev/null 2>&1; then
  fail "ran without MISP_API_KEY"
fi
echo "deploy.sh: checks first, build before Azure, named deployment, Flex and Premium paths, vault recovery"
