//! A Bicep file parsed with tree-sitter-bicep into the declarations the checks need: parameters
//! with their decorators, variables, resources (top-level and nested children, with their
//! condition, loop, `existing` and `parent`), modules and outputs. Expressions stay syntax nodes;
//! `eval` gives them values.

use std::collections::BTreeMap;

use tree_sitter::{Node, Parser, Tree};

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

pub fn pos(node: Node) -> Pos {
    let p = node.start_position();
    Pos {
        line: p.row + 1,
        col: p.column + 1,
    }
}

/// One Bicep source, parsed.
pub struct BicepFile {
    pub source: String,
    pub tree: Tree,
}

impl BicepFile {
    pub fn parse(source: &str) -> Self {
        let mut parser = Parser::new();
        parser
            .set_language(&tree_sitter_bicep::LANGUAGE.into())
            .expect("the bicep grammar loads");
        let tree = parser
            .parse(source, None)
            .expect("the parser returns a tree");
        Self {
            source: source.to_owned(),
            tree,
        }
    }

    pub fn text(&self, node: Node) -> &str {
        &self.source[node.byte_range()]
    }
}

/// `@minValue`, `@maxValue`, `@minLength`, `@maxLength`, `@allowed`, `@secure` of a parameter.
#[derive(Default)]
pub struct Decorators<'t> {
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    /// The `@allowed([...])` array node.
    pub allowed: Option<Node<'t>>,
}

pub struct Param<'t> {
    pub name: String,
    pub at: Pos,
    /// `string`, `int`, `bool`, `object`, `array`, or the text of any other type.
    pub type_name: String,
    pub nullable: bool,
    pub default: Option<Node<'t>>,
    pub decorators: Decorators<'t>,
}

impl Param<'_> {
    /// A caller must pass it: no default and not nullable.
    pub fn required(&self) -> bool {
        self.default.is_none() && !self.nullable
    }
}

#[derive(Clone)]
pub struct Resource<'t> {
    pub symbol: String,
    /// `Microsoft.X/y` (a nested child's type already joined to its parent's).
    pub type_name: String,
    pub api_version: String,
    pub type_at: Pos,
    pub existing: bool,
    /// The body object (inside `if` and `for` when present).
    pub body: Node<'t>,
    /// Symbol of the enclosing resource, for a nested child declaration.
    pub nested_in: Option<String>,
    /// Loop variables in scope in the body (`[for x in ...]`, also the parent's).
    pub locals: Vec<String>,
}

pub struct Module<'t> {
    pub symbol: String,
    pub at: Pos,
    pub path: String,
    pub body: Node<'t>,
    pub locals: Vec<String>,
}

#[derive(Default)]
pub struct Decls<'t> {
    pub params: BTreeMap<String, Param<'t>>,
    pub vars: BTreeMap<String, Node<'t>>,
    pub resources: Vec<Resource<'t>>,
    pub modules: Vec<Module<'t>>,
    /// Output name to its declared type.
    pub outputs: BTreeMap<String, String>,
    /// Output name to its value expression.
    pub output_values: BTreeMap<String, Node<'t>>,
}

/// The named children of a node, comments left out.
pub fn children(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|c| c.kind() != "comment" && c.kind() != "diagnostic_comment")
        .collect()
}

fn first_of<'t>(node: Node<'t>, kind: &str) -> Option<Node<'t>> {
    children(node).into_iter().find(|c| c.kind() == kind)
}

/// The value of a plain string literal (no interpolation), with escapes resolved.
pub fn literal_string(file: &BicepFile, node: Node) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let mut out = String::new();
    for part in children(node) {
        match part.kind() {
            "string_content" => out.push_str(file.text(part)),
            "escape_sequence" => out.push_str(&unescape(file.text(part))),
            _ => return None,
        }
    }
    Some(out)
}

