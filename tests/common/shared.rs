//! Where the shared reference material is: `$DEFENDER_MISP_SHARED`, else `../shared` beside the
//! checkout (CI), else `../../shared` (a worktree under `wt/`). Missing is a failure, never a
//! skip: the checks that read it must not pass by having nothing to check against.

use std::path::PathBuf;

pub fn shared() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates: Vec<PathBuf> = std::env::var_os("DEFENDER_MISP_SHARED")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("../shared"), root.join("../../shared")])
        .collect();
    candidates
        .iter()
        .find(|p| p.join("reference").is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the shared reference folder is missing: looked for reference/ in {candidates:?}; \
                 CI and every checkout have ../shared beside the repository (or set \
                 DEFENDER_MISP_SHARED)"
            )
        })
}
