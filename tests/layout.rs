//! The layout rules of `src/`, checked on every test run with a real Rust parser (`syn`):
//!
//! 1. **Every arrow points down.** No two top-level modules of the library (`config`, `intel`,
//!    `server`, …) depend on each other, directly or through others. A file's top-level module is
//!    the first component of its path under `src/`. An edge `a → b` is any path in `a`'s
//!    non-test code that names `b` from the crate root: `crate::b…` in a `use` tree, an
//!    expression, a type or a macro's tokens, or a `super::…` chain that climbs to the root and
//!    descends into `b`. Items under `#[cfg(test)]` are left out: tests may reach upward without
//!    coupling the library. The graph's strongly connected components (Tarjan) of more than one
//!    module are the cycles, each reported with the file and line of one edge per step.
//! 2. **Files fit in one's head:** at most [`MAX_FILE_LINES`] lines per file, not counting
//!    `#[cfg(test)]` modules, inline or in their own file.
//! 3. **Functions too:** at most [`MAX_FN_LINES`] lines from `fn` to the closing brace, for free
//!    functions, methods and trait default methods, tests included.
//!
//! The self-checks below build small trees that break each rule and require each break to be
//! reported, so the real check cannot pass by finding nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::Visit;

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 80;

/// One parsed file of the tree.
struct SourceFile {
    /// Relative to the source root, e.g. `intel/misp/client.rs`.
    rel: String,
    /// Module path from the crate root, e.g. `["intel", "misp", "client"]`; empty for `lib.rs`.
    module: Vec<String>,
    text: String,
    ast: syn::File,
}

fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn read_tree(root: &Path) -> Vec<SourceFile> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a readable source folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let text = std::fs::read_to_string(&path).unwrap();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
            SourceFile {
                rel: rel.to_string_lossy().replace('\\', "/"),
                module: module_path(&rel),
                text,
                ast,
            }
        })
        .collect()
}

/// Whether the attributes hold `#[cfg(test)]` or a `cfg` whose predicate needs `test`, such as
/// `#[cfg(all(test, feature = "service"))]`.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| mentions_test(l.tokens.clone()))
    })
}

fn mentions_test(tokens: TokenStream) -> bool {
    let mut previous_not = false;
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) if i == "test" => return true,
            TokenTree::Ident(i) => previous_not = i == "not",
            TokenTree::Group(g) if !previous_not && mentions_test(g.stream()) => return true,
            _ => {}
        }
    }
    false
}

fn line_of(span: proc_macro2::Span) -> usize {
    span.start().line
}

fn end_line_of(span: proc_macro2::Span) -> usize {
    span.end().line
}

/// Out-of-line modules declared under `#[cfg(test)]` (`mod tests;`), as module paths.
fn test_modules(files: &[SourceFile]) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for f in files {
        for item in &f.ast.items {
            if let syn::Item::Mod(m) = item
                && m.content.is_none()
                && is_test_only(&m.attrs)
            {
                let mut path = f.module.clone();
                path.push(m.ident.to_string());
                out.insert(path);
            }
        }
    }
    out
}

fn in_test_module(file: &SourceFile, tests: &BTreeSet<Vec<String>>) -> bool {
    tests.iter().any(|t| file.module.starts_with(t))
}

/// Lines of the file that are not inside an inline `#[cfg(test)]` module.
fn non_test_lines(file: &SourceFile) -> usize {
    let total = file.text.lines().count();
    let mut test_lines = 0;
    for item in &file.ast.items {
        if let syn::Item::Mod(m) = item
            && is_test_only(&m.attrs)
            && let Some((brace, _)) = &m.content
        {
            let start = m
                .attrs
                .first()
                .map(|a| line_of(a.pound_token.span))
                .unwrap_or_else(|| line_of(m.mod_token.span));
            test_lines += end_line_of(brace.span.close()) - start + 1;
        }
    }
    total - test_lines
}

/// Every function with a body, as (name, first line, lines).
struct Functions(Vec<(String, usize, usize)>);

