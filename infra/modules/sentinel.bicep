// Optional Sentinel pieces for the Logs Ingestion action of RaiseAlerts: a data collection
// endpoint, the custom table DefenderMispMatches_CL in the app's workspace (enable Microsoft
// Sentinel on that workspace to hunt on it) and a data collection rule that routes the stream
// Custom-DefenderMispMatches_CL into the table.
//
// The columns mirror the match record (src/matches.rs) as the alerting code sends it; a column the
// rule does not declare is dropped silently, so keep this list in step with SENTINEL_STREAM's
// payload (UNCONFIRMED until RaiseAlerts' Sentinel action is merged and run against Azure).
param location string
param tags object
param workspaceName string
param endpointName string
param ruleName string

var tableName = 'DefenderMispMatches_CL'
var streamName = 'Custom-${tableName}'
var columns = [
  {
    name: 'TimeGenerated'
    type: 'datetime'
  }
  {
    name: 'MatchId'
    type: 'string'
  }
  {
    name: 'DeviceId'
    type: 'string'
  }
  {
    name: 'DeviceName'
    type: 'string'
  }
  {
    name: 'ReportId'
    type: 'string'
  }
  {
    name: 'RecordTimestamp'
    type: 'datetime'
  }
  {
    name: 'Category'
    type: 'string'
  }
  {
    name: 'Hash'
    type: 'string'
  }
  {
    name: 'HashType'
    type: 'string'
  }
  {
    name: 'FileName'
    type: 'string'
  }
  {
    name: 'FolderPath'
    type: 'string'
  }
  {
    name: 'Intel'
    type: 'dynamic'
  }
  {
    name: 'Actions'
    type: 'dynamic'
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics'
    schema: {
      name: tableName
      columns: columns
    }
  }
}

resource endpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: endpointName
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: ruleName
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: endpoint.id
    streamDeclarations: {
      '${streamName}': {
        columns: columns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: streamName
      }
    ]
  }
  dependsOn: [
    table
  ]
}

output logsIngestionEndpoint string = endpoint.properties.logsIngestion.endpoint
output ruleImmutableId string = rule.properties.immutableId
output ruleName string = rule.name
output streamName string = streamName