pub fn unescape(escape: &str) -> String {
    match escape {
        "\\n" => "\n".into(),
        "\\r" => "\r".into(),
        "\\t" => "\t".into(),
        "\\\\" => "\\".into(),
        "\\'" => "'".into(),
        "\\$" => "$".into(),
        other => other.trim_start_matches('\\').into(),
    }
}

fn integer(file: &BicepFile, node: Node) -> Option<i64> {
    match node.kind() {
        "number" => file.text(node).parse().ok(),
        "unary_expression" => {
            let arg = node.child_by_field_name("argument")?;
            let op = node.child_by_field_name("operator")?;
            (file.text(op) == "-").then(|| integer(file, arg).map(|n| -n))?
        }
        _ => None,
    }
}

fn decorators<'t>(file: &BicepFile, node: Option<Node<'t>>) -> Decorators<'t> {
    let mut out = Decorators::default();
    let Some(node) = node else { return out };
    for decorator in children(node) {
        let Some(call) = first_of(decorator, "call_expression") else {
            continue;
        };
        let Some(function) = call.child_by_field_name("function") else {
            continue;
        };
        let args = call
            .child_by_field_name("arguments")
            .map(children)
            .unwrap_or_default();
        let first = args.first().copied();
        let number = first.and_then(|a| integer(file, a));
        match file.text(function).trim_start_matches("sys.") {
            "minValue" => out.min_value = number,
            "maxValue" => out.max_value = number,
            "minLength" => out.min_length = number,
            "maxLength" => out.max_length = number,
            "allowed" => out.allowed = first,
            _ => {}
        }
    }
    out
}

fn param<'t>(file: &BicepFile, node: Node<'t>, decos: Option<Node<'t>>) -> Option<Param<'t>> {
    let children = children(node);
    let name = children.iter().find(|c| c.kind() == "identifier")?;
    let ty = children.iter().find(|c| c.kind() == "type");
    let (type_name, nullable) = match ty {
        Some(t) => {
            let nullable = first_of(*t, "nullable_type").is_some();
            let text = file.text(*t).trim_end_matches('?').trim().to_owned();
            (text, nullable)
        }
        None => ("any".to_owned(), false),
    };
    let default = children
        .iter()
        .skip_while(|c| c.kind() != "type")
        .nth(1)
        .copied();
    Some(Param {
        name: file.text(*name).to_owned(),
        at: pos(*name),
        type_name,
        nullable,
        default,
        decorators: decorators(file, decos),
    })
}

/// The body object of a resource or module: the object itself, or inside `if (...)` and/or
/// `[for ... : ...]`.
fn body_of<'t>(node: Node<'t>) -> Option<Node<'t>> {
    let mut current = node;
    loop {
        match current.kind() {
            "object" => return Some(current),
            "if_statement" => current = first_of(current, "object")?,
            "for_statement" => current = current.child_by_field_name("body")?,
            _ => {
                current = children(current)
                    .into_iter()
                    .rev()
                    .find(|c| matches!(c.kind(), "object" | "if_statement" | "for_statement"))?
            }
        }
    }
}