impl Functions {
    fn record(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let start = line_of(fn_token.span);
        let end = end_line_of(block.brace_token.span.close());
        self.0.push((name.to_string(), start, end - start + 1));
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.record(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.record(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.record(&f.sig.ident, &f.sig.fn_token, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// An edge of the module graph and where it was seen.
#[derive(Debug, Clone)]
struct Edge {
    to: String,
    at: String,
}

/// Collects the top-level modules a piece of code names from the crate root.
struct Edges<'a> {
    tops: &'a BTreeSet<String>,
    /// Module path of the code being read (the file's, then nested inline modules).
    module: Vec<String>,
    file: &'a str,
    out: Vec<Edge>,
}

impl Edges<'_> {
    fn add(&mut self, to: &str, line: usize) {
        let from = self.module.first().map(String::as_str).unwrap_or("");
        if self.tops.contains(to) && to != from && !from.is_empty() {
            self.out.push(Edge {
                to: to.to_owned(),
                at: format!("{}:{line}", self.file),
            });
        }
    }

    /// `super` × n from the current module, then `next`: the top-level module reached, if the
    /// chain climbs to the crate root.
    fn climb(&self, supers: usize, next: &str) -> Option<String> {
        (supers >= self.module.len()).then(|| next.to_owned())
    }

    fn use_tree(&mut self, tree: &syn::UseTree, supers: usize, from_root: bool) {
        match tree {
            syn::UseTree::Path(p) if p.ident == "crate" => self.use_tree(&p.tree, 0, true),
            syn::UseTree::Path(p) if p.ident == "super" && !from_root => {
                self.use_tree(&p.tree, supers + 1, false)
            }
            syn::UseTree::Path(p) => self.use_named(&p.ident, supers, from_root),
            syn::UseTree::Name(n) => self.use_named(&n.ident, supers, from_root),
            syn::UseTree::Rename(r) => self.use_named(&r.ident, supers, from_root),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, supers, from_root);
                }
            }
            syn::UseTree::Glob(_) => {}
        }
    }

    fn use_named(&mut self, ident: &syn::Ident, supers: usize, from_root: bool) {
        let line = line_of(ident.span());
        if from_root {
            self.add(&ident.to_string(), line);
        } else if supers > 0
            && let Some(top) = self.climb(supers, &ident.to_string())
        {
            self.add(&top, line);
        }
    }

    /// `crate :: x` and `super :: … :: x` anywhere in the tokens, macro arguments included.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) if id == "crate" || id == "super" => {
                    let mut supers = 0;
                    let mut j = i;
                    let from_root = id == "crate";
                    if !from_root {
                        while ident_at(&trees, j, "super") {
                            supers += 1;
                            j = match path_sep_after(&trees, j) {
                                Some(k) => k,
                                None => break,
                            };
                        }
                    } else if let Some(k) = path_sep_after(&trees, j) {
                        j = k;
                    }
                    if let Some(TokenTree::Ident(next)) = trees.get(j)
                        && j != i
                    {
                        let line = line_of(next.span());
                        if from_root {
                            self.add(&next.to_string(), line);
                        } else if let Some(top) = self.climb(supers, &next.to_string()) {
                            self.add(&top, line);
                        }
                    }
                    i = j.max(i);
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn items(&mut self, items: &[syn::Item]) {
        for item in items {
            match item {
                _ if is_test_only(item_attrs(item)) => {}
                syn::Item::Use(u) => self.use_tree(&u.tree, 0, false),
                syn::Item::Mod(m) => {
                    if let Some((_, inner)) = &m.content {
                        self.module.push(m.ident.to_string());
                        self.items(inner);
                        self.module.pop();
                    }
                }
                syn::Item::Impl(imp) => self.impl_block(imp),
                other => self.tokens(other.to_token_stream()),
            }
        }
    }

    fn impl_block(&mut self, imp: &syn::ItemImpl) {
        let mut head = imp.clone();
        head.items.clear();
        self.tokens(head.to_token_stream());
        for item in &imp.items {
            let attrs = match item {
                syn::ImplItem::Fn(f) => &f.attrs,
                syn::ImplItem::Const(c) => &c.attrs,
                syn::ImplItem::Type(t) => &t.attrs,
                _ => continue,
            };
            if !is_test_only(attrs) {
                self.tokens(item.to_token_stream());
            }
        }
    }
}

fn ident_at(trees: &[TokenTree], i: usize, name: &str) -> bool {
    matches!(trees.get(i), Some(TokenTree::Ident(id)) if id == name)
}

