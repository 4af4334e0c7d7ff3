//! Bicep's built-in functions as the evaluator sees them: the few whose result matters for the
//! checks are computed when their arguments are known (`union`, `string`, `toLower`, `toUpper`,
//! `empty`, `concat`, `replace`, `take`); every other one gives `Unknown` of the kind its
//! signature returns (https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions).

use tree_sitter::Node;

use crate::ast::{self, Pos, pos};
use crate::eval::{Entry, Evaluator, Kind, Obj, V, Value, either, scalar_text};

const STRING_FUNCTIONS: &[&str] = &[
    "format",
    "uniqueString",
    "guid",
    "newGuid",
    "utcNow",
    "subscriptionResourceId",
    "resourceId",
    "tenantResourceId",
    "extensionResourceId",
    "managementGroupResourceId",
    "substring",
    "trim",
    "base64",
    "base64ToString",
    "uri",
    "uriComponent",
    "uriComponentToString",
    "padLeft",
    "dataUri",
    "dataUriToString",
    "join",
    "loadTextContent",
    "loadFileAsBase64",
    "dateTimeAdd",
    "dateTimeFromEpoch",
    "toLower",
    "toUpper",
    "string",
    "replace",
];
const INT_FUNCTIONS: &[&str] = &["int", "length", "indexOf", "lastIndexOf", "min", "max"];
const BOOL_FUNCTIONS: &[&str] = &["contains", "startsWith", "endsWith", "bool", "empty"];
const ARRAY_FUNCTIONS: &[&str] = &[
    "items", "array", "range", "map", "filter", "sort", "flatten", "split", "skip",
];
const OBJECT_FUNCTIONS: &[&str] = &[
    "resourceGroup",
    "subscription",
    "tenant",
    "managementGroup",
    "environment",
    "deployment",
    "deployer",
    "toObject",
    "createObject",
];

fn kind_of(name: &str) -> Kind {
    if STRING_FUNCTIONS.contains(&name) {
        Kind::String
    } else if INT_FUNCTIONS.contains(&name) {
        Kind::Int
    } else if BOOL_FUNCTIONS.contains(&name) {
        Kind::Bool
    } else if ARRAY_FUNCTIONS.contains(&name) {
        Kind::Array
    } else if OBJECT_FUNCTIONS.contains(&name) {
        Kind::Object
    } else {
        Kind::Any
    }
}

/// The called function's own name: `f(...)`, `az.f(...)`, `sys.f(...)`.
fn function_name<'t>(ev: &Evaluator<'_, 't>, function: Node<'t>) -> Option<String> {
    match function.kind() {
        "identifier" => Some(ev.file.text(function).to_owned()),
        "member_expression" => {
            let object = function.child_by_field_name("object")?;
            let namespace = ev.file.text(object);
            (namespace == "az" || namespace == "sys").then(|| {
                let property = function.child_by_field_name("property")?;
                Some(ev.file.text(property).to_owned())
            })?
        }
        _ => None,
    }
}

pub fn call<'t>(ev: &Evaluator<'_, 't>, node: Node<'t>, locals: &[String]) -> V {
    let at = pos(node);
    let Some(name) = node
        .child_by_field_name("function")
        .and_then(|f| function_name(ev, f))
    else {
        return V {
            at,
            value: Value::Unknown(Kind::Any),
        };
    };
    let args: Vec<V> = node
        .child_by_field_name("arguments")
        .map(ast::children)
        .unwrap_or_default()
        .into_iter()
        .map(|a| ev.eval(a, locals))
        .collect();
    let computed = match name.as_str() {
        "union" => return union(at, args),
        "string" => args
            .first()
            .and_then(|a| scalar_text(&a.value))
            .map(Value::Str),
        "toLower" => known_str(&args, 0).map(|s| Value::Str(s.to_lowercase())),
        "toUpper" => known_str(&args, 0).map(|s| Value::Str(s.to_uppercase())),
        "empty" => args
            .first()
            .and_then(|a| emptiness(&a.value))
            .map(Value::Bool),
        "concat" => concat(&args),
        "replace" => match (
            known_str(&args, 0),
            known_str(&args, 1),
            known_str(&args, 2),
        ) {
            (Some(s), Some(from), Some(to)) => Some(Value::Str(s.replace(from, to))),
            _ => None,
        },
        "take" => match (known_str(&args, 0), args.get(1).map(|a| &a.value)) {
            (Some(s), Some(Value::Int(n))) => Some(Value::Str(
                s.chars().take(usize::try_from(*n).unwrap_or(0)).collect(),
            )),
            _ => None,
        },
        _ => None,
    };
    V {
        at,
        value: computed.unwrap_or(Value::Unknown(kind_of(&name))),
    }
}

fn known_str(args: &[V], i: usize) -> Option<&str> {
    match args.get(i).map(|a| &a.value) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn emptiness(value: &Value) -> Option<bool> {
    match value {
        Value::Str(s) => Some(s.is_empty()),
        Value::Arr(items) => Some(items.is_empty()),
        Value::Obj(obj) if !obj.open => Some(obj.entries.is_empty()),
        Value::Null => Some(true),
        _ => None,
    }
}

fn concat(args: &[V]) -> Option<Value> {
    if args.iter().all(|a| matches!(a.value, Value::Str(_))) {
        let joined = args.iter().filter_map(|a| scalar_text(&a.value)).collect();
        return Some(Value::Str(joined));
    }
    if args.iter().all(|a| matches!(a.value, Value::Arr(_))) {
        let items = args
            .iter()
            .flat_map(|a| match &a.value {
                Value::Arr(items) => items.clone(),
                _ => Vec::new(),
            })
            .collect();
        return Some(Value::Arr(items));
    }
    None
}

/// `union(a, b, …)` of objects, merging nested objects as Bicep does; a ternary argument makes
/// one result per branch, an unknown argument makes the result open.
fn union(at: Pos, args: Vec<V>) -> V {
    let mut results: Vec<Obj> = vec![Obj::default()];
    for arg in args {
        let branches = match arg.value {
            Value::Either(branches) => branches,
            other => vec![V {
                at: arg.at,
                value: other,
            }],
        };
        let mut next = Vec::new();
        for result in &results {
            for branch in &branches {
                let mut merged = result.clone();
                match &branch.value {
                    Value::Obj(obj) => merge(&mut merged, obj),
                    _ => merged.open = true,
                }
                next.push(merged);
            }
        }
        // More combinations than this say nothing more; keep the check fast.
        next.truncate(64);
        results = next;
    }
    let mut values: Vec<V> = results
        .into_iter()
        .map(|obj| V {
            at,
            value: Value::Obj(obj),
        })
        .collect();
    if values.len() == 1 {
        values.pop().unwrap()
    } else {
        either(at, values)
    }
}

fn merge(into: &mut Obj, from: &Obj) {
    into.open |= from.open;
    for entry in &from.entries {
        let existing = entry.key.as_ref().and_then(|k| {
            into.entries
                .iter_mut()
                .find(|e| e.key.as_ref().is_some_and(|e| e.eq_ignore_ascii_case(k)))
        });
        match existing {
            Some(old) => match (&mut old.value.value, &entry.value.value) {
                (Value::Obj(a), Value::Obj(b)) => merge(a, b),
                _ => *old = entry.clone(),
            },
            None => into.entries.push(Entry {
                key: entry.key.clone(),
                at: entry.at,
                value: entry.value.clone(),
            }),
        }
    }
}
