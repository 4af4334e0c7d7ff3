//! The documents kept honest where a test can do it: every setting the code reads is in the
//! runbook's table, the README and `local.settings.json` with one default that agrees with the
//! code; every command quoted in the documents is run by a test or listed as needing Azure;
//! `azure.yaml` agrees with the package script and the template's outputs.

mod azd;
mod commands;
mod defaults;
mod settings;

use std::fs;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code outside its tests: a `tests.rs` file is all test; elsewhere the inline test module
/// (`#[cfg(test)]` then `mod name {`, at the end of the file by convention) and what follows go.
/// A `#[cfg(test)] mod tests;` declaration or a test-only helper does not cut the file.
pub fn without_tests(path: &Path, source: &str) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let inline_module = source.match_indices("#[cfg(test)]").find(|(at, m)| {
        let rest = source[at + m.len()..].trim_start();
        let rest = rest.strip_prefix("pub(crate) ").unwrap_or(rest);
        rest.strip_prefix("mod ").is_some_and(|r| {
            let name_end = r
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            r[name_end..].trim_start().starts_with('{')
        })
    });
    match inline_module {
        Some((at, _)) => source[..at].to_owned(),
        None => source.to_owned(),
    }
}

#[test]
fn only_inline_test_modules_are_cut_from_the_code_scanned() {
    let path = Path::new("src/x.rs");
    let source = "A1\n#[cfg(test)]\nmod tests;\nB2\n#[cfg(test)]\nfn helper() {}\nC3\n#[cfg(test)]\nmod tests {\nD4\n}\n";
    let kept = without_tests(path, source);
    assert!(
        kept.contains("B2") && kept.contains("C3") && !kept.contains("D4"),
        "{kept}"
    );
    assert_eq!(
        without_tests(Path::new("src/intel/snapshot/tests.rs"), "x"),
        ""
    );
}