/// The index after `::` following position `i`, if there is one.
fn path_sep_after(trees: &[TokenTree], i: usize) -> Option<usize> {
    match (trees.get(i + 1), trees.get(i + 2)) {
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && b.as_char() == ':' =>
        {
            Some(i + 3)
        }
        _ => None,
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The module graph: top-level module → modules it names, each with where.
fn graph(files: &[SourceFile]) -> BTreeMap<String, BTreeMap<String, String>> {
    let tests = test_modules(files);
    let tops: BTreeSet<String> = files
        .iter()
        .filter(|f| f.rel != "main.rs")
        .filter_map(|f| f.module.first().cloned())
        .collect();
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        if f.rel == "main.rs" || f.module.is_empty() || in_test_module(f, &tests) {
            continue;
        }
        let mut edges = Edges {
            tops: &tops,
            module: f.module.clone(),
            file: &f.rel,
            out: Vec::new(),
        };
        edges.items(&f.ast.items);
        let from = graph.entry(f.module[0].clone()).or_default();
        for e in edges.out {
            from.entry(e.to).or_insert(e.at);
        }
    }
    graph
}

/// Strongly connected components of more than one node (Tarjan), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.out.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

/// The shortest cycle inside a component (breadth-first from each member), with the location
/// of each edge, for the message.
fn describe(component: &[String], graph: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let edges = |from: &str| {
        graph
            .get(from)
            .into_iter()
            .flatten()
            .filter(|(to, _)| members.contains(to.as_str()))
            .map(|(to, at)| (to.as_str(), at.as_str()))
            .collect::<Vec<_>>()
    };
    let mut best: Option<Vec<&str>> = None;
    for start in &members {
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([*start]);
        let mut found = None;
        while let Some(at) = queue.pop_front() {
            for (to, _) in edges(at) {
                if to == *start {
                    found = Some(at);
                    break;
                }
                if !parent.contains_key(to) {
                    parent.insert(to, at);
                    queue.push_back(to);
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some(mut at) = found else { continue };
        let mut path = vec![*start];
        let mut back = vec![at];
        while at != *start {
            at = parent[at];
            back.push(at);
        }
        back.pop();
        path.extend(back.into_iter().rev());
        path.push(start);
        if best.as_ref().is_none_or(|b| path.len() < b.len()) {
            best = Some(path);
        }
    }
    let path = best.unwrap_or_default();
    let steps: Vec<String> = path
        .windows(2)
        .map(|w| format!("{} → {} ({})", w[0], w[1], graph[w[0]][w[1]]))
        .collect();
    format!("import cycle {}: {}", path.join(" → "), steps.join(", "))
}

/// The modules by layer, lowest first: a module's layer is one above the highest it imports.
/// Only meaningful without cycles.
fn layers(
    graph: &BTreeMap<String, BTreeMap<String, String>>,
    files: &[SourceFile],
) -> Vec<Vec<String>> {
    fn layer(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        memo: &mut BTreeMap<String, usize>,
        depth: usize,
    ) -> usize {
        if let Some(l) = memo.get(m) {
            return *l;
        }
        let l = if depth > graph.len() {
            0
        } else {
            graph
                .get(m)
                .into_iter()
                .flat_map(|e| e.keys())
                .map(|to| layer(to, graph, memo, depth + 1) + 1)
                .max()
                .unwrap_or(0)
        };
        memo.insert(m.to_owned(), l);
        l
    }
    let mut memo = BTreeMap::new();
    let tops: BTreeSet<String> = files
        .iter()
        .filter(|f| f.rel != "main.rs")
        .filter_map(|f| f.module.first().cloned())
        .collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in &tops {
        let l = layer(m, graph, &mut memo, 0);
        if out.len() <= l {
            out.resize(l + 1, Vec::new());
        }
        out[l].push(m.clone());
    }
    out
}

/// Every breach of the three rules in the tree at `root`.
fn check(root: &Path) -> Vec<String> {
    let files = read_tree(root);
    let tests = test_modules(&files);
    let mut problems = Vec::new();
    let graph = graph(&files);
    for component in cycles(&graph) {
        problems.push(describe(&component, &graph));
    }
    for f in &files {
        if !in_test_module(f, &tests) {
            let lines = non_test_lines(f);
            if lines > MAX_FILE_LINES {
                problems.push(format!(
                    "{}: {lines} lines outside test modules (at most {MAX_FILE_LINES})",
                    f.rel
                ));
            }
        }
        let mut fns = Functions(Vec::new());
        fns.visit_file(&f.ast);
        for (name, line, lines) in fns.0 {
            if lines > MAX_FN_LINES {
                problems.push(format!(
                    "{}:{line}: fn {name} is {lines} lines (at most {MAX_FN_LINES})",
                    f.rel
                ));
            }
        }
    }
    problems
}

#[test]
fn src_has_no_import_cycle_no_file_over_400_lines_and_no_function_over_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = check(&root);
    assert!(
        problems.is_empty(),
        "the layout rules of src/ are broken:\n{}",
        problems.join("\n")
    );
    let files = read_tree(&root);
    for (n, layer) in layers(&graph(&files), &files).iter().enumerate().rev() {
        println!("layer {n}: {}", layer.join(" "));
    }
}

/// A scratch source tree for the self-checks.
fn tree(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn function(name: &str, body_lines: usize) -> String {
    format!(
        "fn {name}() {{\n{}}}\n",
        "    let _ = 1;\n".repeat(body_lines)
    )
}

#[test]
fn a_cycle_through_use_trees_super_chains_and_macro_arguments_is_reported() {
    let dir = tree(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\n".into()),
        ("a/mod.rs", "mod inner;\nuse crate::{d, b::Thing};\n".into()),
        // b → c through a super chain that climbs to the root from a nested file.
        (
            "b/x/y.rs",
            "fn f() { super::super::super::c::g(); }\n".into(),
        ),
        ("b/mod.rs", "mod x;\n".into()),
        ("b/x/mod.rs", "mod y;\n".into()),
        // c → a only inside a macro's arguments.
        (
            "c.rs",
            "fn g() { tracing::info!(x = ?crate::a::f()); }\n".into(),
        ),
        ("a/inner.rs", "pub fn f() {}\n".into()),
        ("d.rs", "pub fn h() {}\n".into()),
    ]);
    let problems = check(dir.path());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("import cycle a → b → c → a:"),
        "{problems:?}"
    );
    assert!(problems[0].contains("b/x/y.rs:1"), "{problems:?}");
}

#[test]
fn test_code_may_reach_upward_and_a_one_way_arrow_is_no_cycle() {
    let dir = tree(&[
        ("lib.rs", "mod low;\nmod high;\n".into()),
        ("high.rs", "use crate::low::f;\n".into()),
        (
            "low.rs",
            "pub fn f() {}\n#[cfg(test)]\nmod tests { use crate::high; }\n#[cfg(all(test, feature = \"x\"))]\nfn t() { crate::high::g(); }\n"
                .into(),
        ),
    ]);
    assert_eq!(check(dir.path()), Vec::<String>::new());
}

#[test]
fn a_long_file_and_a_long_function_are_reported_and_test_modules_do_not_count() {
    let long_file = function("f", 1).repeat(134); // 3 lines each: 402
    let mut with_tests = function("g", 1).repeat(100);
    with_tests.push_str("#[cfg(test)]\nmod tests {\n");
    with_tests.push_str(&function("t", 1).repeat(100));
    with_tests.push_str("}\n");
    let dir = tree(&[
        ("lib.rs", "mod big;\nmod fine;\nmod funcs;\n".into()),
        ("big.rs", long_file),
        ("fine.rs", format!("{with_tests}#[cfg(test)]\nmod more;\n")),
        ("fine/more.rs", function("h", 1).repeat(200)),
        (
            "funcs.rs",
            format!(
                "{}{}trait T {{\n{}}}\n",
                function("ok", 78),
                function("too_long", 79),
                function("default_method", 79)
            ),
        ),
    ]);
    let problems = check(dir.path());
    assert_eq!(
        problems,
        [
            "big.rs: 402 lines outside test modules (at most 400)",
            "funcs.rs:81: fn too_long is 81 lines (at most 80)",
            "funcs.rs:163: fn default_method is 81 lines (at most 80)",
        ],
    );
}
