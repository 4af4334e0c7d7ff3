// The Sentinel pieces of RaiseAlerts' Logs Ingestion action: a data collection endpoint, the custom
// table DefenderMispMatches_CL in the app's workspace, a data collection rule that routes the stream
// Custom-DefenderMispMatches_CL into the table, and (sentinel-rule.bicep) the analytics rule that
// raises alerts and incidents from its rows.
//
// The Logs Ingestion API keeps only the properties a stream declares, matched by exact name, so the
// row the handler sends (src/alerts/sentinel/row.rs) and the columns here are one contract:
// sentinel/matches-table.json, checked against the handler's rows by tests/api/sentinel.rs.
param location string
param tags object
param workspaceName string
param endpointName string
param ruleName string

@description('Analytics rule kind: NRT (every minute, preview API version) or Scheduled (every 5 minutes, stable).')
param alertRuleKind string

@description('Alerts of one device and MISP event within this ISO 8601 duration join one incident.')
param incidentGroupingWindow string

@description('Whether the analytics rule runs once deployed.')
param alertRuleEnabled bool

var tableName = 'DefenderMispMatches_CL'
var streamName = 'Custom-${tableName}'
// One definition of the columns, read by the table, the stream declaration, the handler's contract
// test (tests/api/sentinel.rs) and the KQL check (scripts/check-kql). The descriptions go to the table only:
// a stream column has just a name and a type.
var columnDefinitions = loadJsonContent('sentinel/matches-table.json')
var streamColumns = [for c in columnDefinitions: {
  name: c.name
  type: c.type
}]
var tableColumns = [for c in columnDefinitions: {
  name: c.name
  type: c.type
  description: c.description
}]

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
      columns: tableColumns
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
        columns: streamColumns
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
        transformKql: loadTextContent('sentinel/matches-transform.kql')
        outputStream: streamName
      }
    ]
  }
  dependsOn: [
    table
  ]
}

module analyticsRule 'sentinel-rule.bicep' = {
  name: 'sentinel-rule'
  params: {
    workspaceName: workspaceName
    ruleKind: alertRuleKind
    incidentGroupingWindow: incidentGroupingWindow
    ruleEnabled: alertRuleEnabled
  }
  // The rule's query is validated against the workspace when the rule is saved: the table first.
  dependsOn: [
    table
  ]
}

output logsIngestionEndpoint string = endpoint.properties.logsIngestion.endpoint
output ruleImmutableId string = rule.properties.immutableId
output ruleName string = rule.name
output streamName string = streamName
