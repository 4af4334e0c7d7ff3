//! Parameter contracts: a module call passes only parameters the module declares and every one
//! it requires, with values of the declared kind inside the module's `@allowed`, `@minValue`,
//! `@maxValue`, `@minLength` and `@maxLength`; a parameter passed straight through from the
//! caller's own parameter is declared with bounds no looser than the module's; a parameter's
//! default satisfies its own decorators; and the parameters file fits `main.bicep`.

use std::collections::BTreeMap;

use tree_sitter::Node;

use crate::ast::{self, BicepFile, Decls, Module, Param, Pos};
use crate::bounds::{self, Bounds, Project};
use crate::check::Problems;
use crate::eval::{Evaluator, Kind, V, Value, scalar_text};

/// What a module body may hold besides `params`.
const MODULE_KEYS: &[&str] = &[
    "name",
    "params",
    "scope",
    "dependsOn",
    "identity",
    "extensionConfigs",
];

/// A parsed module file with its evaluator.
pub struct Target<'a, 't> {
    pub decls: &'a Decls<'t>,
    pub ev: Evaluator<'a, 't>,
}

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Str(_) => Kind::String,
        Value::Int(_) => Kind::Int,
        Value::Bool(_) => Kind::Bool,
        Value::Obj(_) => Kind::Object,
        Value::Arr(_) => Kind::Array,
        Value::Unknown(k) => *k,
        Value::Typed(ty, _) => crate::reads::kind_of_type(ty),
        _ => Kind::Any,
    }
}

/// A value against a parameter's declared kind and decorators.
pub fn fits(v: &V, param: &Param, ev: &Evaluator, what: &str) -> Problems {
    if let Value::Either(branches) = &v.value {
        return branches
            .iter()
            .flat_map(|b| fits(b, param, ev, what))
            .collect();
    }
    let declared = Kind::of_type(&param.type_name);
    let given = kind_of(&v.value);
    if declared != Kind::Any && given != Kind::Any && declared != given {
        let given = format!("{given:?}").to_lowercase();
        return vec![(
            v.at,
            format!(
                "{what} is declared {} but given a {given} value",
                param.type_name
            ),
        )];
    }
    let mut out = Vec::new();
    if let (Some(list), Some(text)) = (bounds::allowed(param, ev), scalar_text(&v.value))
        && !list.contains(&text)
    {
        out.push((
            v.at,
            format!("{what} is '{text}', not one of its @allowed {list:?}"),
        ));
    }
    let d = &param.decorators;
    let (n, min, max, unit) = match &v.value {
        Value::Int(n) => (*n, d.min_value, d.max_value, "@minValue/@maxValue"),
        Value::Str(s) => (
            s.chars().count() as i64,
            d.min_length,
            d.max_length,
            "@minLength/@maxLength (characters)",
        ),
        _ => return out,
    };
    if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
        out.push((
            v.at,
            format!("{what} is {n}, outside its {unit} {min:?}..{max:?}"),
        ));
    }
    out
}

/// A caller's parameter handed straight to a module parameter must not accept more than the
/// module does. The caller's bounds are its effective ones (`bounds`): its own decorators, or
/// what its own callers can pass.
fn no_looser(
    caller: &Param,
    mine: &Bounds,
    callee: &Param,
    tev: &Evaluator,
    call: &str,
) -> Problems {
    let m = &callee.decorators;
    let mut out = Vec::new();
    let mut say = |what: String| out.push((caller.at, format!("`{}` {what} {call}", caller.name)));
    if let Some(module_list) = bounds::allowed(callee, tev) {
        match &mine.allowed {
            None => say(format!(
                "takes any value, but @allowed {module_list:?} holds in"
            )),
            Some(list) => {
                let extra: Vec<_> = list.iter().filter(|v| !module_list.contains(*v)).collect();
                if !extra.is_empty() {
                    say(format!("allows {extra:?}, outside the @allowed of"));
                }
            }
        }
    }
    let pairs = [
        ("@minValue", mine.min_value, m.min_value, true),
        ("@maxValue", mine.max_value, m.max_value, false),
        ("@minLength", mine.min_length, m.min_length, true),
        ("@maxLength", mine.max_length, m.max_length, false),
    ];
    for (name, mine, theirs, is_min) in pairs {
        let Some(theirs) = theirs else { continue };
        match mine {
            None => say(format!("has no {name}, but {name}({theirs}) holds in")),
            Some(mine) if (is_min && mine < theirs) || (!is_min && mine > theirs) => say(format!(
                "has {name}({mine}), looser than {name}({theirs}) of"
            )),
            Some(_) => {}
        }
    }
    out
}

