//! The checker proves it can fail: a small project with one mistake of every kind it claims to
//! find must produce exactly those findings, on those lines; a project using every construct
//! correctly (conditions, loops, `existing`, `parent`, nested children, `union`, ternaries,
//! kind-discriminated Sentinel rules on a stable and a preview API version, data collection
//! rules) must produce none.

use std::collections::BTreeMap;

use crate::project;

const PLANTED_MAIN: &str = r#"param location string = resourceGroup().location
@allowed([
  'FlexConsumption'
  'Consumption'
])
param plan string = 'FlexConsumption'
@minValue(1)
param instances int = 40
param names array = [
  'a'
]
var isFlex = plan == 'FlexConsumption'

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: location
  properties: {
    HttpsOnly: true
    clientCertEnabled: 'yes'
    state: 'Running'
    serverFarmId: farm.id
    bogusSetting: location
    siteConfig: {
      ftpsStat: 'Disabled'
      minTlsVersion: '1.2'
      functionAppScaleLimit: isFlex ? null : 5
      minimumElasticInstanceCount: 21
    }
  }
  tags: {
    output: m.outputs.idd
    endpoint: storage.properties.primaryEndpoints.tabel
  }
}

resource farm 'Microsoft.Web/serverfarms@2099-01-01' = {
  name: 'plan'
  location: location
}

resource typo 'Microsoft.Web/Sites@2024-04-01' = {
  name: 'other'
  location: location
}

resource missing 'Microsoft.Web/siteez@2024-04-01' = {
  name: 'none'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = if (isFlex) {
  name: 'st'
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Warm'
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
  properties: {}
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for n in names: {
  parent: storage
  name: n
  properties: {
    publicAccess: 'none'
  }
}]

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid('x')
  scope: storage
  properties: {
    roleDefinitionId: 'role'
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: 'logs'
}

resource rule 'Microsoft.SecurityInsights/alertRules@2025-09-01' = {
  name: 'rule'
  scope: workspace
  kind: 'NRT'
}

module m 'modules/m.bicep' = {
  name: 'm'
  params: {
    instances: instances
    plan: plan
    colour: 'red'
    tier: 3
  }
}
"#;

const PLANTED_MODULE: &str = r#"@minValue(40)
@maxValue(1000)
param instances int
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param plan string
param size int
param tier string = 'gold'
@allowed([
  'red'
])
param colourDefault string = 'blue'
output id string = '${plan}-${instances}-${size}-${tier}'
output count int = 'many'
output vault string = vault.properties.vaultUrl
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: 'kv'
}
"#;

