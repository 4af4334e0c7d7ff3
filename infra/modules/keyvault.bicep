// Key Vault (RBAC authorisation, no access policies) holding the MISP automation key. The app reads
// it through a Key Vault reference in its app settings.
param location string
param tags object
param vaultName string

@secure()
param mispApiKey string

var secretName = 'misp-api-key'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:No virtual network in this template; App Service resolves Key Vault references over the public endpoint unless the app is VNet-integrated. Access is Entra ID RBAC only.
  // checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109: public network access is needed for Key Vault references without VNet integration.
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:A MISP automation key has no expiry of its own; rotation is manual (docs/deploy.md, "Rotating the MISP key") and an expiry date here would only break the app silently.
  parent: vault
  name: secretName
  properties: {
    value: mispApiKey
    contentType: 'MISP automation key'
  }
}

output vaultName string = vault.name
output mispApiKeySecretName string = secret.name
// Versionless: the app picks up a rotated key on its next Key Vault reference refresh.
output mispApiKeySecretUri string = '${vault.properties.vaultUri}secrets/${secretName}'
