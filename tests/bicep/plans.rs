//! `infra/modules/functionapp.bicep` evaluated as each hosting plan deploys it: Flex Consumption
//! gets no Premium-only key (Flex rejects `ftpsState` with ARM error 51021 and scales by
//! `functionAppConfig`), Premium gets no `functionAppConfig`, and neither gets a `null`. Also: no
//! string in `infra/` names a cloud-specific host (sovereign clouds have other suffixes; the
//! resources' own endpoint properties and `environment()` are right everywhere).

use std::path::PathBuf;

use crate::ast::{self, BicepFile, Decls};
use crate::eval::{Evaluator, Obj, V, Value};

const PREMIUM_ONLY_SITE_CONFIG: &[&str] = &[
    "ftpsState",
    "functionAppScaleLimit",
    "minimumElasticInstanceCount",
];
const PREMIUM_ONLY_SETTINGS: &[&str] = &[
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID",
];
/// Host name suffixes of the public cloud's services.
const PUBLIC_CLOUD_HOSTS: &[&str] = &["windows.net", "azure.com", "azure.net", "azurewebsites.net"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn object<'v>(v: &'v V, what: &str) -> &'v Obj {
    match &v.value {
        Value::Obj(obj) => obj,
        other => panic!("{what} is not one known object: {other:?}"),
    }
}

fn scalar(v: Option<&V>) -> String {
    v.and_then(|v| crate::eval::scalar_text(&v.value))
        .unwrap_or_else(|| format!("{v:?}"))
}

fn assert_no_null(v: &V, path: &str) {
    match &v.value {
        Value::Null => panic!("{path} is null"),
        Value::Obj(obj) => {
            for e in &obj.entries {
                assert_no_null(
                    &e.value,
                    &format!("{path}.{}", e.key.as_deref().unwrap_or("?")),
                );
            }
        }
        Value::Arr(items) | Value::Either(items) => {
            items.iter().for_each(|i| assert_no_null(i, path))
        }
        _ => {}
    }
}

fn evaluator<'a, 't>(
    file: &'a BicepFile,
    decls: &'a Decls<'t>,
    plan: &str,
    user: &str,
) -> Evaluator<'a, 't> {
    let mut ev = Evaluator::new(file, decls);
    ev.bindings
        .insert("hostingPlan".into(), Value::Str(plan.into()));
    ev.bindings
        .insert("userAssignedIdentityId".into(), Value::Str(user.into()));
    ev.bindings
        .insert("sentinelEndpoint".into(), Value::Str(String::new()));
    ev
}

#[test]
fn premium_only_keys_reach_only_premium_and_flex_configuration_only_flex() {
    let text = std::fs::read_to_string(root().join("infra/modules/functionapp.bicep")).unwrap();
    let file = BicepFile::parse(&text);
    let decls = ast::declarations(&file);
    for (plan_name, flex) in [("FlexConsumption", true), ("ElasticPremium", false)] {
        for user in [
            "",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id",
        ] {
            check_plan(&file, &decls, plan_name, flex, user);
        }
    }
}

/// One plan and identity choice: what the app and the plan receive.
fn check_plan(file: &BicepFile, decls: &Decls, plan_name: &str, flex: bool, user: &str) {
    let find = |t: &str| decls.resources.iter().find(|r| r.type_name == t).expect(t);
    let (site, plan) = (
        find("Microsoft.Web/sites"),
        find("Microsoft.Web/serverfarms"),
    );
    let ev = evaluator(file, decls, plan_name, user);
    let body = ev.eval(site.body, &[]);
    assert_no_null(&body, &format!("{plan_name}: app"));
    let props = object(
        object(&body, "app").get("properties").unwrap(),
        "app.properties",
    );
    let site_config = object(props.get("siteConfig").unwrap(), "siteConfig");
    for key in PREMIUM_ONLY_SITE_CONFIG {
        assert_eq!(
            site_config.get(key).is_some(),
            !flex,
            "{plan_name}: siteConfig.{key}"
        );
    }
    assert_eq!(
        props.get("functionAppConfig").is_some(),
        flex,
        "{plan_name}: functionAppConfig"
    );
    // What checkov would check if it could see through union() (skips in the .bicep).
    assert_eq!(scalar(props.get("httpsOnly")), "true", "{plan_name}");
    assert_eq!(
        scalar(site_config.get("minTlsVersion")),
        "1.2",
        "{plan_name}"
    );
    assert_eq!(
        scalar(site_config.get("http20Enabled")),
        "true",
        "{plan_name}"
    );
    if !flex {
        assert_eq!(scalar(site_config.get("ftpsState")), "Disabled");
    }
    let identity = object(object(&body, "app").get("identity").unwrap(), "identity");
    assert!(scalar(identity.get("type")).contains("SystemAssigned"));
    assert_eq!(
        identity.get("userAssignedIdentities").is_some(),
        !user.is_empty(),
        "{plan_name}: userAssignedIdentities"
    );
    let settings = ev.eval(decls.vars["allSettings"], &[]);
    let settings = object(&settings, "allSettings");
    for key in PREMIUM_ONLY_SETTINGS {
        assert_eq!(
            settings.get(key).is_some(),
            !flex,
            "{plan_name}: app setting {key}"
        );
    }
    for key in [
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
    ] {
        assert!(settings.get(key).is_some(), "{plan_name}: {key}");
    }
    let farm = ev.eval(plan.body, &[]);
    assert_no_null(&farm, &format!("{plan_name}: plan"));
    let farm_props = object(
        object(&farm, "plan").get("properties").unwrap(),
        "plan.properties",
    );
    assert_eq!(
        farm_props.get("maximumElasticWorkerCount").is_some(),
        !flex,
        "{plan_name}: plan"
    );
}

#[test]
fn no_string_in_infra_names_a_public_cloud_host() {
    let sources = crate::project::sources_under(&root(), &root().join("infra"));
    let mut found = Vec::new();
    for (name, text) in &sources {
        let file = BicepFile::parse(text);
        let mut stack = vec![file.tree.root_node()];
        while let Some(node) = stack.pop() {
            if node.kind() == "string_content" {
                let s = file.text(node);
                if PUBLIC_CLOUD_HOSTS.iter().any(|h| s.contains(h)) {
                    found.push(format!("{name}:{}: '{s}'", ast::pos(node)));
                }
            }
            stack.extend(ast::children(node));
        }
    }
    for script in ["infra/deploy.sh", "infra/recover-key-vault.sh"] {
        let text = std::fs::read_to_string(root().join(script)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or("");
            if !code.trim_start().starts_with('#')
                && PUBLIC_CLOUD_HOSTS.iter().any(|h| code.contains(h))
            {
                found.push(format!("{script}:{}: {line}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "use the resource's endpoint property, environment() or `az cloud show`:\n{}",
        found.join("\n")
    );
}
