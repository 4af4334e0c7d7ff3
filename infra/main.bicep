// defender-misp: everything the custom handler needs in one resource group.
//
//   Event Hub (Defender Streaming API) -> MatchEvents -> queue misp-matches -> RaiseAlerts -> Defender
//                                                      \-> blob container deadletter
//
// Flex Consumption by default, Elastic Premium by `hostingPlan`. Every connection is identity-based:
// no storage, Event Hubs or Application Insights key is placed in an app setting, and the MISP key
// lives in Key Vault. The Defender API permissions are Entra ID app roles, granted after this
// deployment by `infra/grant-defender-roles.sh` (ARM cannot grant them).
//
// Checked offline with tree-sitter-bicep (cargo test --test infra) and checkov; only Azure can
// confirm the values marked UNCONFIRMED (see docs/deploy.md, "What was verified where").
targetScope = 'resourceGroup'

@description('Short name used to derive resource names (lowercase letters, digits, hyphens).')
@minLength(3)
@maxLength(16)
param baseName string = 'defmisp'

@description('Region of every resource except an existing Event Hub.')
param location string = resourceGroup().location

@description('FlexConsumption (default, scales to zero) or ElasticPremium (always warm, EP1-EP3).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption: instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int = 2048

// The one place this range is stated (the module takes it as is; docs/deploy.md quotes it and
// tests/docs checks the quote): 1..1000 as Microsoft Learn's Flex Consumption plan page gives it.
// Values below 40 reached regions in stages during 2026; a region that still rejects them
// fails the deployment with a message naming the property, and 40 works everywhere.
@description('Flex Consumption: most instances the app scales out to (1-1000). Event Hubs scaling stops at one instance per partition anyway.')
@minValue(1)
@maxValue(1000)
param flexMaximumInstanceCount int = 40

@description('Elastic Premium: plan SKU.')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Elastic Premium: most instances the plan scales out to.')
@minValue(1)
@maxValue(100)
param premiumMaximumElasticWorkerCount int = 10

@description('Name of a user-assigned identity to create and use for every connection. Empty: the system-assigned identity is used.')
param userAssignedIdentityName string = ''

@description('Name of an existing Event Hubs namespace Defender already streams to. Empty: a new namespace and hub are created here.')
param existingEventHubNamespaceName string = ''

@description('Resource group of the existing Event Hubs namespace (same subscription).')
param existingEventHubResourceGroup string = resourceGroup().name

@description('The ONE named hub Defender streams every selected table to (existing, or created here).')
param eventHubName string = 'defender-stream'

@description('New namespace only: partitions of the new hub (fixed after creation on Standard). The app runs at most one instance per partition.')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 4

@description('New namespace only: days events are kept. A new consumer group starts from the oldest retained event (host.json initialOffsetOptions fromStart).')
@minValue(1)
@maxValue(7)
param eventHubRetentionDays int = 1

@description('New namespace only: turn off SAS keys on the namespace. Leave false until you have confirmed that the Defender export still works without them.')
param eventHubDisableLocalAuth bool = false

@description('Consumer group of our own on the hub. Never $Default: other readers of the hub would steal partitions from us.')
@minLength(1)
@maxLength(50)
param eventHubConsumerGroupName string = 'defender-misp'

@description('Base URL of the MISP server, e.g. https://misp.example.org.')
param mispUrl string

@description('MISP automation key. Stored only in Key Vault; the app setting is a Key Vault reference.')
@secure()
param mispApiKey string

@description('MISP_DEADLINE_SECS: all MISP work of one invocation ends within this. Must stay well below host.json functionTimeout (600 s).')
@minValue(1)
@maxValue(300)
param mispDeadlineSeconds int = 60

@description('Create the Sentinel pieces (DCE, DCR, custom table DefenderMispMatches_CL, Sentinel on the workspace, the analytics rule) and set SENTINEL_* app settings. On by default: after the MDE API retires (2027-02-01) it is the only alert path (docs/alerting.md).')
param enableSentinel bool = true

@description('Sentinel analytics rule kind: NRT (runs every minute; ARM knows the kind only in a preview API version) or Scheduled (every 5 minutes, stable API version).')
@allowed([
  'NRT'
  'Scheduled'
])
param sentinelAlertRuleKind string = 'NRT'

@description('Sentinel incidents group the alerts of one device and one MISP event raised within this ISO 8601 duration (5 minutes to 7 days).')
param sentinelIncidentGroupingWindow string = 'PT24H'

@description('Whether the Sentinel analytics rule runs once deployed.')
param sentinelAlertRuleEnabled bool = true

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Elastic Premium: object id of the identity that runs infra/deploy.sh, given Storage Blob Data Contributor on the package container so it can upload the zip (shared keys are off). deploy.sh passes the signed-in identity; empty grants nothing. Unused on Flex.')
param deployerPrincipalId string = ''

@description('More app settings (name to string value), e.g. DEFENDER_INDICATOR_ACTION or MISP_CACHE_CAPACITY. Applied last, so they override the defaults here.')
param extraAppSettings object = {}

@description('Tags applied to every resource.')
param tags object = {
  workload: 'defender-misp'
}

var suffix = take(uniqueString(subscription().id, resourceGroup().id, baseName), 8)
var compactName = toLower(replace(baseName, '-', ''))
var names = {
  storage: take('st${compactName}${suffix}', 24)
  keyVault: take('kv-${take(compactName, 12)}-${suffix}', 24)
  plan: 'plan-${baseName}-${suffix}'
  app: 'func-${baseName}-${suffix}'
  logs: 'log-${baseName}-${suffix}'
  appInsights: 'appi-${baseName}-${suffix}'
  eventHubNamespace: empty(existingEventHubNamespaceName) ? 'evhns-${baseName}-${suffix}' : existingEventHubNamespaceName
  dce: 'dce-${baseName}-${suffix}'
  dcr: 'dcr-${baseName}-${suffix}'
}
var useExistingEventHub = !empty(existingEventHubNamespaceName)
var eventHubResourceGroup = useExistingEventHub ? existingEventHubResourceGroup : resourceGroup().name
var useUserAssigned = !empty(userAssignedIdentityName)
var deploymentContainerName = 'app-package'

resource userIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (useUserAssigned) {
  name: useUserAssigned ? userAssignedIdentityName : 'unused'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: names.logs
    appInsightsName: names.appInsights
    retentionDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    accountName: names.storage
    deploymentContainerName: deploymentContainerName
  }
}