/// The raw value nodes of a module call's literal `params: { ... }`.
fn param_nodes<'t>(file: &BicepFile, body: Node<'t>) -> BTreeMap<String, Node<'t>> {
    let Some((_, params)) = ast::object_properties(body)
        .into_iter()
        .find(|(k, _)| ast::key_name(file, *k).as_deref() == Some("params"))
    else {
        return BTreeMap::new();
    };
    if params.kind() != "object" {
        return BTreeMap::new();
    }
    ast::object_properties(params)
        .into_iter()
        .filter_map(|(k, v)| Some((ast::key_name(file, k)?, v)))
        .collect()
}

pub fn module_call(
    (name, file): (&str, &BicepFile),
    decls: &Decls,
    ev: &Evaluator,
    module: &Module,
    target: &Target,
    project: &Project,
) -> Problems {
    let call = format!("module `{}` ({})", module.symbol, module.path);
    let mut out = Vec::new();
    let Value::Obj(body) = ev.eval(module.body, &module.locals).value else {
        return out;
    };
    for entry in &body.entries {
        let key = entry.key.as_deref().unwrap_or("?");
        if !MODULE_KEYS.contains(&key) {
            out.push((
                entry.at,
                format!("{call}: `{key}` is not a module property"),
            ));
        }
    }
    let params = match body.get("params").map(|p| &p.value) {
        Some(Value::Obj(params)) => params.clone(),
        Some(_) => return out,
        None => Default::default(),
    };
    let raw = param_nodes(file, module.body);
    for entry in &params.entries {
        let Some(key) = &entry.key else { continue };
        let Some(declared) = target.decls.params.get(key).or_else(|| {
            let (real, p) = target
                .decls
                .params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(key))?;
            out.push((
                entry.at,
                format!("{call}: wrong casing, `{key}` is declared `{real}`"),
            ));
            Some(p)
        }) else {
            let names: Vec<&String> = target.decls.params.keys().collect();
            out.push((
                entry.at,
                format!("{call} has no parameter `{key}` (it declares {names:?})"),
            ));
            continue;
        };
        let what = format!("{call} parameter `{}`", declared.name);
        out.extend(fits(&entry.value, declared, &target.ev, &what));
        let passed_through = raw
            .get(key)
            .filter(|n| n.kind() == "identifier")
            .and_then(|n| decls.params.get(file.text(*n)));
        if let Some(caller) = passed_through {
            let mine = bounds::effective(project, name, &caller.name, 0);
            out.extend(no_looser(caller, &mine, declared, &target.ev, &what));
        }
    }
    if !params.open {
        for p in target.decls.params.values().filter(|p| p.required()) {
            if params.get(&p.name).is_none() {
                out.push((
                    module.at,
                    format!("{call} does not pass its required parameter `{}`", p.name),
                ));
            }
        }
    }
    out
}

/// Every parameter default satisfies the parameter's own decorators.
pub fn defaults(decls: &Decls, ev: &Evaluator) -> Problems {
    decls
        .params
        .values()
        .filter_map(|p| Some((p, p.default?)))
        .flat_map(|(p, node)| {
            fits(
                &ev.eval(node, &[]),
                p,
                ev,
                &format!("the default of `{}`", p.name),
            )
        })
        .collect()
}

fn from_json(json: &serde_json::Value, at: Pos) -> V {
    let value = match json {
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or(Value::Unknown(Kind::Int)),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Array(_) => Value::Unknown(Kind::Array),
        serde_json::Value::Object(_) => Value::Unknown(Kind::Object),
    };
    V { at, value }
}

/// An ARM parameters file (`{"parameters": {"name": {"value": ...}}}`) against a template.
pub fn parameters_file(json: &serde_json::Value, decls: &Decls, ev: &Evaluator) -> Problems {
    let mut out = Vec::new();
    let Some(params) = json["parameters"].as_object() else {
        return vec![(Pos::default(), "no `parameters` object".into())];
    };
    for (name, entry) in params {
        let Some(declared) = decls.params.get(name) else {
            out.push((
                Pos::default(),
                format!("`{name}` is not a parameter of the template"),
            ));
            continue;
        };
        let v = from_json(&entry["value"], Pos::default());
        out.extend(fits(&v, declared, ev, &format!("`{name}`")));
    }
    out
}

/// Every output's value is evaluated (so what it reads from resources and modules is checked)
/// and is of its declared kind.
pub fn outputs(decls: &Decls, ev: &Evaluator) -> Problems {
    let mut out = Vec::new();
    for (name, node) in &decls.output_values {
        let declared = Kind::of_type(&decls.outputs[name]);
        let v = ev.eval(*node, &[]);
        let branches = match &v.value {
            Value::Either(b) => b.clone(),
            _ => vec![v],
        };
        for b in branches {
            let given = kind_of(&b.value);
            if declared != Kind::Any && given != Kind::Any && given != declared {
                out.push((
                    b.at,
                    format!("output `{name}` is declared {declared:?} but given a {given:?} value"),
                ));
            }
        }
    }
    out
}
