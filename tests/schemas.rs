//! `host.json`, every `function.json` and `local.settings.json` validated against the JSON
//! schemas the SchemaStore project publishes for them (the ones editors use), read from
//! `../shared/reference/schemas` beside the checkout. A missing schema fails the test.
//!
//! Two faults of the published schemas, worked around here and nowhere else:
//! - function.json declares draft-04 but its `sqlBinding` and `mySqlBinding` use `const` (draft-06
//!   and later). A draft-04 validator ignores `const`, so those two definitions match every
//!   binding and the `oneOf` over binding kinds rejects every valid Event Hub, queue and blob
//!   binding. It is validated as draft 7, where `const` means what its authors meant (as editors
//!   apply it); `a_draft_04_reading_of_function_json_rejects_every_binding` keeps the fault
//!   on record, so the workaround goes when SchemaStore fixes it.
//! - host.json is a `oneOf` of the version 1 and version 2 layouts, which reports a bad file as
//!   one error at the root; files are also validated against the version 2 definition alone,
//!   so each violation is reported at its own path.
//!
//! SchemaStore's Event Hub trigger knows only the binding's old `path` property; `eventHubName`
//! and `consumerGroup` (the v5 extension's names, `EventHubTriggerAttribute` in the Azure SDK for
//! .NET) pass because the schema allows further properties. tests/infra.rs checks those values.

#[path = "common/shared.rs"]
mod shared;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn schema(name: &str) -> Value {
    read_json(&shared::shared().join("reference/schemas").join(name))
}

fn build(schema: &Value, draft: jsonschema::Draft) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(draft)
        .build(schema)
        .unwrap_or_else(|e| panic!("not a usable schema: {e}"))
}

/// The validators a file is checked with: the whole schema, and for host.json also its
/// version 2 definition on its own.
fn validators(name: &str) -> Vec<jsonschema::Validator> {
    let whole = schema(name);
    match name {
        "function.json" => vec![build(&whole, jsonschema::Draft::Draft7)],
        "host.json" => {
            let version_2 = json!({
                "$schema": whole["$schema"],
                "definitions": whole["definitions"],
                "$ref": "#/definitions/version-2",
            });
            vec![
                build(&whole, jsonschema::Draft::Draft7),
                build(&version_2, jsonschema::Draft::Draft7),
            ]
        }
        _ => vec![jsonschema::validator_for(&whole).unwrap()],
    }
}

fn all_violations(name: &str, instance: &Value) -> Vec<String> {
    validators(name)
        .iter()
        .flat_map(|v| violations(v, instance))
        .collect()
}

/// Every violation as `instance path: message`.
fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// (file in the repository, schema) for every Functions configuration file.
fn files() -> Vec<(PathBuf, &'static str)> {
    let mut files = vec![
        (root().join("host.json"), "host.json"),
        (root().join("local.settings.json"), "local.settings.json"),
    ];
    let mut functions: Vec<PathBuf> = fs::read_dir(root())
        .unwrap()
        .map(|e| e.unwrap().path().join("function.json"))
        .filter(|p| p.is_file())
        .collect();
    functions.sort();
    assert!(!functions.is_empty(), "no */function.json found");
    files.extend(functions.into_iter().map(|p| (p, "function.json")));
    files
}

#[test]
fn host_json_function_json_and_local_settings_json_satisfy_the_schemastore_schemas() {
    let mut problems = Vec::new();
    for (file, schema) in files() {
        let relative = file.strip_prefix(root()).unwrap().display().to_string();
        for v in all_violations(schema, &read_json(&file)) {
            problems.push(format!("{relative} ({schema} schema) {v}"));
        }
        eprintln!("schemas: {relative} is valid against SchemaStore's {schema}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_schemas_reject_planted_mistakes_in_each_file() {
    let mut host = read_json(&root().join("host.json"));
    host["version"] = json!("3.0");
    host["functionTimeout"] = json!("ten minutes");
    host["extensions"]["queues"]["maxDequeueCount"] = json!("forty");
    let host_errors = all_violations("host.json", &host);

    let mut function = read_json(&root().join("MatchEvents/function.json"));
    function["bindings"][1]["direction"] = json!("sideways");
    function["retry"]["strategy"] = json!("eventually");
    let function_errors = all_violations("function.json", &function);

    let mut local = read_json(&root().join("local.settings.json"));
    local["IsEncrypted"] = json!("no");
    local["Values"]["FUNCTIONS_WORKER_RUNTIME"] = json!("rust");
    let local_errors = all_violations("local.settings.json", &local);

    eprintln!(
        "planted schema mistakes, as reported:\n{}\n{}\n{}",
        host_errors.join("\n"),
        function_errors.join("\n"),
        local_errors.join("\n")
    );
    let reported = |errors: &[String], path: &str| errors.iter().any(|e| e.starts_with(path));
    for path in [
        "/version",
        "/functionTimeout",
        "/extensions/queues/maxDequeueCount",
    ] {
        assert!(
            reported(&host_errors, path),
            "host.json {path} not reported"
        );
    }
    for path in ["/bindings/1", "/retry/strategy"] {
        assert!(
            reported(&function_errors, path),
            "function.json {path} not reported"
        );
    }
    for path in ["/IsEncrypted", "/Values/FUNCTIONS_WORKER_RUNTIME"] {
        assert!(
            reported(&local_errors, path),
            "local.settings.json {path} not reported"
        );
    }
}

#[test]
fn a_draft_04_reading_of_function_json_rejects_every_binding() {
    // SchemaStore's function.json declares draft-04 yet uses `const`; read as draft-04 it
    // rejects our valid bindings. When this starts failing, SchemaStore has fixed the schema:
    // drop the draft-7 override in `validators` and this test.
    let draft_04 = jsonschema::validator_for(&schema("function.json")).unwrap();
    let function = read_json(&root().join("MatchEvents/function.json"));
    let errors = violations(&draft_04, &function);
    assert!(
        errors.iter().any(|e| e.starts_with("/bindings/")),
        "the draft-04 reading now accepts the bindings: {errors:?}"
    );
}