module eventHub 'modules/eventhub.bicep' = {
  name: 'eventhub'
  scope: resourceGroup(eventHubResourceGroup)
  params: {
    location: location
    tags: tags
    createNamespace: !useExistingEventHub
    namespaceName: names.eventHubNamespace
    eventHubName: eventHubName
    partitionCount: eventHubPartitionCount
    retentionDays: eventHubRetentionDays
    disableLocalAuth: eventHubDisableLocalAuth
    consumerGroupName: eventHubConsumerGroupName
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    vaultName: names.keyVault
    mispApiKey: mispApiKey
  }
}

module sentinel 'modules/sentinel.bicep' = if (enableSentinel) {
  name: 'sentinel'
  params: {
    location: location
    tags: tags
    workspaceName: monitoring.outputs.workspaceName
    endpointName: names.dce
    ruleName: names.dcr
    alertRuleKind: sentinelAlertRuleKind
    incidentGroupingWindow: sentinelIncidentGroupingWindow
    alertRuleEnabled: sentinelAlertRuleEnabled
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: tags
    planName: names.plan
    appName: names.app
    hostingPlan: hostingPlan
    flexInstanceMemoryMB: flexInstanceMemoryMB
    flexMaximumInstanceCount: flexMaximumInstanceCount
    premiumSku: premiumSku
    premiumMaximumElasticWorkerCount: premiumMaximumElasticWorkerCount
    userAssignedIdentityId: useUserAssigned ? userIdentity.id : ''
    userAssignedClientId: useUserAssigned ? userIdentity!.properties.clientId : ''
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    eventHubFullyQualifiedNamespace: eventHub.outputs.fullyQualifiedNamespace
    eventHubName: eventHub.outputs.eventHubName
    eventHubConsumerGroupName: eventHub.outputs.consumerGroupName
    mispUrl: mispUrl
    mispApiKeySecretUri: keyVault.outputs.mispApiKeySecretUri
    mispDeadlineSeconds: mispDeadlineSeconds
    sentinelEndpoint: enableSentinel ? sentinel!.outputs.logsIngestionEndpoint : ''
    sentinelRuleImmutableId: enableSentinel ? sentinel!.outputs.ruleImmutableId : ''
    sentinelStream: enableSentinel ? sentinel!.outputs.streamName : ''
    extraAppSettings: extraAppSettings
  }
}

// The identity every connection authenticates as: the user-assigned one when chosen.
var runtimePrincipalId = useUserAssigned ? userIdentity!.properties.principalId : functionApp.outputs.systemPrincipalId

module access 'modules/access.bicep' = {
  name: 'access'
  params: {
    principalId: runtimePrincipalId
    storageAccountName: storage.outputs.accountName
    keyVaultName: keyVault.outputs.vaultName
    mispApiKeySecretName: keyVault.outputs.mispApiKeySecretName
    appInsightsName: monitoring.outputs.appInsightsName
    dataCollectionRuleName: enableSentinel ? names.dcr : ''
    deployerPrincipalId: hostingPlan == 'ElasticPremium' ? deployerPrincipalId : ''
    deploymentContainerName: deploymentContainerName
  }
  dependsOn: [
    sentinel
  ]
}

module eventHubAccess 'modules/eventhub-access.bicep' = {
  name: 'eventhub-access'
  scope: resourceGroup(eventHubResourceGroup)
  params: {
    principalId: runtimePrincipalId
    namespaceName: names.eventHubNamespace
    eventHubName: eventHub.outputs.eventHubName
  }
}

@description('Name of the function app (deploy the package to it).')
output functionAppName string = functionApp.outputs.appName

@description('Principal (object) id of the identity the app uses: pass it to grant-defender-roles.sh.')
output principalId string = runtimePrincipalId

@description('Hosting plan in use; decides how infra/deploy.sh uploads the package.')
output hostingPlan string = hostingPlan

@description('Storage account of the app: queues misp-matches(-poison), container deadletter.')
output storageAccountName string = storage.outputs.accountName

@description('Blob URL the Elastic Premium app runs from (WEBSITE_RUN_FROM_PACKAGE). Unused on Flex.')
output packageBlobUrl string = functionApp.outputs.packageBlobUrl

@description('Key Vault holding the MISP key (soft-deleted for 90 days after a teardown; infra/recover-key-vault.sh brings it back).')
output keyVaultName string = keyVault.outputs.vaultName

@description('Event Hubs namespace Defender must stream to (the Streaming API asks for this resource id), and its hub.')
output eventHubNamespaceResourceId string = eventHub.outputs.namespaceId
output eventHubName string = eventHub.outputs.eventHubName

@description('Host name of the Event Hubs namespace, for a test sender (docs/deploy.md, step 5).')
output eventHubFullyQualifiedNamespace string = eventHub.outputs.fullyQualifiedNamespace
