//! A value against a published type: unknown properties, wrong casing, literals outside an enum
//! or of the wrong primitive kind, read-only properties set, required properties missing from
//! literal objects, integers and string lengths outside their bounds, and `null` written as a
//! property value (ARM sends it to the resource provider as JSON null; leave the key out).
//! Unknown values are checked for their kind only; both branches of an unknown ternary are
//! checked.

use std::collections::BTreeMap;

use crate::ast::Pos;
use crate::eval::{Kind, Obj, V, Value};
use crate::types::{READ_ONLY, REQUIRED, Ty};

pub type Problems = Vec<(Pos, String)>;

/// What was looked at, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub resources: usize,
    pub properties: usize,
    pub values: usize,
    pub skipped: usize,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Any => "any",
        Kind::String => "string",
        Kind::Int => "int",
        Kind::Bool => "bool",
        Kind::Object => "object",
        Kind::Array => "array",
    }
}

pub(crate) fn value_kind(value: &Value) -> Kind {
    match value {
        Value::Str(_) => Kind::String,
        Value::Int(_) => Kind::Int,
        Value::Bool(_) => Kind::Bool,
        Value::Obj(_) => Kind::Object,
        Value::Arr(_) => Kind::Array,
        _ => Kind::Any,
    }
}

/// Whether a value of `kind` can be assigned to `ty` at all.
pub fn accepts_kind(ty: &Ty, kind: Kind) -> bool {
    match (ty.kind(), kind) {
        (_, Kind::Any) | ("AnyType", _) => true,
        ("StringType" | "StringLiteralType", k) => k == Kind::String,
        ("IntegerType", k) => k == Kind::Int,
        ("BooleanType", k) => k == Kind::Bool,
        ("ObjectType" | "DiscriminatedObjectType", k) => k == Kind::Object,
        ("ArrayType", k) => k == Kind::Array,
        ("UnionType", k) => ty.union_members().iter().any(|m| accepts_kind(m, k)),
        _ => true,
    }
}

pub(crate) fn wrong_kind(at: Pos, path: &str, ty: &Ty, kind: Kind) -> Problems {
    vec![(
        at,
        format!(
            "`{path}` expects {} but is given a {} value",
            ty.describe(),
            kind_name(kind)
        ),
    )]
}

pub fn check(v: &V, ty: &Ty, path: &str, stats: &mut Stats) -> Problems {
    match &v.value {
        Value::Either(branches) => branches
            .iter()
            .flat_map(|b| check(b, ty, path, stats))
            .collect(),
        Value::Unknown(kind) => {
            stats.skipped += 1;
            if accepts_kind(ty, *kind) {
                Vec::new()
            } else {
                wrong_kind(v.at, path, ty, *kind)
            }
        }
        Value::Typed(read, _) => {
            stats.skipped += 1;
            let kind = crate::reads::kind_of_type(read);
            if accepts_kind(ty, kind) {
                Vec::new()
            } else {
                wrong_kind(v.at, path, ty, kind)
            }
        }
        Value::Symbol(_) | Value::Null => Vec::new(),
        value => {
            stats.values += 1;
            match ty.kind() {
                "UnionType" => crate::unions::union(v, ty, path, stats),
                "ObjectType" => match value {
                    Value::Obj(obj) => object(obj, v.at, ty, path, stats),
                    other => wrong_kind(v.at, path, ty, value_kind(other)),
                },
                "DiscriminatedObjectType" => match value {
                    Value::Obj(obj) => crate::unions::discriminated(obj, v.at, ty, path, stats),
                    other => wrong_kind(v.at, path, ty, value_kind(other)),
                },
                "ArrayType" => array(v, ty, path, stats),
                "AnyType" => Vec::new(),
                _ => scalar(v, ty, path),
            }
        }
    }
}

fn scalar(v: &V, ty: &Ty, path: &str) -> Problems {
    let at = v.at;
    match (ty.kind(), &v.value) {
        ("StringLiteralType", Value::Str(s)) => {
            let expected = ty.literal().unwrap_or("");
            if s == expected {
                Vec::new()
            } else if s.eq_ignore_ascii_case(expected) {
                vec![(
                    at,
                    format!("wrong casing: `{path}` is '{s}', write '{expected}'"),
                )]
            } else {
                vec![(at, format!("`{path}` is '{s}', expected '{expected}'"))]
            }
        }
        ("StringType", Value::Str(s)) => {
            let len = s.chars().count() as i64;
            bounds(
                at,
                path,
                len,
                ty.bound("minLength"),
                ty.bound("maxLength"),
                "characters",
            )
        }
        ("IntegerType", Value::Int(n)) => {
            bounds(at, path, *n, ty.bound("minValue"), ty.bound("maxValue"), "")
        }
        ("BooleanType", Value::Bool(_)) => Vec::new(),
        (_, other) if accepts_kind(ty, value_kind(other)) => Vec::new(),
        (_, other) => wrong_kind(at, path, ty, value_kind(other)),
    }
}

