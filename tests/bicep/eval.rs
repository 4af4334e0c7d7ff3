//! Bicep expressions to abstract values. What can be computed offline is (literals, variables,
//! string interpolation of known parts, `union`, `string`, `toLower`, `empty`, comparisons,
//! `&&`/`||`/`!`, a ternary with a known condition, member access on known objects); everything
//! else becomes `Unknown` of the kind Bicep's signature gives it (a `string` parameter, `guid()`,
//! `resource.id`), so value checks skip it while the property names around it are still checked.
//! A ternary whose condition is unknown yields both branches, and each is checked.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use tree_sitter::Node;

use crate::ast::{self, BicepFile, Decls, Pos, pos};
use crate::types::{Ty, TypeStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    String,
    Int,
    Bool,
    Object,
    Array,
}

impl Kind {
    /// The kind of a declared Bicep type (`string`, `int`, `string[]`, …).
    pub fn of_type(type_name: &str) -> Kind {
        match type_name.trim() {
            "string" => Kind::String,
            "int" => Kind::Int,
            "bool" => Kind::Bool,
            "object" => Kind::Object,
            "array" => Kind::Array,
            t if t.ends_with("[]") => Kind::Array,
            _ => Kind::Any,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
    Obj(Obj),
    /// A literal array; a `[for ...]` comprehension is one representative element.
    Arr(Vec<V>),
    Unknown(Kind),
    /// A resource or module symbol.
    Symbol(SymbolKind),
    /// Something read from a resource (`account.properties.primaryEndpoints`), of a known
    /// published type; named by the path it was read through.
    Typed(Ty, String),
    /// One of these, depending on something unknown (a ternary's condition).
    Either(Vec<V>),
}

#[derive(Debug, Clone)]
pub enum SymbolKind {
    /// Index into the file's resources.
    Resource(usize),
    Module(String),
}

/// A value and where it was written.
#[derive(Debug, Clone)]
pub struct V {
    pub at: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, Default)]
pub struct Obj {
    pub entries: Vec<Entry>,
    /// It may hold keys that cannot be seen (merged with something unknown).
    pub open: bool,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// `None` for a key computed from something unknown.
    pub key: Option<String>,
    pub at: Pos,
    pub value: V,
}

impl Obj {
    pub fn get(&self, key: &str) -> Option<&V> {
        let exact = self
            .entries
            .iter()
            .rev()
            .find(|e| e.key.as_deref() == Some(key));
        exact
            .or_else(|| {
                self.entries.iter().rev().find(|e| {
                    e.key
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case(key))
                })
            })
            .map(|e| &e.value)
    }
}

/// Evaluates the expressions of one file.
pub struct Evaluator<'a, 't> {
    pub file: &'a BicepFile,
    pub decls: &'a Decls<'t>,
    /// Module symbol to its outputs (name to declared type).
    pub module_outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Parameters given a value, to evaluate the file as one deployment would.
    pub bindings: BTreeMap<String, Value>,
    /// Published types, to check what is read from a resource (`x.properties.y`).
    pub store: Option<&'a TypeStore>,
    cache: RefCell<HashMap<String, V>>,
    in_progress: RefCell<HashSet<String>>,
    /// Problems found while evaluating (an output or object key that does not exist).
    pub problems: RefCell<Vec<(Pos, String)>>,
}

pub(crate) fn unknown(at: Pos, kind: Kind) -> V {
    V {
        at,
        value: Value::Unknown(kind),
    }
}

impl<'a, 't> Evaluator<'a, 't> {
    pub fn new(file: &'a BicepFile, decls: &'a Decls<'t>) -> Self {
        Self {
            file,
            decls,
            module_outputs: BTreeMap::new(),
            bindings: BTreeMap::new(),
            store: None,
            cache: RefCell::default(),
            in_progress: RefCell::default(),
            problems: RefCell::default(),
        }
    }

    pub fn eval(&self, node: Node<'t>, locals: &[String]) -> V {
        let at = pos(node);
        let text = self.file.text(node);
        let value = match node.kind() {
            "string" => return self.string(node, locals),
            "number" => text
                .parse()
                .map(Value::Int)
                .unwrap_or(Value::Unknown(Kind::Int)),
            "boolean" => Value::Bool(text == "true"),
            "null" => Value::Null,
            "object" => Value::Obj(self.object(node, locals)),
            "array" => Value::Arr(
                ast::children(node)
                    .into_iter()
                    .filter(|c| c.kind() != "decorators")
                    .map(|c| self.eval(c, locals))
                    .collect(),
            ),
            "identifier" => return self.identifier(node, locals),
            "parenthesized_expression" => match ast::children(node).first() {
                Some(inner) => return self.eval(*inner, locals),
                None => Value::Unknown(Kind::Any),
            },
            "ternary_expression" => return self.ternary(node, locals),
            "binary_expression" => self.binary(node, locals),
            "unary_expression" => self.unary(node, locals),
            "member_expression" => return self.member(node, locals),
            "subscript_expression" => return self.subscript(node, locals),
            "call_expression" => return crate::functions::call(self, node, locals),
            "for_statement" => self.comprehension(node, locals),
            _ => Value::Unknown(Kind::Any),
        };
        V { at, value }
    }

    fn string(&self, node: Node<'t>, locals: &[String]) -> V {
        let at = pos(node);
        let mut out = String::new();
        for part in ast::children(node) {
            match part.kind() {
                "string_content" => out.push_str(self.file.text(part)),
                "escape_sequence" => out.push_str(&ast::unescape(self.file.text(part))),
                "interpolation" => {
                    let inner = ast::children(part);
                    let Some(expr) = inner.first() else {
                        return unknown(at, Kind::String);
                    };
                    match scalar_text(&self.eval(*expr, locals).value) {
                        Some(s) => out.push_str(&s),
                        None => return unknown(at, Kind::String),
                    }
                }
                _ => return unknown(at, Kind::String),
            }
        }
        V {
            at,
            value: Value::Str(out),
        }
    }

