//! Reading from a resource: `account.properties.primaryEndpoints.blob` is checked against the
//! resource's published type, read-only properties included (they are what a template reads), so
//! a misspelt output expression is reported like a misspelt property.

use crate::ast::Pos;
use crate::eval::{Evaluator, Kind, V, Value, unknown};
use crate::types::Ty;

/// The primitive kind of a published type, as far as it has one.
pub fn kind_of_type(ty: &Ty) -> Kind {
    match ty.kind() {
        "StringType" | "StringLiteralType" => Kind::String,
        "IntegerType" => Kind::Int,
        "BooleanType" => Kind::Bool,
        "ObjectType" | "DiscriminatedObjectType" => Kind::Object,
        "ArrayType" => Kind::Array,
        "UnionType" => {
            let kinds: Vec<Kind> = ty.union_members().iter().map(kind_of_type).collect();
            match kinds.first() {
                Some(k) if kinds.iter().all(|x| x == k) => *k,
                _ => Kind::Any,
            }
        }
        _ => Kind::Any,
    }
}

/// What can be read from a value: named properties, and the type of any other key.
type Readable = (Vec<(String, Ty)>, Option<Ty>);

/// Properties a value of this type can be read for: an object's, a discriminated object's base
/// and every variant's.
fn readable(ty: &Ty) -> Option<Readable> {
    match ty.kind() {
        "ObjectType" => Some((
            ty.properties("properties")
                .into_iter()
                .map(|(n, (t, _))| (n, t))
                .collect(),
            ty.additional_properties(),
        )),
        "DiscriminatedObjectType" => {
            let mut props: Vec<(String, Ty)> = ty
                .properties("baseProperties")
                .into_iter()
                .map(|(n, (t, _))| (n, t))
                .collect();
            for element in ty.discriminated_elements().values() {
                props.extend(
                    element
                        .properties("properties")
                        .into_iter()
                        .map(|(n, (t, _))| (n, t)),
                );
            }
            Some((props, None))
        }
        _ => None,
    }
}

impl Evaluator<'_, '_> {
    pub(crate) fn read_typed(&self, ty: &Ty, name: &str, path: &str, at: Pos) -> V {
        let path = format!("{path}.{name}");
        let Some((props, extra)) = readable(ty) else {
            return unknown(at, Kind::Any);
        };
        let found = props
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| props.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)));
        match (found, extra) {
            (Some((_, t)), _) => V {
                at,
                value: Value::Typed(t.clone(), path),
            },
            (None, Some(extra)) => V {
                at,
                value: Value::Typed(extra, path),
            },
            (None, None) => {
                self.problems.borrow_mut().push((
                    at,
                    format!(
                        "`{path}` cannot be read: {} has no property `{name}`",
                        ty.describe()
                    ),
                ));
                unknown(at, Kind::Any)
            }
        }
    }
}
