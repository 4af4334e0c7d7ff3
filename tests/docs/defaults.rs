//! The runbook's defaults against the code: every variable is declared once, with its default, in
//! `src/settings/vars.rs`, and `defender_misp::settings::vars::all` reports that default as text
//! (seconds as a number of seconds). A setting declared without a default, or whose runbook cell
//! describes rather than states it, is listed, not compared; enough must be compared for the
//! check to mean something.

use std::collections::BTreeMap;

use crate::read;
use crate::root;
use crate::settings::{literal_default, settings_read_by_the_code, table_defaults};

/// How many documented defaults must be compared with the code (today: 35; the text scan this
/// replaced followed 31).
const AT_LEAST: usize = 33;

/// Each declared variable's default, as text; absent when it has none.
fn declared_defaults() -> BTreeMap<&'static str, String> {
    defender_misp::settings::vars::all()
        .into_iter()
        .filter(|d| !d.default.is_empty())
        .map(|d| (d.name, d.default))
        .collect()
}

#[test]
fn documented_defaults_match_the_defaults_written_in_the_code() {
    let declared = declared_defaults();
    let runbook = table_defaults(&read(&root().join("docs/deploy.md")));
    let (mut compared, mut not_followed, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    for name in settings_read_by_the_code().keys() {
        let documented = runbook.get(name).and_then(|cell| literal_default(cell));
        match (declared.get(name.as_str()).cloned(), documented) {
            (Some(in_code), Some(doc)) if !doc.is_empty() => {
                if in_code != doc {
                    problems.push(format!(
                        "{name}: the code's default is `{in_code}`, docs/deploy.md says `{doc}`"
                    ));
                }
                compared.push(name.clone());
            }
            _ => not_followed.push(name.clone()),
        }
    }
    eprintln!(
        "docs: {} defaults checked against the code; not followed (required, none, or computed \
         elsewhere): {}",
        compared.len(),
        not_followed.join(", ")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        compared.len() >= AT_LEAST,
        "only {} defaults could be compared with the code (at least {AT_LEAST} expected)",
        compared.len()
    );
}

#[test]
fn the_declared_defaults_are_read_as_the_runbook_writes_them() {
    let declared = declared_defaults();
    assert_eq!(declared["MISP_CHUNK_SIZE"], "1000");
    assert_eq!(
        declared["MISP_CACHE_HIT_TTL_SECS"], "3600",
        "seconds as a number"
    );
    assert_eq!(declared["MATCH_MAX_REQUEST_BYTES"], "268435456");
    assert_eq!(declared["MISP_PUBLISHED_ONLY"], "true");
    assert_eq!(declared["DEFENDER_ALERT_CATEGORY"], "Malware");
    assert!(!declared.contains_key("MISP_URL"), "required: no default");
}
