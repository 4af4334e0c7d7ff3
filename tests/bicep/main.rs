//! Every resource body under `infra/` checked against Microsoft's generated Bicep type
//! definitions (Azure/bicep-types-az `types.json`, the data the Bicep compiler type-checks
//! against), and every module call against the module's parameters. No Bicep compiler can run
//! here; this catches what it would: unknown properties, wrong casing, enum values and
//! primitive kinds, read-only properties, missing required properties, resource types and API
//! versions that do not exist, parameter contracts. The reference lives beside the checkout in
//! `../shared/reference/bicep-types`; a missing reference fails the test.
//!
//! Design: tree-sitter-bicep gives the syntax (`ast`); an evaluator turns expressions into
//! abstract values (`eval`, `functions`, `operators`): literals, variables, `union`, ternaries with
//! both branches, loops as one representative element; whatever only Azure knows becomes Unknown
//! of its kind. `check` and `unions` walk a value against the `types.json` entry of its resource
//! (`types`), following `$ref`s, unions (enums) and discriminated objects (`kind`, or `name`).
//! `resources`, `reads` and `contracts` add what is Bicep's own: `parent`, `existing`, reads from
//! resources, module parameters and outputs. Nothing in it names this project's resources, so the
//! Sentinel rules and data collection rules are checked like the rest when they land.
//!
//! What it cannot see: values known only at deployment (parameters, resource ids, `reference()`)
//! beyond their kind; the `pattern` of string types (written as .NET regular expressions); what a
//! resource provider accepts beyond its published schema (Flex rejecting `ftpsState` is such a
//! rule: `plans.rs` and the `null` rule cover that one); cross-property rules; whether an
//! `existing` resource exists; the scopes an extension resource may be deployed to; `dependsOn`
//! ordering; lambdas, user-defined types and functions, `import`; registry modules (`br:`), which
//! are reported as files it cannot check.

#[path = "../common/shared.rs"]
mod shared;

mod ast;
mod bounds;
mod check;
mod clean;
mod contracts;
mod eval;
mod functions;
mod operators;
mod plans;
mod planted;
mod project;
mod reads;
mod resources;
mod types;
mod unions;

use std::path::PathBuf;

use project::Report;
use shared::shared;
use types::TypeStore;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn store() -> TypeStore {
    TypeStore::open(&shared().join("reference/bicep-types"))
}

fn infra_report() -> Report {
    let sources = project::sources_under(&root(), &root().join("infra"));
    assert!(
        sources.contains_key("infra/main.bicep"),
        "infra/main.bicep is missing"
    );
    project::check(&sources, &store())
}

#[test]
fn every_resource_and_module_call_in_infra_fits_the_published_types_and_contracts() {
    let report = infra_report();
    let s = report.stats;
    eprintln!(
        "bicep types: {} resources, {} properties named, {} literal values checked, {} \
         expressions checked for kind only",
        s.resources, s.properties, s.values, s.skipped
    );
    assert!(s.resources >= 20, "too few resources seen: {s:?}");
    assert!(
        report.findings.is_empty(),
        "Bicep that Azure would reject or misread:\n{}",
        report.text()
    );
}

#[test]
fn the_parameters_file_sets_only_declared_parameters_within_their_bounds() {
    let main = std::fs::read_to_string(root().join("infra/main.bicep")).unwrap();
    let file = ast::BicepFile::parse(&main);
    let decls = ast::declarations(&file);
    let ev = eval::Evaluator::new(&file, &decls);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("infra/main.parameters.json")).unwrap(),
    )
    .unwrap();
    let problems = contracts::parameters_file(&json, &decls, &ev);
    assert!(
        problems.is_empty(),
        "infra/main.parameters.json: {problems:?}"
    );
    let wrong = serde_json::json!({"parameters": {
        "hostingPlan": {"value": "Consumption"},
        "flexMaximumInstanceCount": {"value": 0},
        "enableSentinel": {"value": "yes"},
        "noSuchParameter": {"value": 1}
    }});
    let problems = contracts::parameters_file(&wrong, &decls, &ev);
    assert_eq!(problems.len(), 4, "{problems:#?}");
}
