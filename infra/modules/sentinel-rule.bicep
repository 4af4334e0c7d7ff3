// The Microsoft Sentinel analytics rule that turns rows of DefenderMispMatches_CL into alerts and
// incidents: the alert path that does not depend on the MDE API retired on 2027-02-01.
//
// One alert per device and MISP event (the query summarizes by DeviceId and MispEventUuid, and each
// result row is its own alert), titled from the MISP event info, severity from the MISP threat
// level, with Host, FileHash and File entities and custom details; incidents group the alerts of one
// device and one MISP event over `incidentGroupingWindow`. The query is sentinel/matches-rule.kql,
// checked offline by Microsoft's Kusto parser (scripts/check-kql) against sentinel/matches-table.json.
//
// Kind (docs/alerting.md, "NRT or Scheduled"): NRT runs every minute on the rows ingested in the
// minute before, but Azure Resource Manager accepts kind NRT only in preview API versions
// (2025-10-01-preview here); Scheduled runs every 5 minutes on the stable 2025-09-01. The two kinds
// get different rule ids, because a rule's kind cannot change: after switching, delete the old rule.
//
// The workspace must be onboarded to Microsoft Sentinel (onboardingStates 'default'); PUT on an
// onboarded workspace is expected to leave it as it is (UNCONFIRMED until run against Azure).
param workspaceName string

@description('NRT (every minute, preview API version) or Scheduled (every 5 minutes, stable API version).')
@allowed([
  'NRT'
  'Scheduled'
])
param ruleKind string

@description('Alerts of one device and one MISP event within this ISO 8601 duration join one incident (5 minutes to 7 days).')
param incidentGroupingWindow string

@description('Whether the rule runs once deployed.')
param ruleEnabled bool

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource onboarding 'Microsoft.SecurityInsights/onboardingStates@2025-09-01' = {
  name: 'default'
  scope: workspace
  properties: {}
}

var ruleProperties = {
  displayName: 'MISP threat intel: a device has a file from a MISP event (defender-misp)'
  description: 'A file hash in the Defender XDR stream matches a MISP attribute. defender-misp writes each match to DefenderMispMatches_CL; this rule raises one alert per device and MISP event, with a link to the MISP event. Tune it in docs/alerting.md.'
  severity: 'Medium'
  enabled: ruleEnabled
  query: loadTextContent('sentinel/matches-rule.kql')
  suppressionEnabled: false
  suppressionDuration: 'PT5H'
  eventGroupingSettings: {
    aggregationKind: 'AlertPerResult'
  }
  alertDetailsOverride: {
    alertDisplayNameFormat: '{{AlertTitle}}'
    alertDescriptionFormat: '{{AlertDescription}}'
    alertSeverityColumnName: 'AlertSeverity'
  }
  customDetails: {
    MdeDeviceId: 'DeviceId'
    MispEventUuid: 'MispEventUuid'
    MispEventUrl: 'MispEventUrl'
    MispTags: 'MispTagList'
    MispAttributeUuid: 'MispAttributeUuid'
    ReportId: 'ReportId'
    MatchId: 'MatchId'
    MatchCount: 'MatchCount'
    IndicatorKind: 'IndicatorKind'
    IndicatorValue: 'IndicatorValue'
  }
  entityMappings: [
    {
      entityType: 'Host'
      fieldMappings: [
        {
          identifier: 'HostName'
          columnName: 'HostName'
        }
        {
          identifier: 'DnsDomain'
          columnName: 'DnsDomain'
        }
      ]
    }
    {
      entityType: 'FileHash'
      fieldMappings: [
        {
          identifier: 'Algorithm'
          columnName: 'HashAlgorithm'
        }
        {
          identifier: 'Value'
          columnName: 'Hash'
        }
      ]
    }
    {
      entityType: 'File'
      fieldMappings: [
        {
          identifier: 'Name'
          columnName: 'FileName'
        }
        {
          identifier: 'Directory'
          columnName: 'FileDirectory'
        }
      ]
    }
    {
      entityType: 'IP'
      fieldMappings: [
        {
          identifier: 'Address'
          columnName: 'IndicatorAddress'
        }
      ]
    }
    {
      entityType: 'URL'
      fieldMappings: [
        {
          identifier: 'Url'
          columnName: 'IndicatorUrl'
        }
      ]
    }
  ]
  incidentConfiguration: {
    createIncident: true
    groupingConfiguration: {
      enabled: true
      reopenClosedIncident: false
      lookbackDuration: incidentGroupingWindow
      matchingMethod: 'Selected'
      groupByEntities: [
        'Host'
      ]
      groupByAlertDetails: []
      groupByCustomDetails: [
        'MdeDeviceId'
        'MispEventUuid'
      ]
    }
  }
}

resource nrtRule 'Microsoft.SecurityInsights/alertRules@2025-10-01-preview' = if (ruleKind == 'NRT') {
  name: guid(workspace.id, 'defender-misp-matches', 'NRT')
  scope: workspace
  kind: 'NRT'
  properties: ruleProperties
  dependsOn: [
    onboarding
  ]
}

resource scheduledRule 'Microsoft.SecurityInsights/alertRules@2025-09-01' = if (ruleKind == 'Scheduled') {
  name: guid(workspace.id, 'defender-misp-matches', 'Scheduled')
  scope: workspace
  kind: 'Scheduled'
  properties: union(ruleProperties, {
    queryFrequency: 'PT5M'
    queryPeriod: 'PT5M'
    triggerOperator: 'GreaterThan'
    triggerThreshold: 0
  })
  dependsOn: [
    onboarding
  ]
}
