//! Operators, the ternary and `[for ...]` comprehensions of the evaluator.

use tree_sitter::Node;

use crate::ast::{self, pos};
use crate::eval::{Evaluator, Kind, V, Value, either, unknown};

impl<'t> Evaluator<'_, 't> {
    pub(crate) fn ternary(&self, node: Node<'t>, locals: &[String]) -> V {
        let field = |f: &str| node.child_by_field_name(f);
        let (Some(cond), Some(yes), Some(no)) = (
            field("condition"),
            field("consequence"),
            field("alternative"),
        ) else {
            return unknown(pos(node), Kind::Any);
        };
        match self.eval(cond, locals).value {
            Value::Bool(true) => self.eval(yes, locals),
            Value::Bool(false) => self.eval(no, locals),
            _ => either(
                pos(node),
                vec![self.eval(yes, locals), self.eval(no, locals)],
            ),
        }
    }

    pub(crate) fn binary(&self, node: Node<'t>, locals: &[String]) -> Value {
        let (Some(l), Some(r), Some(op)) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
            node.child_by_field_name("operator"),
        ) else {
            return Value::Unknown(Kind::Any);
        };
        let (left, right) = (self.eval(l, locals).value, self.eval(r, locals).value);
        use Value::{Bool, Int, Null, Str, Unknown};
        match (self.file.text(op), &left, &right) {
            ("==", a, b) => known_eq(a, b).map(Bool).unwrap_or(Unknown(Kind::Bool)),
            ("!=", a, b) => known_eq(a, b)
                .map(|e| Bool(!e))
                .unwrap_or(Unknown(Kind::Bool)),
            ("=~", Str(a), Str(b)) => Bool(a.eq_ignore_ascii_case(b)),
            ("!~", Str(a), Str(b)) => Bool(!a.eq_ignore_ascii_case(b)),
            ("&&", Bool(false), _) | ("&&", _, Bool(false)) => Bool(false),
            ("&&", Bool(true), Bool(true)) => Bool(true),
            ("||", Bool(true), _) | ("||", _, Bool(true)) => Bool(true),
            ("||", Bool(false), Bool(false)) => Bool(false),
            ("??", Null, _) => right,
            ("??", Unknown(_) | Value::Either(_), _) => Unknown(Kind::Any),
            ("??", _, _) => left,
            ("+", Int(a), Int(b)) => a.checked_add(*b).map(Int).unwrap_or(Unknown(Kind::Int)),
            ("-", Int(a), Int(b)) => a.checked_sub(*b).map(Int).unwrap_or(Unknown(Kind::Int)),
            ("*", Int(a), Int(b)) => a.checked_mul(*b).map(Int).unwrap_or(Unknown(Kind::Int)),
            ("+" | "-" | "*" | "/" | "%", _, _) => Unknown(Kind::Int),
            _ => Unknown(Kind::Bool),
        }
    }

    pub(crate) fn unary(&self, node: Node<'t>, locals: &[String]) -> Value {
        let (Some(arg), Some(op)) = (
            node.child_by_field_name("argument"),
            node.child_by_field_name("operator"),
        ) else {
            return Value::Unknown(Kind::Any);
        };
        match (self.file.text(op), self.eval(arg, locals).value) {
            ("!", Value::Bool(b)) => Value::Bool(!b),
            ("!", _) => Value::Unknown(Kind::Bool),
            ("-", Value::Int(n)) => Value::Int(-n),
            _ => Value::Unknown(Kind::Int),
        }
    }

    /// `[for x in xs: body]` and `[for (x, i) in xs: if (c) body]`: one representative element.
    pub(crate) fn comprehension(&self, node: Node<'t>, locals: &[String]) -> Value {
        let mut inner: Vec<String> = locals.to_vec();
        if let Some(single) = node.child_by_field_name("initializer") {
            inner.push(self.file.text(single).to_owned());
        }
        for child in ast::children(node) {
            if child.kind() == "for_loop_parameters" {
                inner.extend(
                    ast::children(child)
                        .iter()
                        .map(|c| self.file.text(*c).to_owned()),
                );
            }
        }
        let Some(mut body) = node.child_by_field_name("body") else {
            return Value::Unknown(Kind::Array);
        };
        if body.kind() == "if_statement" {
            match ast::children(body)
                .into_iter()
                .find(|c| c.kind() == "object")
            {
                Some(object) => body = object,
                None => return Value::Unknown(Kind::Array),
            }
        }
        Value::Arr(vec![self.eval(body, &inner)])
    }
}

fn known_eq(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) => Some(a == b),
        (Value::Int(a), Value::Int(b)) => Some(a == b),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        (Value::Null, Value::Null) => Some(true),
        (Value::Null, Value::Str(_) | Value::Int(_) | Value::Bool(_))
        | (Value::Str(_) | Value::Int(_) | Value::Bool(_), Value::Null) => Some(false),
        _ => None,
    }
}
