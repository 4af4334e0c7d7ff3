#!/usr/bin/env bash
# Grants the function app's managed identity the WindowsDefenderATP application roles that
# RaiseAlerts needs, through Microsoft Graph (ARM/Bicep cannot grant Entra ID app roles):
#
#   Alert.ReadWrite.All  always (create alerts by reference)
#   Ti.ReadWrite.All     only with --indicators (DEFENDER_INDICATOR_ACTION set)
#
# Idempotent: existing assignments are found first and left alone. --dry-run only reads.
# The signed-in user (az login) needs Privileged Role Administrator or Global Administrator,
# and the tenant needs Microsoft Defender for Endpoint (the WindowsDefenderATP service principal).
#
# Usage:
#   infra/grant-defender-roles.sh --principal-id <object id> [--indicators] [--dry-run]
#   infra/grant-defender-roles.sh --app-name <function app> --resource-group <rg> [--indicators] [--dry-run]
set -euo pipefail

readonly DEFENDER_APP_ID="fc780465-2017-40d4-a0c5-307022471b92" # WindowsDefenderATP
# Role ids as published by WindowsDefenderATP; the script looks them up by name and warns on a mismatch.
declare -A KNOWN_ROLE_IDS=(
  ["Alert.ReadWrite.All"]="0f7000ec-157b-497f-b70e-ef0b0584f140"
  ["Ti.ReadWrite.All"]="fc511a58-3adf-4d71-af24-00f13e35e479"
)

principal_id=""
app_name=""
resource_group=""
indicators=false
dry_run=false

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --principal-id) principal_id="${2:?--principal-id needs a value}"; shift 2 ;;
    --app-name) app_name="${2:?--app-name needs a value}"; shift 2 ;;
    --resource-group) resource_group="${2:?--resource-group needs a value}"; shift 2 ;;
    --indicators) indicators=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

if [[ -z "$principal_id" ]]; then
  if [[ -z "$app_name" || -z "$resource_group" ]]; then
    echo "give --principal-id, or --app-name and --resource-group" >&2
    exit 2
  fi
  # The user-assigned identity when there is one (the app authenticates as it), else the system one.
  principal_id="$(az functionapp identity show --name "$app_name" --resource-group "$resource_group" \
    --query "userAssignedIdentities.*.principalId | [0]" --output tsv)"
  if [[ -z "$principal_id" ]]; then
    principal_id="$(az functionapp identity show --name "$app_name" --resource-group "$resource_group" \
      --query principalId --output tsv)"
  fi
  if [[ -z "$principal_id" ]]; then
    echo "$app_name has no managed identity" >&2
    exit 1
  fi
fi

# Microsoft Graph of the cloud az is signed in to (graph.microsoft.us, microsoftgraph.chinacloudapi.cn, …).
graph_resource="$(az cloud show --query endpoints.microsoftGraphResourceId --output tsv)"
[[ -n "$graph_resource" ]] || { echo "az cloud show names no Microsoft Graph endpoint" >&2; exit 1; }
readonly GRAPH="${graph_resource%/}/v1.0"

defender_sp="$(az rest --method get \
  --url "$GRAPH/servicePrincipals?\$filter=appId eq '$DEFENDER_APP_ID'&\$select=id" \
  --query "value[0].id" --output tsv)"
if [[ -z "$defender_sp" ]]; then
  echo "no WindowsDefenderATP service principal ($DEFENDER_APP_ID) in this tenant: is Defender for Endpoint enabled?" >&2
  exit 1
fi

roles=("Alert.ReadWrite.All")
if $indicators; then
  roles+=("Ti.ReadWrite.All")
fi

echo "managed identity (principal id): $principal_id"
echo "WindowsDefenderATP service principal: $defender_sp"
$dry_run && echo "dry run: nothing will be changed"

for role in "${roles[@]}"; do
  role_id="$(az rest --method get \
    --url "$GRAPH/servicePrincipals/$defender_sp?\$select=appRoles" \
    --query "appRoles[?value=='$role'].id | [0]" --output tsv)"
  if [[ -z "$role_id" ]]; then
    echo "WindowsDefenderATP has no app role $role" >&2
    exit 1
  fi
  if [[ "$role_id" != "${KNOWN_ROLE_IDS[$role]}" ]]; then
    echo "warning: $role has id $role_id, not the documented ${KNOWN_ROLE_IDS[$role]}; using $role_id" >&2
  fi

  existing="$(az rest --method get \
    --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" \
    --query "value[?resourceId=='$defender_sp' && appRoleId=='$role_id'].id | [0]" --output tsv)"
  if [[ -n "$existing" ]]; then
    echo "ok       $role (already assigned)"
    continue
  fi
  if $dry_run; then
    echo "would grant $role ($role_id)"
    continue
  fi
  az rest --method post \
    --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$defender_sp\",\"appRoleId\":\"$role_id\"}" \
    --output none
  echo "granted  $role ($role_id)"
done

if ! $indicators; then
  echo "Ti.ReadWrite.All not requested (pass --indicators when DEFENDER_INDICATOR_ACTION is set)"
fi
echo "A managed identity caches its token for up to 24 h: restart the function app to use new roles sooner."