/// The loop variables a `[for ...]` around a declaration's body introduces.
fn loop_variables(file: &BicepFile, node: Node) -> Vec<String> {
    let Some(lp) = children(node)
        .into_iter()
        .find(|c| c.kind() == "for_statement")
    else {
        return Vec::new();
    };
    if let Some(single) = lp.child_by_field_name("initializer") {
        return vec![file.text(single).to_owned()];
    }
    first_of(lp, "for_loop_parameters")
        .map(|params| {
            children(params)
                .into_iter()
                .map(|c| file.text(c).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn has_keyword(node: Node, keyword: &str) -> bool {
    let mut cursor = node.walk();
    node.children(&mut cursor)
        .any(|c| !c.is_named() && c.kind() == keyword)
}

fn resource<'t>(
    file: &BicepFile,
    node: Node<'t>,
    parent: Option<&Resource<'t>>,
    out: &mut Vec<Resource<'t>>,
) {
    let parts = children(node);
    let (Some(symbol), Some(ty)) = (
        parts.iter().find(|c| c.kind() == "identifier"),
        parts.iter().find(|c| c.kind() == "string"),
    ) else {
        return;
    };
    let Some(body) = body_of(node) else { return };
    let text = literal_string(file, *ty).unwrap_or_default();
    let (mut type_name, mut api_version) = match text.split_once('@') {
        Some((t, v)) => (t.to_owned(), v.to_owned()),
        None => (text.clone(), String::new()),
    };
    if let Some(parent) = parent {
        type_name = format!("{}/{}", parent.type_name, type_name);
        if api_version.is_empty() {
            api_version = parent.api_version.clone();
        }
    }
    let declared = Resource {
        symbol: file.text(*symbol).to_owned(),
        type_name,
        api_version,
        type_at: pos(*ty),
        existing: has_keyword(node, "existing"),
        body,
        nested_in: parent.map(|p| p.symbol.clone()),
        locals: parent
            .map(|p| p.locals.clone())
            .unwrap_or_default()
            .into_iter()
            .chain(loop_variables(file, node))
            .collect(),
    };
    let nested: Vec<Node> = children(body)
        .into_iter()
        .filter_map(|prop| first_of(prop, "resource_declaration"))
        .collect();
    out.push(declared.clone());
    for child in nested {
        resource(file, child, Some(&declared), out);
    }
}

fn module<'t>(file: &BicepFile, node: Node<'t>) -> Option<Module<'t>> {
    let children = children(node);
    let symbol = children.iter().find(|c| c.kind() == "identifier")?;
    let path = children.iter().find(|c| c.kind() == "string")?;
    Some(Module {
        symbol: file.text(*symbol).to_owned(),
        at: pos(*symbol),
        path: literal_string(file, *path)?,
        body: body_of(node)?,
        locals: loop_variables(file, node),
    })
}

/// Every declaration of a file. Decorators attach to the declaration that follows them.
pub fn declarations(file: &BicepFile) -> Decls<'_> {
    let mut decls = Decls::default();
    let mut pending_decorators = None;
    for node in children(file.tree.root_node()) {
        match node.kind() {
            "decorators" => {
                pending_decorators = Some(node);
                continue;
            }
            "parameter_declaration" => {
                if let Some(p) = param(file, node, pending_decorators) {
                    decls.params.insert(p.name.clone(), p);
                }
            }
            "variable_declaration" => {
                let children = children(node);
                if let (Some(name), Some(value)) = (children.first(), children.get(1)) {
                    decls.vars.insert(file.text(*name).to_owned(), *value);
                }
            }
            "resource_declaration" => resource(file, node, None, &mut decls.resources),
            "module_declaration" => decls.modules.extend(module(file, node)),
            "output_declaration" => {
                let children = children(node);
                if let (Some(name), Some(ty)) = (children.first(), children.get(1)) {
                    let name = file.text(*name).to_owned();
                    if let Some(value) = children.get(2) {
                        decls.output_values.insert(name.clone(), *value);
                    }
                    decls.outputs.insert(name, file.text(*ty).to_owned());
                }
            }
            _ => {}
        }
        pending_decorators = None;
    }
    decls
}

/// `key: value` pairs of an object node: the key node and the value node. Nested resource
/// declarations are not properties and are left out.
pub fn object_properties(node: Node) -> Vec<(Node, Node)> {
    children(node)
        .into_iter()
        .filter(|p| p.kind() == "object_property")
        .filter_map(|p| {
            let children = children(p);
            match children.as_slice() {
                [key, value] => Some((*key, *value)),
                _ => None,
            }
        })
        .collect()
}

/// The name of a property key: an identifier, or a plain string.
pub fn key_name(file: &BicepFile, key: Node) -> Option<String> {
    match key.kind() {
        "identifier" | "compatible_identifier" => Some(file.text(key).to_owned()),
        "string" => literal_string(file, key),
        _ => None,
    }
}