fn bounds(at: Pos, path: &str, n: i64, min: Option<i64>, max: Option<i64>, unit: &str) -> Problems {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    let mut out = Vec::new();
    if let Some(min) = min.filter(|m| n < *m) {
        out.push((at, format!("`{path}` is {n}{unit}, at least {min} allowed")));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        out.push((at, format!("`{path}` is {n}{unit}, at most {max} allowed")));
    }
    out
}

fn is_null(v: &V) -> bool {
    match &v.value {
        Value::Null => true,
        Value::Either(branches) => branches.iter().any(is_null),
        _ => false,
    }
}

/// Checks an object's entries against named properties (and `additionalProperties`).
pub fn entries(
    obj: &Obj,
    props: &BTreeMap<String, (Ty, u64)>,
    extra: Option<&Ty>,
    path: &str,
    stats: &mut Stats,
) -> Problems {
    let mut out = Vec::new();
    for entry in &obj.entries {
        let Some(key) = &entry.key else {
            if let Some(extra) = extra {
                out.extend(check(&entry.value, extra, &format!("{path}[*]"), stats));
            }
            continue;
        };
        stats.properties += 1;
        let child = format!("{path}.{key}");
        let found = props.get(key).map(|p| (key.as_str(), p)).or_else(|| {
            let (real, p) = props
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))?;
            out.push((
                entry.at,
                format!("wrong casing: `{child}` is spelled `{real}`"),
            ));
            Some((real.as_str(), p))
        });
        match found {
            Some((_, (ty, flags))) => {
                if flags & READ_ONLY != 0 && flags & REQUIRED == 0 {
                    out.push((
                        entry.at,
                        format!("`{child}` is read-only: Azure sets it, a template cannot"),
                    ));
                }
                if is_null(&entry.value) {
                    out.push((
                        entry.value.at,
                        format!(
                            "`{child}` is null (in some branch): leave the key out instead, \
                             ARM sends null to the resource provider"
                        ),
                    ));
                }
                out.extend(check(&entry.value, ty, &child, stats));
            }
            None => match extra {
                Some(extra) => out.extend(check(&entry.value, extra, &child, stats)),
                None => out.push((entry.at, unknown_property(key, path, props))),
            },
        }
    }
    out
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (
        a.to_lowercase().chars().collect(),
        b.to_lowercase().chars().collect(),
    );
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn unknown_property(key: &str, path: &str, props: &BTreeMap<String, (Ty, u64)>) -> String {
    let writable: Vec<&String> = props
        .iter()
        .filter(|(_, (_, f))| f & READ_ONLY == 0)
        .map(|(n, _)| n)
        .collect();
    let near = writable.iter().min_by_key(|n| distance(key, n));
    match near {
        Some(n) if distance(key, n) <= 3 => {
            format!("unknown property `{key}` in `{path}`: did you mean `{n}`?")
        }
        _ if writable.len() <= 12 => {
            let names: Vec<&str> = writable.iter().map(|n| n.as_str()).collect();
            format!(
                "unknown property `{key}` in `{path}` (it takes {})",
                names.join(", ")
            )
        }
        _ => format!(
            "unknown property `{key}` in `{path}` (none of its {} writable properties)",
            writable.len()
        ),
    }
}

pub(crate) fn missing_required(
    obj: &Obj,
    at: Pos,
    props: &BTreeMap<String, (Ty, u64)>,
    path: &str,
) -> Problems {
    if obj.open {
        return Vec::new();
    }
    props
        .iter()
        .filter(|(_, (_, flags))| flags & REQUIRED != 0 && flags & READ_ONLY == 0)
        .filter(|(name, _)| obj.get(name).is_none())
        .map(|(name, _)| (at, format!("`{path}` lacks the required property `{name}`")))
        .collect()
}

fn object(obj: &Obj, at: Pos, ty: &Ty, path: &str, stats: &mut Stats) -> Problems {
    let props = ty.properties("properties");
    let extra = ty.additional_properties();
    let mut out = entries(obj, &props, extra.as_ref(), path, stats);
    out.extend(missing_required(obj, at, &props, path));
    out
}

fn array(v: &V, ty: &Ty, path: &str, stats: &mut Stats) -> Problems {
    let Value::Arr(items) = &v.value else {
        return wrong_kind(v.at, path, ty, value_kind(&v.value));
    };
    let Some(item) = ty.item_type() else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .flat_map(|(i, value)| check(value, &item, &format!("{path}[{i}]"), stats))
        .collect()
}
