#!/usr/bin/env bash
# One command from an empty resource group to a running app:
#   1. checks: signed in, resource providers registered, Flex Consumption offered in the region;
#   2. builds dist/defender-misp.zip (scripts/package.sh) and checks it (scripts/check-package.sh)
#      BEFORE anything is created in Azure: a cold release build takes 10-15 minutes on 2 cores;
#   3. recovers the Key Vault of an earlier deployment to this resource group if it is
#      soft-deleted (infra/recover-key-vault.sh), then provisions infra/main.bicep as the
#      deployment named by --deployment-name (default defender-misp);
#   4. deploys the package: Flex Consumption via `az functionapp deployment source config-zip`;
#      Elastic Premium by uploading the blob the app runs from (WEBSITE_RUN_FROM_PACKAGE), then
#      restart and sync triggers;
#   5. grants the Defender API roles (infra/grant-defender-roles.sh);
#   6. prints what the Defender Streaming API needs (docs/deploy.md, step 3).
#
# The MISP key is read from the environment variable MISP_API_KEY (never from an argument, so it
# stays out of shell history and the process list) and goes only into Key Vault.
#
# Usage:
#   MISP_API_KEY=... infra/deploy.sh --resource-group <rg> [--location <region>]
#       [--deployment-name defender-misp] [--parameters infra/main.parameters.json]
#       [--param name=value ...] [--indicators] [--skip-grant] [--skip-package]
#
# DEPLOY_RETRY_SECONDS (default 30) is the wait between package upload attempts on Elastic
# Premium while the new storage role propagates.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

resource_group=""
location=""
deployment="defender-misp"
parameters="infra/main.parameters.json"
extra=()
indicators=()
grant=true
package=true
providers=(Microsoft.Web Microsoft.Storage Microsoft.EventHub Microsoft.KeyVault
  Microsoft.OperationalInsights Microsoft.Insights Microsoft.ManagedIdentity)

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group | -g) resource_group="${2:?}"; shift 2 ;;
    --location | -l) location="${2:?}"; shift 2 ;;
    --deployment-name) deployment="${2:?}"; shift 2 ;;
    --parameters) parameters="${2:?}"; shift 2 ;;
    --param) extra+=("${2:?}"); shift 2 ;;
    --indicators) indicators=(--indicators); shift ;;
    --skip-grant) grant=false; shift ;;
    --skip-package) package=false; shift ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$resource_group" ]] || { echo "--resource-group is required" >&2; exit 2; }
[[ -n "${MISP_API_KEY:-}" ]] || { echo "set MISP_API_KEY in the environment" >&2; exit 2; }

# The value a deployment parameter will have: --param overrides the parameters file.
param_value() {
  python3 - "$parameters" "$1" "$2" ${extra[@]+"${extra[@]}"} <<'PY'
import json, sys
path, name, value, *overrides = sys.argv[1:]
value = json.load(open(path)).get("parameters", {}).get(name, {}).get("value", value)
for override in overrides:
    key, _, given = override.partition("=")
    if key == name:
        value = given
print(value)
PY
}
plan="$(param_value hostingPlan FlexConsumption)"
base_name="$(param_value baseName defmisp)"
# Sentinel (on by default) onboards the workspace and creates the analytics rule.
if [[ "$(param_value enableSentinel true)" != "False" && "$(param_value enableSentinel true)" != "false" ]]; then
  providers+=(Microsoft.SecurityInsights)
fi

echo "== checking the subscription"
az account show --query "{subscription: name, id: id, signedInAs: user.name}" --output tsv \
  || { echo "sign in first: az login" >&2; exit 1; }
unregistered=()
for namespace in "${providers[@]}"; do
  state="$(az provider show --namespace "$namespace" --query registrationState --output tsv 2>/dev/null || true)"
  [[ "$state" == "Registered" ]] || unregistered+=("$namespace")
