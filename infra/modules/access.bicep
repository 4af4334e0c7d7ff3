// Role assignments in the app's resource group, least privilege, all for the one identity the app
// authenticates as:
//   Storage Blob Data Owner        account  host leases, Event Hubs checkpoints, deadletter blobs,
//                                           the deployment package (the host needs Owner, not
//                                           Contributor, for its own containers)
//   Storage Queue Data Contributor account  misp-matches output and trigger, poison queue; it
//                                           includes Message Sender and Message Processor
//   Storage Table Data Contributor account  the host's diagnostic events (AzureWebJobsStorage
//                                           tables); alert state kept in Table storage
//   Key Vault Secrets User         secret   the MISP key only, not the whole vault
//   Monitoring Metrics Publisher   App Insights  telemetry with Entra ID (local auth is off)
//   Monitoring Metrics Publisher   DCR      Sentinel Logs Ingestion (only when enabled)
// Event Hubs Data Receiver is in eventhub-access.bicep (the hub may be in another group).
//
// And, on Elastic Premium only, for whoever runs infra/deploy.sh (deployerPrincipalId):
//   Storage Blob Data Contributor  app-package container  upload the zip the app runs from; the
//                                                        account's shared keys are off, so
//                                                        `az storage blob upload --auth-mode login`
//                                                        needs a data role
param principalId string
param storageAccountName string
param keyVaultName string
param mispApiKeySecretName string
param appInsightsName string

@description('Data collection rule name, or empty when Sentinel is off.')
param dataCollectionRuleName string

@description('Object id of the identity that uploads the Elastic Premium package, or empty (Flex, or granted by hand).')
param deployerPrincipalId string

@description('Container the package is uploaded to.')
param deploymentContainerName string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deploymentContainerName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: mispApiKeySecretName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' existing = if (!empty(dataCollectionRuleName)) {
  name: empty(dataCollectionRuleName) ? 'unused' : dataCollectionRuleName
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// No principalType: the deployer may be a user or a service principal (a pipeline).
resource packageUploader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(packageContainer.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: packageContainer
  properties: {
    principalId: deployerPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(secret.id, principalId, roles.keyVaultSecretsUser)
  scope: secret
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource ingestionPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dataCollectionRuleName)) {
  name: guid(rule.id, principalId, roles.monitoringMetricsPublisher)
  scope: rule
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}
