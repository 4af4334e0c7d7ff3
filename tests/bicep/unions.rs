//! Choosing among variants: a union of types (an enum of string literals, open when it also
//! holds `string`), and an object type discriminated by one property (`kind`, or `name` for
//! `Microsoft.Web/sites/config`).

use crate::ast::Pos;
use crate::check::{Problems, Stats, accepts_kind, check, entries, missing_required, value_kind};
use crate::eval::{Obj, V, Value};
use crate::types::Ty;

pub fn union(v: &V, ty: &Ty, path: &str, stats: &mut Stats) -> Problems {
    let members = ty.union_members();
    if let Value::Str(s) = &v.value {
        let literals: Vec<&str> = members.iter().filter_map(Ty::literal).collect();
        let open = members.iter().any(|m| m.kind() == "StringType");
        if literals.contains(&s.as_str()) || open {
            return Vec::new();
        }
        if let Some(real) = literals.iter().find(|l| l.eq_ignore_ascii_case(s)) {
            return vec![(
                v.at,
                format!("wrong casing: `{path}` is '{s}', write '{real}'"),
            )];
        }
        if !literals.is_empty() {
            return vec![(
                v.at,
                format!("`{path}` is '{s}', not one of {}", ty.describe()),
            )];
        }
    }
    let mut best: Option<Problems> = None;
    for member in &members {
        let mut scratch = Stats::default();
        let found = check(v, member, path, &mut scratch);
        if found.is_empty() {
            *stats = Stats {
                properties: stats.properties + scratch.properties,
                values: stats.values + scratch.values,
                skipped: stats.skipped + scratch.skipped,
                ..*stats
            };
            return Vec::new();
        }
        let kind_fits = accepts_kind(member, value_kind(&v.value));
        if best
            .as_ref()
            .is_none_or(|b| kind_fits && found.len() < b.len())
        {
            best = Some(found);
        }
    }
    best.unwrap_or_default()
}

pub fn discriminated(obj: &Obj, at: Pos, ty: &Ty, path: &str, stats: &mut Stats) -> Problems {
    let discriminator = ty.json()["discriminator"]
        .as_str()
        .unwrap_or("kind")
        .to_owned();
    let base = ty.properties("baseProperties");
    let elements = ty.discriminated_elements();
    let choices = elements
        .keys()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(" | ");
    let mut out = Vec::new();
    let tag = obj.get(&discriminator);
    let at = tag.map(|t| t.at).unwrap_or(at);
    let chosen = match tag.map(|v| &v.value) {
        Some(Value::Str(s)) => match elements.get(s) {
            Some(element) => Some(element.clone()),
            None => match elements.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)) {
                Some((real, element)) => {
                    out.push((
                        at,
                        format!("wrong casing: `{path}.{discriminator}` is '{s}', write '{real}'"),
                    ));
                    Some(element.clone())
                }
                None => {
                    out.push((
                        at,
                        format!("`{path}.{discriminator}` is '{s}', not one of {choices}"),
                    ));
                    return out;
                }
            },
        },
        None => {
            out.push((
                at,
                format!("`{path}` lacks its discriminator `{discriminator}` ({choices})"),
            ));
            None
        }
        Some(_) => None,
    };
    let mut props = base;
    match &chosen {
        Some(element) => {
            props.extend(element.properties("properties"));
            out.extend(entries(
                obj,
                &props,
                element.additional_properties().as_ref(),
                path,
                stats,
            ));
            out.extend(missing_required(obj, at, &props, path));
        }
        None => {
            // Unknown variant: names are checked against every variant's properties.
            for element in elements.values() {
                for (name, p) in element.properties("properties") {
                    props.entry(name).or_insert(p);
                }
            }
            out.extend(entries(obj, &props, None, path, stats));
        }
    }
    out
}