    fn object(&self, node: Node<'t>, locals: &[String]) -> Obj {
        let mut obj = Obj::default();
        for (key, value) in ast::object_properties(node) {
            let name = match ast::key_name(self.file, key) {
                Some(name) => Some(name),
                None => match self.eval(key, locals).value {
                    Value::Str(s) => Some(s),
                    _ => None,
                },
            };
            obj.entries.push(Entry {
                key: name,
                at: pos(key),
                value: self.eval(value, locals),
            });
        }
        obj
    }

    fn identifier(&self, node: Node<'t>, locals: &[String]) -> V {
        let at = pos(node);
        let name = self.file.text(node);
        let value = if locals.iter().any(|l| l == name) {
            Value::Unknown(Kind::Any)
        } else if let Some(bound) = self.bindings.get(name) {
            bound.clone()
        } else if let Some(param) = self.decls.params.get(name) {
            Value::Unknown(Kind::of_type(&param.type_name))
        } else if let Some(var) = self.decls.vars.get(name) {
            return self.variable(name, *var, at);
        } else if let Some(i) = self.decls.resources.iter().position(|r| r.symbol == name) {
            Value::Symbol(SymbolKind::Resource(i))
        } else if self.decls.modules.iter().any(|m| m.symbol == name) {
            Value::Symbol(SymbolKind::Module(name.to_owned()))
        } else {
            Value::Unknown(Kind::Any)
        };
        V { at, value }
    }

    fn variable(&self, name: &str, node: Node<'t>, at: Pos) -> V {
        if let Some(v) = self.cache.borrow().get(name) {
            return v.clone();
        }
        if !self.in_progress.borrow_mut().insert(name.to_owned()) {
            return unknown(at, Kind::Any);
        }
        let value = self.eval(node, &[]);
        self.in_progress.borrow_mut().remove(name);
        self.cache
            .borrow_mut()
            .insert(name.to_owned(), value.clone());
        value
    }

    fn member(&self, node: Node<'t>, locals: &[String]) -> V {
        let at = pos(node);
        let (Some(object), Some(property)) = (
            node.child_by_field_name("object"),
            node.child_by_field_name("property"),
        ) else {
            return unknown(at, Kind::Any);
        };
        let name = self.file.text(property);
        let target = self.eval(object, locals);
        self.access(target, name, at)
    }

    pub fn access(&self, target: V, name: &str, at: Pos) -> V {
        match target.value {
            Value::Obj(obj) => match obj.get(name) {
                Some(v) => v.clone(),
                None => {
                    if !obj.open {
                        self.problems
                            .borrow_mut()
                            .push((at, format!("the object has no property `{name}`")));
                    }
                    unknown(at, Kind::Any)
                }
            },
            Value::Either(branches) => either(
                at,
                branches
                    .into_iter()
                    .map(|b| self.access(b, name, at))
                    .collect(),
            ),
            Value::Symbol(SymbolKind::Resource(i)) => {
                let resource = &self.decls.resources[i];
                let body = self
                    .store
                    .and_then(|s| s.resource(&resource.type_name, &resource.api_version).ok());
                match (body, name) {
                    (Some(body), _) => self.read_typed(&body, name, &resource.symbol, at),
                    (None, "id" | "name" | "type" | "apiVersion") => unknown(at, Kind::String),
                    (None, _) => unknown(at, Kind::Any),
                }
            }
            Value::Typed(ty, path) => self.read_typed(&ty, name, &path, at),
            Value::Symbol(SymbolKind::Module(symbol)) if name == "outputs" => {
                self.module_outputs_value(&symbol, at)
            }
            Value::Symbol(SymbolKind::Module(_)) if name == "name" => unknown(at, Kind::String),
            _ => unknown(at, Kind::Any),
        }
    }

    fn module_outputs_value(&self, symbol: &str, at: Pos) -> V {
        let Some(outputs) = self.module_outputs.get(symbol) else {
            return unknown(at, Kind::Object);
        };
        let entries = outputs
            .iter()
            .map(|(name, ty)| Entry {
                key: Some(name.clone()),
                at,
                value: unknown(at, Kind::of_type(ty)),
            })
            .collect();
        V {
            at,
            value: Value::Obj(Obj {
                entries,
                open: false,
            }),
        }
    }

    fn subscript(&self, node: Node<'t>, locals: &[String]) -> V {
        let at = pos(node);
        let (Some(object), Some(index)) = (
            node.child_by_field_name("object"),
            node.child_by_field_name("index"),
        ) else {
            return unknown(at, Kind::Any);
        };
        let target = self.eval(object, locals);
        match (self.eval(index, locals).value, target.value) {
            (Value::Str(key), value) => self.access(V { at, value }, &key, at),
            (Value::Int(i), Value::Arr(items)) if i >= 0 && (i as usize) < items.len() => {
                items[i as usize].clone()
            }
            _ => unknown(at, Kind::Any),
        }
    }
}

/// Both branches, flattened.
pub fn either(at: Pos, branches: Vec<V>) -> V {
    let mut flat = Vec::new();
    for b in branches {
        match b.value {
            Value::Either(inner) => flat.extend(inner),
            _ => flat.push(b),
        }
    }
    V {
        at,
        value: Value::Either(flat),
    }
}

/// The text a known scalar interpolates to.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
