// The app's storage account: host state (leases, Event Hubs checkpoints, the host's diagnostic
// events in Table storage), the handler's alert state table, the match queue and its poison queue,
// the dead-letter container and the deployment package container. Shared-key access
// is off on both plans: every client (host, bindings, Flex deployment, Premium run-from-package)
// authenticates with the app's managed identity.
param location string
param tags object
param accountName string
param deploymentContainerName string

@description('Replication; ZRS or GZRS where the region offers it.')
param skuName string = 'Standard_LRS'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:No virtual network in this template; the Functions host reaches storage over its public endpoint, authenticated by Entra ID only (shared keys are disabled).
  // checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: public endpoint required without VNet integration; anonymous and shared-key access are both disabled.
  // checkov:skip=CKV_AZURE_206:Replication is a parameter (skuName); LRS is the cost-conscious default for queue messages and dead letters that are replayable from the Event Hub.
  // checkov:skip=CKV_AZURE_43:The name is computed (st + baseName + uniqueString, lowercased, at most 24 characters), which checkov cannot evaluate.
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deadletter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'deadletter'
  properties: {
    publicAccess: 'None'
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource matchQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: 'misp-matches'
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: 'misp-matches-poison'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// The alert state every instance shares (src/alerts/ledger.rs): claims per match and per file,
// and the Defender call budgets. The handler also creates it at start if it is missing; its name
// is the default of ALERT_STATE_TABLE.
resource alertStateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: 'defendermispstate'
}

output accountName string = account.name
output accountId string = account.id
// The account's own endpoints, right in every cloud (never built from core.windows.net).
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
