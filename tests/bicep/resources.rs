//! Each resource declaration against its published type: the type and API version exist, the
//! body (Bicep's own `parent`, `scope` and `dependsOn` aside) fits the body type, an `existing`
//! resource sets only what it may, and a `parent` is a resource of the parent type.

use tree_sitter::Node;

use crate::ast::{self, BicepFile, Decls, Resource, pos};
use crate::check::{self, Problems, Stats};
use crate::eval::{Evaluator, Obj, V, Value};
use crate::types::TypeStore;

/// Keys Bicep itself reads; they are not part of the resource body ARM receives.
const BICEP_KEYWORDS: &[&str] = &["parent", "scope", "dependsOn"];
/// All an `existing` resource may set.
const EXISTING_KEYS: &[&str] = &["name", "scope", "parent"];

pub fn check_all(
    file: &BicepFile,
    decls: &Decls,
    ev: &Evaluator,
    store: &TypeStore,
    stats: &mut Stats,
) -> Problems {
    let mut out = Vec::new();
    for resource in &decls.resources {
        stats.resources += 1;
        let body_type = match store.resource(&resource.type_name, &resource.api_version) {
            Ok(t) => t,
            Err(why) => {
                out.push((resource.type_at, format!("`{}`: {why}", resource.symbol)));
                continue;
            }
        };
        out.extend(parent(file, decls, resource));
        let body = ev.eval(resource.body, &resource.locals);
        let Value::Obj(obj) = body.value else {
            continue;
        };
        if resource.existing {
            for entry in &obj.entries {
                let key = entry.key.as_deref().unwrap_or("?");
                if !EXISTING_KEYS.contains(&key) {
                    out.push((
                        entry.at,
                        format!(
                            "`{}` is `existing`: it takes only name, scope and parent, not `{key}`",
                            resource.symbol
                        ),
                    ));
                }
            }
            continue;
        }
        let mut sent = Obj {
            entries: obj
                .entries
                .iter()
                .filter(|e| {
                    !e.key
                        .as_deref()
                        .is_some_and(|k| BICEP_KEYWORDS.contains(&k))
                })
                .cloned()
                .collect(),
            open: obj.open,
        };
        out.extend(full_name(resource, &obj, &mut sent));
        let value = V {
            at: body.at,
            value: Value::Obj(sent),
        };
        out.extend(check::check(&value, &body_type, &resource.symbol, stats));
    }
    out
}

/// Segments of a resource type after the namespace: `Microsoft.Storage/storageAccounts/blobServices` → 2.
fn type_depth(type_name: &str) -> usize {
    type_name.split('/').count() - 1
}

/// A child declared without `parent` (and not nested) names itself `a/b`: its name is checked
/// for the segment count, not against the child's own name type.
fn full_name(resource: &Resource, obj: &Obj, sent: &mut Obj) -> Problems {
    let has_parent = obj.get("parent").is_some() || resource.nested_in.is_some();
    let depth = type_depth(&resource.type_name);
    if has_parent || depth <= 1 {
        return Vec::new();
    }
    sent.entries.retain(|e| e.key.as_deref() != Some("name"));
    sent.open = true;
    match obj.get("name").map(|v| &v.value) {
        Some(Value::Str(name)) if name.split('/').count() != depth => vec![(
            obj.get("name").map(|v| v.at).unwrap_or_default(),
            format!(
                "`{}` is a {} without `parent`: its name needs {depth} segments, not '{name}'",
                resource.symbol, resource.type_name
            ),
        )],
        _ => Vec::new(),
    }
}

fn parent_node<'t>(file: &BicepFile, body: Node<'t>) -> Option<Node<'t>> {
    ast::object_properties(body)
        .into_iter()
        .find(|(k, _)| ast::key_name(file, *k).as_deref() == Some("parent"))
        .map(|(_, v)| v)
}

/// `parent: x` names a resource of this file whose type is this type minus its last segment.
fn parent(file: &BicepFile, decls: &Decls, resource: &Resource) -> Problems {
    let Some(node) = parent_node(file, resource.body) else {
        return Vec::new();
    };
    let symbol = file.text(node).trim_end_matches('!');
    let Some(target) = decls.resources.iter().find(|r| r.symbol == symbol) else {
        return vec![(
            pos(node),
            format!(
                "`{}`: parent `{symbol}` is not a resource of this file",
                resource.symbol
            ),
        )];
    };
    let expected = resource
        .type_name
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or("");
    if target.type_name.eq_ignore_ascii_case(expected) {
        Vec::new()
    } else {
        vec![(
            pos(node),
            format!(
                "`{}` ({}) cannot have parent `{symbol}` ({}); its parent type is {expected}",
                resource.symbol, resource.type_name, target.type_name
            ),
        )]
    }
}
