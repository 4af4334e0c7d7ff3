#!/usr/bin/env bash
# Recovers the soft-deleted Key Vault of an earlier deployment of infra/main.bicep into the same
# resource group, so that deploying again after a teardown reuses it instead of failing on its
# name. infra/deploy.sh runs it before every deployment; it changes nothing when there is no
# such vault.
#
# Why: the vault has purge protection, so after `az group delete` it stays soft-deleted for 90
# days and nobody can purge it; its name stays taken until then. main.bicep names it
# kv-<baseName without hyphens, lowercased, first 12 characters>-<8 characters fixed by the
# subscription, the resource group and baseName>, so a deleted vault that lived in this
# subscription and resource group and starts with kv-<that prefix>- is exactly the one the
# deployment would create again. Recovering it brings back its secrets and settings; the
# deployment then updates it and writes the MISP key as a new secret version.
#
# Needs: Key Vault Contributor or Contributor on the resource group (to recover), and reading the
# subscription's deleted vaults (Microsoft.KeyVault/locations/deletedVaults/read, in Reader on
# the subscription). Without the read permission it says what to run and changes nothing.
#
# Usage: infra/recover-key-vault.sh --resource-group <rg> [--base-name <baseName>]
#   (baseName defaults to the one in infra/main.parameters.json)
set -euo pipefail

resource_group=""
base_name="$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["parameters"].get("baseName", {}).get("value", "defmisp"))' \
  "$(dirname "${BASH_SOURCE[0]}")/main.parameters.json" 2>/dev/null || echo defmisp)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group | -g) resource_group="${2:?}"; shift 2 ;;
    --base-name) base_name="${2:?}"; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$resource_group" ]] || { echo "--resource-group is required" >&2; exit 2; }

compact="$(printf '%s' "$base_name" | tr -d '-' | tr '[:upper:]' '[:lower:]' | cut -c1-12)"
prefix="kv-$compact-"
subscription="$(az account show --query id --output tsv)"

if ! deleted="$(az keyvault list-deleted --resource-type vault \
  --query "[?starts_with(name, '$prefix')].[name, properties.vaultId]" --output tsv 2>&1)"; then
  echo "recover-key-vault: cannot list the subscription's deleted vaults:" >&2
  echo "  $deleted" >&2
  echo "  If the deployment then fails on the vault name (VaultAlreadyExists / soft-deleted), a" >&2
  echo "  subscription Reader can look it up with 'az keyvault list-deleted' and you can run" >&2
  echo "  'az keyvault recover --name <kv-name>'." >&2
  exit 0
fi

expected_parent="/subscriptions/$subscription/resourcegroups/$resource_group/providers/microsoft.keyvault/vaults"
found=""
while IFS=$'\t' read -r name vault_id; do
  [[ -n "$name" ]] || continue
  if [[ "${vault_id,,}" == "${expected_parent,,}/${name,,}" ]]; then
    found="$name"
  fi
done <<<"$deleted"

if [[ -z "$found" ]]; then
  echo "recover-key-vault: no soft-deleted vault of this deployment (looked for $prefix* from $resource_group)"
  exit 0
fi
if [[ "$(az group exists --name "$resource_group" --output tsv)" != "true" ]]; then
  # A vault is recovered into the resource group it was deleted from; azd up may run this hook
  # before it has created the group. Nothing is changed: create the group and run this again.
  echo "recover-key-vault: the soft-deleted Key Vault $found belongs to $resource_group, which does" >&2
  echo "  not exist yet; the deployment would fail on its name. Create the group" >&2
  echo "  (az group create --name $resource_group --location <region>) and run this again." >&2
  exit 1
fi
echo "recover-key-vault: recovering the soft-deleted Key Vault $found (deleted with an earlier"
echo "  deployment of $resource_group; purge protection keeps its name for 90 days)"
az keyvault recover --name "$found" --output none
echo "recover-key-vault: $found is back; the deployment updates it"
