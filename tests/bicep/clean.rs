//! The other half of the proof: a project that uses every construct the checker models, all of
//! it correctly, gets no finding. Conditions, loops, `existing`, `parent`, nested children with
//! relative types, `union` of ternaries, module outputs, and Microsoft Sentinel analytics rules
//! discriminated by `kind` (Scheduled on a stable API version, NRT on the preview one: the
//! stable versions do not know NRT).

use std::collections::BTreeMap;

use crate::project;

const MAIN: &str = r#"targetScope = 'resourceGroup'
param location string = resourceGroup().location
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param plan string = 'FlexConsumption'
@minValue(1)
@maxValue(1000)
param instances int = 40
param names array = [
  'a'
]
param enableRules bool = false
var isFlex = plan == 'FlexConsumption'
var common = {
  minTlsVersion: '1.2'
  http20Enabled: true
}
var premiumOnly = isFlex ? {} : {
  ftpsState: 'Disabled'
  functionAppScaleLimit: 10
}

resource farm 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan'
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    tier: 'FlexConsumption'
    name: 'FC1'
  } : {
    tier: 'ElasticPremium'
    name: 'EP1'
  }
  properties: union({
    reserved: true
  }, isFlex ? {} : {
    maximumElasticWorkerCount: 10
  })
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: union({
    serverFarmId: farm.id
    httpsOnly: true
    siteConfig: union(common, premiumOnly, {
      appSettings: [for n in names: {
        name: n
        value: string(instances)
      }]
    })
  }, isFlex ? {
    functionAppConfig: {
      scaleAndConcurrency: {
        maximumInstanceCount: instances
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  } : {})
  tags: {
    summary: m.outputs.summary
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stclean${uniqueString(resourceGroup().id)}'
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deadletter 'containers' = {
      name: 'deadletter'
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for n in names: {
  parent: blobs
  name: n
}]

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!isFlex) {
  name: guid(storage.id, 'reader')
  scope: storage
  properties: {
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'x')
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: 'logs'
}

resource scheduled 'Microsoft.SecurityInsights/alertRules@2025-09-01' = if (enableRules) {
  name: guid('scheduled')
  scope: workspace
  kind: 'Scheduled'
  properties: {
    displayName: 'MISP match'
    enabled: true
    query: 'DefenderMispMatches_CL'
    queryFrequency: 'PT5M'
    queryPeriod: 'PT5M'
    severity: 'High'
    triggerOperator: 'GreaterThan'
    triggerThreshold: 0
    suppressionDuration: 'PT1H'
    suppressionEnabled: false
  }
}

resource nrt 'Microsoft.SecurityInsights/alertRules@2025-10-01-preview' = if (enableRules) {
  name: guid('nrt')
  scope: workspace
  kind: 'NRT'
  properties: {
    displayName: 'MISP match (NRT)'
    enabled: true
    query: 'DefenderMispMatches_CL'
    severity: 'High'
    suppressionDuration: 'PT1H'
    suppressionEnabled: false
  }
}

module m 'modules/m.bicep' = {
  name: 'm'
  params: {
    instances: instances
    plan: plan
  }
}

output appName string = site.name
output principalId string = site.identity.principalId
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output ruleId string = enableRules ? nrt.id : ''
"#;

const MODULE: &str = r#"@minValue(1)
@maxValue(1000)
param instances int
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param plan string
param tier string = 'gold'
output summary string = '${plan}-${instances}-${tier}'
"#;

#[test]
fn a_project_using_every_construct_correctly_gets_no_finding() {
    let sources: BTreeMap<String, String> = [("main.bicep", MAIN), ("modules/m.bicep", MODULE)]
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    let report = project::check(&sources, &crate::store());
    assert!(
        report.findings.is_empty(),
        "false findings:\n{}",
        report.text()
    );
    assert_eq!(report.stats.resources, 11, "{:?}", report.stats);
    assert!(report.stats.values > 40, "{:?}", report.stats);
}
