// The Linux function app that runs the `defender-misp` custom handler, on Flex Consumption (default)
// or Elastic Premium.
//
// Flex: the runtime is `functionAppConfig.runtime` (name `custom`) and scaling is
// `functionAppConfig.scaleAndConcurrency`. Flex rejects the FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION app settings, WEBSITE_RUN_FROM_PACKAGE and the Premium siteConfig
// keys (ftpsState fails with ARM error 51021), so none is sent there: Premium-only keys are added
// with union() on Premium, never written as null on Flex. The package lives in a blob container
// read with the app's identity.
// Premium: FUNCTIONS_WORKER_RUNTIME=custom; the app runs from the package blob
// (WEBSITE_RUN_FROM_PACKAGE = blob URL read with the app's identity), which is what lets the storage
// account keep shared-key access off: no Azure Files content share (which needs a key) is used.
//
// The app's plan-specific parts are merged with union(), which checkov cannot evaluate: the checkov
// checks that look inside them are skipped on the resource, and tests/bicep/plans.rs evaluates the
// resource for each plan and asserts what they would check (httpsOnly, TLS 1.2, HTTP/2, FTPS off
// on Premium, a managed identity).
//
// Host storage is reached by its service URIs (AzureWebJobsStorage__blobServiceUri, __queueServiceUri,
// __tableServiceUri) taken from the account's own endpoints, so sovereign clouds work: the
// __accountName form assumes the public cloud's core.windows.net.
//
// functionTimeout is host.json's 00:10:00 on both plans (both allow up to unbounded, default 30 min).
// An invocation spends at most MISP_DEADLINE_SECS (default 60 s, capped at 300 s by main.bicep) on
// MISP, so 10 minutes leaves room for decoding, queue/blob outputs and one slow request; a timeout
// would restart the handler and fail every in-flight batch.
param location string
param tags object
param planName string
param appName string

@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string
param flexInstanceMemoryMB int

@description('Flex Consumption: most instances. Its range is stated once, on main.bicep\'s flexMaximumInstanceCount.')
param flexMaximumInstanceCount int
param premiumSku string
param premiumMaximumElasticWorkerCount int

@description('Resource id of a user-assigned identity, or empty for the system-assigned one.')
param userAssignedIdentityId string
param userAssignedClientId string

@description('The storage account\'s own endpoints (properties.primaryEndpoints), right in every cloud.')
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string
param eventHubFullyQualifiedNamespace string
param eventHubName string
param eventHubConsumerGroupName string
param mispUrl string
param mispApiKeySecretUri string
param mispDeadlineSeconds int
param sentinelEndpoint string
param sentinelRuleImmutableId string
param sentinelStream string
param extraAppSettings object

var isFlex = hostingPlan == 'FlexConsumption'
var useUserAssigned = !empty(userAssignedIdentityId)
var packageBlobUrl = '${blobEndpoint}${deploymentContainerName}/defender-misp.zip'

// Read by the Functions host and the bindings (connection names in */function.json).
var connectionSettings = {
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  EventHubConnection__fullyQualifiedNamespace: eventHubFullyQualifiedNamespace
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: useUserAssigned ? 'Authorization=AAD;ClientId=${userAssignedClientId}' : 'Authorization=AAD'
}

// A user-assigned identity must be named explicitly, or the SDKs fall back to the system one.
var userAssignedSettings = useUserAssigned ? {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: userAssignedClientId
  EventHubConnection__credential: 'managedidentity'
  EventHubConnection__clientId: userAssignedClientId
  MANAGED_IDENTITY_CLIENT_ID: userAssignedClientId
} : {}

// Read by the handler (declared in src/settings/vars.rs) and by MatchEvents/function.json.
var handlerSettings = {
  EVENTHUB_NAME: eventHubName
  EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroupName
  MISP_URL: mispUrl
  MISP_API_KEY: '@Microsoft.KeyVault(SecretUri=${mispApiKeySecretUri})'
  MISP_DEADLINE_SECS: string(mispDeadlineSeconds)
  AZURE_AUTH: 'managed-identity'
  RUST_LOG: 'info'
}

var premiumSettings = isFlex ? {} : {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  WEBSITE_RUN_FROM_PACKAGE: packageBlobUrl
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: useUserAssigned ? userAssignedIdentityId : 'SystemAssigned'
}

var sentinelSettings = empty(sentinelEndpoint) ? {} : {
  SENTINEL_DCE_URL: sentinelEndpoint
  SENTINEL_DCR_ID: sentinelRuleImmutableId
  SENTINEL_STREAM: sentinelStream
}

var allSettings = union(connectionSettings, userAssignedSettings, handlerSettings, premiumSettings, sentinelSettings, extraAppSettings)
var appSettings = [for setting in items(allSettings): {
  name: setting.key
  value: string(setting.value)
}]

