#!/usr/bin/env bash
# One command from an empty resource group to a running app:
#   1. provision infra/main.bicep (az deployment group create),
#   2. build dist/defender-misp.zip (scripts/package.sh) and check it (scripts/check-package.sh),
#   3. deploy it: Flex Consumption via `az functionapp deployment source config-zip`;
#      Elastic Premium by uploading the blob the app runs from (WEBSITE_RUN_FROM_PACKAGE), then
#      restart and sync triggers,
#   4. grant the Defender API roles (infra/grant-defender-roles.sh).
#
# The MISP key is read from the environment variable MISP_API_KEY (never from an argument, so it
# stays out of shell history and the process list) and goes only into Key Vault.
#
# Usage:
#   MISP_API_KEY=... infra/deploy.sh --resource-group <rg> [--location <region>]
#       [--parameters infra/main.parameters.json] [--param name=value ...]
#       [--indicators] [--skip-grant] [--skip-package]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

resource_group=""
location=""
parameters="infra/main.parameters.json"
extra=()
indicators=()
grant=true
package=true

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group | -g) resource_group="${2:?}"; shift 2 ;;
    --location | -l) location="${2:?}"; shift 2 ;;
    --parameters) parameters="${2:?}"; shift 2 ;;
    --param) extra+=("${2:?}"); shift 2 ;;
    --indicators) indicators=(--indicators); shift ;;
    --skip-grant) grant=false; shift ;;
    --skip-package) package=false; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$resource_group" ]] || { echo "--resource-group is required" >&2; exit 2; }
[[ -n "${MISP_API_KEY:-}" ]] || { echo "set MISP_API_KEY in the environment" >&2; exit 2; }

if [[ -n "$location" ]]; then
  az group create --name "$resource_group" --location "$location" --output none
fi

# The secure parameter travels in a private temporary file, not on a command line.
secret_params="$(mktemp)"
trap 'rm -f "$secret_params"' EXIT
chmod 600 "$secret_params"
python3 - "$secret_params" <<'PY'
import json, os, sys
json.dump({
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"mispApiKey": {"value": os.environ["MISP_API_KEY"]}},
}, open(sys.argv[1], "w"))
PY

deployment="defender-misp-$(date +%Y%m%d%H%M%S)"
echo "== provisioning ($deployment)"
outputs="$(az deployment group create \
  --resource-group "$resource_group" \
  --name "$deployment" \
  --template-file infra/main.bicep \
  --parameters "@$parameters" \
  --parameters "@$secret_params" \
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

if $package || [[ ! -f dist/defender-misp.zip ]]; then
  echo "== packaging"
  scripts/package.sh
fi
scripts/check-package.sh dist/defender-misp.zip

echo "== deploying the package"
if [[ "$plan" == "FlexConsumption" ]]; then
  az functionapp deployment source config-zip \
    --resource-group "$resource_group" --name "$app" --src dist/defender-misp.zip --output none
else
  # Needs Storage Blob Data Contributor (or Owner) for the signed-in user on the account.
  az storage blob upload --auth-mode login --account-name "$storage" \
    --container-name app-package --name defender-misp.zip \
    --file dist/defender-misp.zip --overwrite --output none
  az functionapp restart --resource-group "$resource_group" --name "$app"
  subscription="$(az account show --query id --output tsv)"
  az rest --method post --output none --url \
    "https://management.azure.com/subscriptions/$subscription/resourceGroups/$resource_group/providers/Microsoft.Web/sites/$app/syncfunctiontriggers?api-version=2022-03-01"
fi

if $grant; then
  echo "== granting Defender API roles"
  infra/grant-defender-roles.sh --principal-id "$principal" ${indicators[@]+"${indicators[@]}"}
fi

echo "done: $app. Next: point the Defender Streaming API at the hub (docs/deploy.md, step 3)."
