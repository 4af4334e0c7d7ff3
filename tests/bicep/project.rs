//! Runs every check over a set of Bicep files (from disk, or inline in the tests) and collects
//! the findings as `file:line:col: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::ast::{self, BicepFile, Decls, Pos};
use crate::bounds::Project;
use crate::check::Stats;
use crate::contracts::{self, Target};
use crate::eval::Evaluator;
use crate::resources;
use crate::types::TypeStore;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub file: String,
    pub at: Pos,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.at, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub stats: Stats,
}

impl Report {
    pub fn text(&self) -> String {
        self.findings.iter().map(|f| format!("{f}\n")).collect()
    }
}

/// `modules/x.bicep` called from `infra/main.bicep` is `infra/modules/x.bicep`.
pub fn resolve(caller: &str, path: &str) -> String {
    let mut parts: Vec<&str> = caller.split('/').collect();
    parts.pop();
    for segment in path.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn first_syntax_error(file: &BicepFile) -> Option<Pos> {
    let mut stack = vec![file.tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            return Some(ast::pos(node));
        }
        if node.has_error() {
            stack.extend(ast::children(node));
            let mut cursor = node.walk();
            stack.extend(node.children(&mut cursor).filter(|c| c.is_missing()));
        }
    }
    None
}

fn check_file(
    name: &str,
    file: &BicepFile,
    project: &Project,
    store: &TypeStore,
    stats: &mut Stats,
) -> Vec<(Pos, String)> {
    let (files, decls) = (project.files, project.decls);
    let d = &decls[name];
    let mut problems = Vec::new();
    if let Some(at) = first_syntax_error(file) {
        problems.push((
            at,
            "syntax error: the checks of this file are incomplete".into(),
        ));
    }
    let mut ev = Evaluator::new(file, d);
    ev.store = Some(store);
    for m in &d.modules {
        if let Some(target) = decls.get(resolve(name, &m.path).as_str()) {
            ev.module_outputs
                .insert(m.symbol.clone(), target.outputs.clone());
        }
    }
    problems.extend(resources::check_all(file, d, &ev, store, stats));
    problems.extend(contracts::defaults(d, &ev));
    problems.extend(contracts::outputs(d, &ev));
    for m in &d.modules {
        let path = resolve(name, &m.path);
        match (files.get(path.as_str()), decls.get(path.as_str())) {
            (Some(tf), Some(td)) => {
                let target = Target {
                    decls: td,
                    ev: Evaluator::new(tf, td),
                };
                problems.extend(contracts::module_call(
                    (name, file),
                    d,
                    &ev,
                    m,
                    &target,
                    project,
                ));
            }
            _ => problems.push((
                m.at,
                format!("module file {path} is not among the checked files"),
            )),
        }
    }
    problems.extend(ev.problems.borrow().iter().cloned());
    problems
}

/// Checks Bicep sources given as name to text; modules resolve relative to their caller's name.
pub fn check(sources: &BTreeMap<String, String>, store: &TypeStore) -> Report {
    let files: BTreeMap<&str, BicepFile> = sources
        .iter()
        .map(|(name, text)| (name.as_str(), BicepFile::parse(text)))
        .collect();
    let decls: BTreeMap<&str, Decls> = files
        .iter()
        .map(|(name, file)| (*name, ast::declarations(file)))
        .collect();
    let mut callers: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for (name, d) in &decls {
        for m in &d.modules {
            callers
                .entry(resolve(name, &m.path))
                .or_default()
                .push((*name, m));
        }
    }
    let project = Project {
        files: &files,
        decls: &decls,
        callers,
    };
    let mut report = Report::default();
    let mut seen = BTreeSet::new();
    for (name, file) in &files {
        for (at, message) in check_file(name, file, &project, store, &mut report.stats) {
            let finding = Finding {
                file: (*name).to_owned(),
                at,
                message,
            };
            if seen.insert(finding.clone()) {
                report.findings.push(finding);
            }
        }
    }
    report.findings.sort();
    report
}

/// Every `.bicep` file under `dir`, named relative to `base`.
pub fn sources_under(base: &Path, dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "bicep") {
                let name = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(name, text);
            }
        }
    }
    out
}