// Sent on both plans.
var siteConfigCommon = {
  appSettings: appSettings
  minTlsVersion: '1.2'
  http20Enabled: true
}

// Premium only: Flex rejects ftpsState (ARM error 51021) and scales by functionAppConfig instead.
// linuxFxVersion is left unset on both: the static musl binary needs nothing from the image
// (UNCONFIRMED whether Premium then picks the image `az functionapp create --runtime custom` would).
var siteConfigPremium = isFlex ? {} : {
  ftpsState: 'Disabled'
  functionAppScaleLimit: premiumMaximumElasticWorkerCount
  minimumElasticInstanceCount: 1
}

// Flex only.
var flexProperties = {
  functionAppConfig: {
    deployment: {
      storage: {
        type: 'blobContainer'
        value: '${blobEndpoint}${deploymentContainerName}'
        authentication: useUserAssigned ? {
          type: 'UserAssignedIdentity'
          userAssignedIdentityResourceId: userAssignedIdentityId
        } : {
          type: 'SystemAssignedIdentity'
        }
      }
    }
    scaleAndConcurrency: {
      maximumInstanceCount: flexMaximumInstanceCount
      instanceMemoryMB: flexInstanceMemoryMB
    }
    // UNCONFIRMED: Flex lists `custom` as a supported runtime (migration doc, 2026-04), but
    // the version string it expects for `custom` could not be checked offline; `1.0` is our
    // best reading. If the deployment rejects it, run
    // `az functionapp list-flexconsumption-runtimes --location <region> --runtime custom`.
    runtime: {
      name: 'custom'
      version: '1.0'
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy is a regional, cost-bearing choice (on Premium it means at least three always-ready instances); add zoneRedundant to the plan where the region and budget allow.
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    tier: 'FlexConsumption'
    name: 'FC1'
  } : {
    tier: 'ElasticPremium'
    name: premiumSku
  }
  properties: union({
    reserved: true
  }, isFlex ? {} : {
    maximumElasticWorkerCount: premiumMaximumElasticWorkerCount
  })
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_16:The identity block is always present (system-assigned, plus user-assigned by parameter); checkov cannot evaluate the conditional type.
  // checkov:skip=CKV_AZURE_222:No virtual network in this template, and `az functionapp deployment source config-zip` needs the public SCM endpoint. The app has no HTTP trigger to expose.
  // checkov:skip=CKV_AZURE_17:Client certificates guard HTTP triggers; this app has only Event Hub and queue triggers.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero by design; on Premium one instance is always ready (minimumElasticInstanceCount). Event Hubs redelivers from the checkpoint after an instance loss.
  // checkov:skip=CKV_AZURE_213:Health check pings an HTTP path; the app serves none (the custom handler's GET / is internal to the host).
  // checkov:skip=CKV_AZURE_71:The identity is always managed: SystemAssigned, plus UserAssigned by parameter (asserted by tests/bicep/plans.rs; checkov cannot evaluate the conditional object).
  // checkov:skip=CKV_AZURE_14:httpsOnly is true on both plans (asserted by tests/bicep/plans.rs; checkov cannot see through union()).
  // checkov:skip=CKV_AZURE_70:httpsOnly is true on both plans (asserted by tests/bicep/plans.rs; checkov cannot see through union()).
  name: appName
  location: location
  // checkov:skip=CKV_AZURE_67:siteConfig.http20Enabled is true on both plans (asserted by tests/bicep/plans.rs; checkov cannot see through union()).
  // checkov:skip=CKV_AZURE_78:ftpsState is Disabled on Premium (asserted by tests/bicep/plans.rs); Flex Consumption rejects the property (ARM error 51021), so it is not sent there.
  tags: tags
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_153:No deployment slots; httpsOnly is true on both plans (asserted by tests/bicep/plans.rs).
  // checkov:skip=CKV_AZURE_15:siteConfig.minTlsVersion is 1.2 on both plans (asserted by tests/bicep/plans.rs; checkov cannot see through union()).
  // checkov:skip=CKV_AZURE_18:siteConfig.http20Enabled is true on both plans (asserted by tests/bicep/plans.rs; checkov cannot see through union()).
  identity: useUserAssigned ? {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${userAssignedIdentityId}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: union({
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: useUserAssigned ? userAssignedIdentityId : 'SystemAssigned'
    siteConfig: union(siteConfigCommon, siteConfigPremium)
  }, isFlex ? flexProperties : {})
}

output appName string = app.name
output systemPrincipalId string = app.identity.principalId
output packageBlobUrl string = isFlex ? '' : packageBlobUrl
