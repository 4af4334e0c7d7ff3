// The Event Hub Defender streams to: a new Standard namespace and hub, or an existing one (most
// teams already stream Defender somewhere). Either way a consumer group of our own is created;
// `$Default` is left to whoever else reads the hub. Deployed into the hub's resource group.
param location string
param tags object
param createNamespace bool
param namespaceName string
param eventHubName string
param partitionCount int
param retentionDays int
param disableLocalAuth bool
param consumerGroupName string

// Standard, not Basic: Basic allows only the $Default consumer group.
resource newNamespace 'Microsoft.EventHub/namespaces@2024-01-01' = if (createNamespace) {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: disableLocalAuth
    isAutoInflateEnabled: true
    maximumThroughputUnits: 4
  }
}

resource newHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = if (createNamespace) {
  parent: newNamespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  parent: namespace
  name: eventHubName
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
  properties: {
    userMetadata: 'defender-misp MatchEvents'
  }
  dependsOn: [
    newHub
  ]
}

output namespaceId string = namespace.id
// The namespace's own endpoint (https://<name>.servicebus.windows.net:443/ in the public cloud,
// another suffix in sovereign ones) reduced to the host name the Event Hubs trigger wants.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
output eventHubName string = hub.name
output eventHubId string = hub.id
output consumerGroupName string = consumerGroup.name
