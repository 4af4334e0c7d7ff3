//! The inputs of a command's paths: files as given, folders recursively (hidden entries left
//! out, names in order), `-` for standard input. A path that cannot be read is reported and the
//! others go on; a symbolic link back into a folder already being walked is not followed again,
//! so a link loop cannot abort or hang the walk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// How reports name it.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_owned(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Its size in bytes when known (not for standard input).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        }
    }
}

/// What the paths gave: the inputs in order, and the paths that could not be read, with why.
#[derive(Debug, Default)]
pub struct Walk {
    pub inputs: Vec<Input>,
    pub unreadable: Vec<(String, String)>,
}

/// Every input under `paths`.
pub fn walk(paths: &[PathBuf]) -> Walk {
    let mut out = Walk::default();
    let mut seen_dirs = HashSet::new();
    for path in paths {
        if path.as_os_str() == "-" {
            if !out.inputs.contains(&Input::Stdin) {
                out.inputs.push(Input::Stdin);
            }
            continue;
        }
        visit(path, &mut seen_dirs, &mut out);
    }
    out
}

fn visit(path: &Path, seen_dirs: &mut HashSet<PathBuf>, out: &mut Walk) {
    let unreadable = |out: &mut Walk, e: std::io::Error| {
        out.unreadable
            .push((path.display().to_string(), format!("cannot read: {e}")));
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return unreadable(out, e),
    };
    if !meta.is_dir() {
        out.inputs.push(Input::File(path.to_owned()));
        return;
    }
    // A folder reached again (through a link to itself or to a parent) is walked once.
    match std::fs::canonicalize(path) {
        Ok(real) => {
            if !seen_dirs.insert(real) {
                return;
            }
        }
        Err(e) => return unreadable(out, e),
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return unreadable(out, e),
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    children.sort();
    for child in children {
        visit(&child, seen_dirs, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_in_order_and_bad_paths_reported_without_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("b/c/2.json"), "{}").unwrap();
        std::fs::write(root.join("a.json"), "{}").unwrap();
        std::fs::write(root.join(".hidden"), "{}").unwrap();
        std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("b/self"), root.join("b/self")).unwrap();
        let missing = root.join("missing.json");
        let w = walk(&[missing.clone(), root.to_owned(), PathBuf::from("-")]);
        assert_eq!(
            w.inputs,
            [
                Input::File(root.join("a.json")),
                Input::File(root.join("b/c/2.json")),
                Input::Stdin
            ]
        );
        let bad: Vec<&str> = w.unreadable.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            bad,
            [
                missing.display().to_string(),
                root.join("b/self").display().to_string()
            ]
        );
        assert!(
            w.unreadable[0].1.contains("No such file"),
            "{:?}",
            w.unreadable
        );
    }
}