done
if ((${#unregistered[@]})); then
  echo "these resource providers are not registered in the subscription; register them once" >&2
  echo "(needs the register action, e.g. Contributor on the subscription), then run this again:" >&2
  printf '  az provider register --wait --namespace %s\n' "${unregistered[@]}" >&2
  exit 1
fi
region="$location"
if [[ -z "$region" ]]; then
  region="$(az group show --name "$resource_group" --query location --output tsv 2>/dev/null)" \
    || { echo "resource group $resource_group does not exist: pass --location <region>" >&2; exit 2; }
fi
normalise() { tr -d ' ' | tr '[:upper:]' '[:lower:]'; }
if [[ "$plan" == "FlexConsumption" ]]; then
  flex_regions="$(az functionapp list-flexconsumption-locations --query "[].name" --output tsv | normalise)"
  if ! grep -qx "$(normalise <<<"$region")" <<<"$flex_regions"; then
    echo "Flex Consumption is not offered in $region. Use one of these regions, or" >&2
    echo "--param hostingPlan=ElasticPremium:" >&2
    tr '\n' ' ' <<<"$flex_regions" >&2
    echo >&2
    exit 1
  fi
fi

if $package || [[ ! -f dist/defender-misp.zip ]]; then
  echo "== building the package (a cold release build takes 10-15 minutes on 2 cores; nothing is"
  echo "   created in Azure until it has succeeded)"
  scripts/package.sh
fi
scripts/check-package.sh dist/defender-misp.zip

if [[ -n "$location" ]]; then
  az group create --name "$resource_group" --location "$location" --output none
fi
infra/recover-key-vault.sh --resource-group "$resource_group" --base-name "$base_name"

# Elastic Premium: whoever runs this uploads the package, so main.bicep grants them Storage Blob
# Data Contributor on the package container (the account's shared keys are off).
deployer=""
if [[ "$plan" == "ElasticPremium" ]]; then
  if [[ "$(az account show --query user.type --output tsv)" == "servicePrincipal" ]]; then
    deployer="$(az ad sp show --id "$(az account show --query user.name --output tsv)" --query id --output tsv 2>/dev/null || true)"
  else
    deployer="$(az ad signed-in-user show --query id --output tsv 2>/dev/null || true)"
  fi
  if [[ -z "$deployer" ]]; then
    echo "warning: could not look up your object id, so no storage role is granted to you; the" >&2
    echo "  package upload needs Storage Blob Data Contributor on the app-package container." >&2
  fi
fi

# The secure parameter travels in a private temporary file, not on a command line.
secret_params="$(mktemp)"
upload_errors="$(mktemp)"
trap 'rm -f "$secret_params" "$upload_errors"' EXIT
chmod 600 "$secret_params"
python3 - "$secret_params" <<'PY'
import json, os, sys
json.dump({"parameters": {"mispApiKey": {"value": os.environ["MISP_API_KEY"]}}}, open(sys.argv[1], "w"))
PY

echo "== provisioning infra/main.bicep as deployment '$deployment' in $resource_group"
outputs="$(az deployment group create \
  --resource-group "$resource_group" \
  --name "$deployment" \
  --template-file infra/main.bicep \
  --parameters "@$parameters" \
  --parameters "@$secret_params" \
  --parameters "deployerPrincipalId=$deployer" \
  ${extra[@]+--parameters "${extra[@]}"} \
  --query properties.outputs --output json)"

output() {
  python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]]["value"])' "$1" <<<"$outputs"
}
app="$(output functionAppName)"
principal="$(output principalId)"
plan="$(output hostingPlan)"
storage="$(output storageAccountName)"
echo "app $app ($plan), identity $principal"

# Elastic Premium: the role granted above can take minutes to apply; a 403 is retried.
upload_package() {
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if az storage blob upload --auth-mode login --account-name "$storage" \
      --container-name app-package --name defender-misp.zip \
      --file dist/defender-misp.zip --overwrite --output none 2>"$upload_errors"; then
      return 0
    fi
    if ! grep -Eq "AuthorizationPermissionMismatch|AuthorizationFailure|403" "$upload_errors"; then
      cat "$upload_errors" >&2
      return 1
    fi
    echo "upload refused (403): Storage Blob Data Contributor on $storage/app-package was just" >&2
    echo "  granted to you and can take a few minutes to apply; retrying ($attempt/10)" >&2
    sleep "${DEPLOY_RETRY_SECONDS:-30}"
  done
  echo "the upload is still refused. Check that you hold Storage Blob Data Contributor on the" >&2
  echo "app-package container (docs/deploy.md, 'Permissions'), then run this again with --skip-package." >&2
  return 1
}

echo "== deploying the package"
if [[ "$plan" == "FlexConsumption" ]]; then
  az functionapp deployment source config-zip \
    --resource-group "$resource_group" --name "$app" --src dist/defender-misp.zip --output none
else
  upload_package
  az functionapp restart --resource-group "$resource_group" --name "$app"
  az resource invoke-action --action syncfunctiontriggers --resource-group "$resource_group" \
    --name "$app" --resource-type Microsoft.Web/sites --output none
fi

if $grant; then
  echo "== granting Defender API roles"
  infra/grant-defender-roles.sh --principal-id "$principal" ${indicators[@]+"${indicators[@]}"}
fi

cat <<DONE
== done: $app ($plan)
Deployment '$deployment' in $resource_group; show its outputs again with
  az deployment group show --resource-group $resource_group --name $deployment --query properties.outputs
Next, docs/deploy.md step 3: in the Defender portal (Streaming API, Forward events to Azure Event Hub):
  Event Hub resource ID: $(output eventHubNamespaceResourceId)
  Event Hub name:        $(output eventHubName)
DONE