/// (file, line, what the message must say): one per planted mistake.
const EXPECTED: &[(&str, usize, &str)] = &[
    (
        "main.bicep",
        6,
        "`plan` allows [\"Consumption\"], outside the @allowed of module `m`",
    ),
    (
        "main.bicep",
        8,
        "`instances` has @minValue(1), looser than @minValue(40) of module `m`",
    ),
    (
        "main.bicep",
        8,
        "`instances` has no @maxValue, but @maxValue(1000) holds in module `m`",
    ),
    (
        "main.bicep",
        18,
        "wrong casing: `site.properties.HttpsOnly` is spelled `httpsOnly`",
    ),
    (
        "main.bicep",
        19,
        "`site.properties.clientCertEnabled` expects bool but is given a string value",
    ),
    ("main.bicep", 20, "`site.properties.state` is read-only"),
    (
        "main.bicep",
        22,
        "unknown property `bogusSetting` in `site.properties`",
    ),
    (
        "main.bicep",
        24,
        "unknown property `ftpsStat` in `site.properties.siteConfig`: did you mean `ftpsState`?",
    ),
    (
        "main.bicep",
        26,
        "`site.properties.siteConfig.functionAppScaleLimit` is null",
    ),
    (
        "main.bicep",
        27,
        "`site.properties.siteConfig.minimumElasticInstanceCount` is 21, at most 20 allowed",
    ),
    ("main.bicep", 31, "the object has no property `idd`"),
    (
        "main.bicep",
        32,
        "`storage.properties.primaryEndpoints.tabel` cannot be read: object Endpoints has no property `tabel`",
    ),
    (
        "main.bicep",
        36,
        "Microsoft.Web/serverfarms has no API version 2099-01-01",
    ),
    (
        "main.bicep",
        41,
        "wrong casing: `Microsoft.Web/Sites@2024-04-01` is `Microsoft.Web/sites@2024-04-01`",
    ),
    (
        "main.bicep",
        46,
        "resource type Microsoft.Web/siteez does not exist",
    ),
    (
        "main.bicep",
        51,
        "`storage.name` is 2 characters, at least 3 allowed",
    ),
    (
        "main.bicep",
        58,
        "`storage.properties.accessTier` is 'Warm', not one of 'Hot' | 'Cool' | 'Premium' | 'Cold'",
    ),
    (
        "main.bicep",
        65,
        "`blobs` is `existing`: it takes only name, scope and parent, not `properties`",
    ),
    (
        "main.bicep",
        69,
        "cannot have parent `storage` (Microsoft.Storage/storageAccounts); its parent type is Microsoft.Storage/storageAccounts/blobServices",
    ),
    (
        "main.bicep",
        72,
        "wrong casing: `containers.properties.publicAccess` is 'none', write 'None'",
    ),
    (
        "main.bicep",
        79,
        "`assignment.properties` lacks the required property `principalId`",
    ),
    (
        "main.bicep",
        91,
        "`rule.kind` is 'NRT', not one of 'Fusion' | 'MicrosoftSecurityIncidentCreation' | 'Scheduled'",
    ),
    (
        "main.bicep",
        94,
        "module `m` (modules/m.bicep) does not pass its required parameter `size`",
    ),
    (
        "main.bicep",
        99,
        "module `m` (modules/m.bicep) has no parameter `colour`",
    ),
    (
        "main.bicep",
        100,
        "module `m` (modules/m.bicep) parameter `tier` is declared string but given a int value",
    ),
    (
        "modules/m.bicep",
        16,
        "output `count` is declared Int but given a String value",
    ),
    (
        "modules/m.bicep",
        17,
        "`vault.properties.vaultUrl` cannot be read",
    ),
    (
        "modules/m.bicep",
        14,
        "the default of `colourDefault` is 'blue', not one of its @allowed",
    ),
];

fn sources(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

#[test]
fn every_planted_mistake_is_reported_on_its_line_and_nothing_else() {
    let report = project::check(
        &sources(&[
            ("main.bicep", PLANTED_MAIN),
            ("modules/m.bicep", PLANTED_MODULE),
        ]),
        &crate::store(),
    );
    eprintln!(
        "planted mistakes, as the checker reports them:\n{}",
        report.text()
    );
    let mut unmatched: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    for (file, line, what) in EXPECTED {
        let found = report
            .findings
            .iter()
            .find(|f| f.file == *file && f.at.line == *line && f.message.contains(what));
        let Some(found) = found else {
            panic!(
                "not reported: {file}:{line}: …{what}…\nreported:\n{}",
                report.text()
            );
        };
        unmatched.retain(|f| *f != found.to_string());
    }
    assert!(
        unmatched.is_empty(),
        "reported beyond the planted mistakes:\n{}",
        unmatched.join("\n")
    );
}

/// A middle module that passes a parameter through without restating its bounds is as tight as
/// its callers make it: bounded at the top, nothing to report; loose at the top, reported where
/// the loose value enters the bounded module.
#[test]
fn a_pass_through_module_is_as_tight_as_its_callers() {
    let chain = |top_allowed: &str| {
        let top = format!(
            "@allowed([\n{top_allowed}\n])\nparam kind string = 'A'\nmodule mid 'mid.bicep' = {{\n  name: 'mid'\n  params: {{\n    kind: kind\n  }}\n}}\n"
        );
        let mid = "param kind string\nmodule leaf 'leaf.bicep' = {\n  name: 'leaf'\n  params: {\n    kind: kind\n  }\n}\n";
        let leaf = "@allowed([\n  'A'\n  'B'\n])\nparam kind string\n";
        project::check(
            &sources(&[
                ("top.bicep", &top),
                ("mid.bicep", mid),
                ("leaf.bicep", leaf),
            ]),
            &crate::store(),
        )
    };
    let bounded = chain("  'A'\n  'B'");
    assert!(bounded.findings.is_empty(), "{}", bounded.text());
    let loose = chain("  'A'\n  'B'\n  'C'");
    assert_eq!(loose.findings.len(), 1, "{}", loose.text());
    let finding = &loose.findings[0];
    assert_eq!((finding.file.as_str(), finding.at.line), ("mid.bicep", 1));
    assert!(
        finding
            .message
            .contains("`kind` allows [\"C\"], outside the @allowed of module `leaf`"),
        "{finding}"
    );
}
