//! A parameter's effective bounds: its own `@allowed`, `@minValue`, `@maxValue`, `@minLength`,
//! `@maxLength`, and where it states none, what every caller can pass to it. A module that
//! passes `main.bicep`'s bounded parameter through to an inner module without restating the
//! bounds is then as tight as `main.bicep` makes it: no value accepted at the top can fail
//! inside, which is what the contract check is about.

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use crate::ast::{self, BicepFile, Decls, Module, Param};
use crate::eval::{Evaluator, Value, scalar_text};

/// Bounds as found; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds {
    pub allowed: Option<BTreeSet<String>>,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
}

/// Everything needed to follow a parameter to its callers.
pub struct Project<'a, 't> {
    pub files: &'a BTreeMap<&'a str, BicepFile>,
    pub decls: &'a BTreeMap<&'a str, Decls<'t>>,
    /// File name to the module calls of it: (calling file, the call).
    pub callers: BTreeMap<String, Vec<(&'a str, &'a Module<'t>)>>,
}

/// The `@allowed` values of a parameter, as text.
pub fn allowed(param: &Param, ev: &Evaluator) -> Option<BTreeSet<String>> {
    let node = param.decorators.allowed?;
    match ev.eval(node, &[]).value {
        Value::Arr(items) => Some(items.iter().filter_map(|i| scalar_text(&i.value)).collect()),
        _ => None,
    }
}

fn own(param: &Param, ev: &Evaluator) -> Bounds {
    let d = &param.decorators;
    Bounds {
        allowed: allowed(param, ev),
        min_value: d.min_value,
        max_value: d.max_value,
        min_length: d.min_length,
        max_length: d.max_length,
    }
}

/// The bounds of one value a caller passes: a literal is its own bound.
fn of_value(value: &Value) -> Bounds {
    let mut b = Bounds::default();
    if let Some(text) = scalar_text(value) {
        b.allowed = Some(BTreeSet::from([text]));
    }
    match value {
        Value::Int(n) => (b.min_value, b.max_value) = (Some(*n), Some(*n)),
        Value::Str(s) => {
            let n = s.chars().count() as i64;
            (b.min_length, b.max_length) = (Some(n), Some(n));
        }
        _ => {}
    }
    b
}

/// The widest of two callers' bounds.
fn widest(a: Bounds, b: Bounds) -> Bounds {
    let set = |x: Option<BTreeSet<String>>, y: Option<BTreeSet<String>>| {
        Some(x?.union(&y?).cloned().collect())
    };
    let lo = |x: Option<i64>, y: Option<i64>| Some(x?.min(y?));
    let hi = |x: Option<i64>, y: Option<i64>| Some(x?.max(y?));
    Bounds {
        allowed: set(a.allowed, b.allowed),
        min_value: lo(a.min_value, b.min_value),
        max_value: hi(a.max_value, b.max_value),
        min_length: lo(a.min_length, b.min_length),
        max_length: hi(a.max_length, b.max_length),
    }
}

/// The value node a module call passes for `param`, if its `params` is a literal object.
fn passed<'t>(file: &BicepFile, call: &Module<'t>, param: &str) -> Option<Node<'t>> {
    let (_, params) = ast::object_properties(call.body)
        .into_iter()
        .find(|(k, _)| ast::key_name(file, *k).as_deref() == Some("params"))?;
    ast::object_properties(params)
        .into_iter()
        .find(|(k, _)| ast::key_name(file, *k).as_deref() == Some(param))
        .map(|(_, v)| v)
}

/// What the callers of `file` can pass as `param`; `None` when there are no callers.
fn from_callers(project: &Project, file: &str, param: &str, depth: usize) -> Option<Bounds> {
    let calls = project.callers.get(file).filter(|c| !c.is_empty())?;
    let mut result: Option<Bounds> = None;
    for (caller, call) in calls {
        let (cfile, cdecls) = (&project.files[caller], &project.decls[caller]);
        let bounds = match passed(cfile, call, param) {
            Some(node)
                if node.kind() == "identifier" && cdecls.params.contains_key(cfile.text(node)) =>
            {
                effective(project, caller, cfile.text(node), depth + 1)
            }
            Some(node) => of_value(&Evaluator::new(cfile, cdecls).eval(node, &call.locals).value),
            // Not passed: the module's own default applies, which its own check covers.
            None => continue,
        };
        result = Some(match result {
            None => bounds,
            Some(r) => widest(r, bounds),
        });
    }
    result
}

/// A parameter's effective bounds (see the module comment).
pub fn effective(project: &Project, file: &str, param: &str, depth: usize) -> Bounds {
    let (f, d) = (&project.files[file], &project.decls[file]);
    let Some(p) = d.params.get(param) else {
        return Bounds::default();
    };
    let mine = own(p, &Evaluator::new(f, d));
    if depth > 8 {
        return mine;
    }
    let Some(callers) = from_callers(project, file, param, depth) else {
        return mine;
    };
    tightest(mine, callers)
}

/// Both bounds hold: the intersection.
fn tightest(a: Bounds, b: Bounds) -> Bounds {
    let both = |x: Option<i64>, y: Option<i64>, pick: fn(i64, i64) -> i64| match (x, y) {
        (Some(x), Some(y)) => Some(pick(x, y)),
        (x, y) => x.or(y),
    };
    let allowed = match (a.allowed, b.allowed) {
        (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
        (x, y) => x.or(y),
    };
    Bounds {
        allowed,
        min_value: both(a.min_value, b.min_value, i64::max),
        max_value: both(a.max_value, b.max_value, i64::min),
        min_length: both(a.min_length, b.min_length, i64::max),
        max_length: both(a.max_length, b.max_length, i64::min),
    }
}
