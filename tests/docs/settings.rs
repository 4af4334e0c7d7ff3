//! Every setting the code reads appears, with its default, in the runbook's settings table
//! (docs/deploy.md), in the README's table where that lists it, and in `local.settings.json`; the
//! defaults agree with each other and, where the code states them as a literal or a named
//! constant, with the code.
//!
//! The settings are every variable declared in `src/settings/vars.rs` (the one declaration of
//! each, read through `defender_misp::settings::vars::all`), and, as a net for a read that
//! bypasses the declarations, every string literal outside tests that looks like an environment
//! variable (`UPPER_CASE_WITH_UNDERSCORES`), except the few listed in `NOT_SETTINGS`. The host's
//! own storage connection (`AzureWebJobsStorage…`, mixed case) is checked with the bindings.

use std::collections::{BTreeMap, BTreeSet};

use crate::{read, root, rust_files, without_tests};

/// Upper-case literals in src/ that are not settings the handler reads.
const NOT_SETTINGS: &[&str] = &["CARGO_PKG_VERSION"];
/// Set by the Functions host for the handler; nobody configures it.
const HOST_PROVIDED: &[&str] = &["FUNCTIONS_CUSTOMHANDLER_PORT"];

/// A string literal's text and the source after it.
fn string_literals(source: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                out.push((source[start..j.min(bytes.len())].to_owned(), j + 1));
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn looks_like_setting(s: &str) -> bool {
    s.contains('_')
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !s.ends_with('_')
}

/// Setting name to the files that declare or read it.
pub fn settings_read_by_the_code() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for declared in defender_misp::settings::vars::all() {
        if looks_like_setting(declared.name) {
            out.entry(declared.name.to_owned())
                .or_default()
                .insert("src/settings/vars.rs".to_owned());
        }
    }
    for file in rust_files(&root().join("src")) {
        let code = without_tests(&file, &read(&file));
        let relative = file.strip_prefix(root()).unwrap().display().to_string();
        for (literal, _) in string_literals(&code) {
            if looks_like_setting(&literal) && !NOT_SETTINGS.contains(&literal.as_str()) {
                out.entry(literal).or_default().insert(relative.clone());
            }
        }
    }
    out
}

/// `| `NAME` | default | ...` rows of a markdown table, name to the default cell.
pub fn table_defaults(markdown: &str) -> BTreeMap<String, String> {
    markdown
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let default = cells.get(2)?;
            looks_like_setting(name).then(|| (name.to_owned(), default.to_string()))
        })
        .collect()
}

/// What a default cell means: `Some(value)` for a literal ("" for none), `None` for a described
/// default (in italics) or a required setting.
pub fn literal_default(cell: &str) -> Option<String> {
    let cell = cell.trim();
    if cell.starts_with('*') || cell == "required" {
        return None;
    }
    let value = cell.trim_matches('`');
    Some(match value {
        "—" | "-" | "unset" => String::new(),
        v => v.to_owned(),
    })
}

pub fn local_settings() -> BTreeMap<String, String> {
    let json: serde_json::Value =
        serde_json::from_str(&read(&root().join("local.settings.json"))).unwrap();
    json["Values"]
        .as_object()
        .expect("local.settings.json has Values")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Problems of one setting across the runbook, README and local.settings.json.
fn check_setting(
    name: &str,
    runbook: &BTreeMap<String, String>,
    readme: &BTreeMap<String, String>,
    local: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(cell) = runbook.get(name) else {
        return vec![format!(
            "{name} is read by the code but missing from the settings table in docs/deploy.md \
             (add a row: | `{name}` | default | set by | meaning |)"
        )];
    };
    if cell.is_empty() {
        out.push(format!(
            "{name} has no default in docs/deploy.md (write — for none)"
        ));
    }
    if let Some(readme_cell) = readme.get(name)
        && literal_default(readme_cell) != literal_default(cell)
    {
        out.push(format!(
            "{name}: the README says the default is `{readme_cell}`, docs/deploy.md `{cell}`"
        ));
    }
    if HOST_PROVIDED.contains(&name) {
        return out;
    }
    match (local.get(name), literal_default(cell)) {
        (None, _) => out.push(format!(
            "{name} is missing from local.settings.json (add \"{name}\": \"{}\")",
            literal_default(cell).unwrap_or_default()
        )),
        (Some(value), Some(default)) if !value.is_empty() && *value != default => out.push(
            format!("{name}: local.settings.json has `{value}`, the documented default is `{default}`"),
        ),
        (Some(value), None) if cell.starts_with('*') && !value.is_empty() => out.push(format!(
            "{name}: the default is described ({cell}), so local.settings.json should leave it empty, not `{value}`"
        )),
        _ => {}
    }
    out
}

#[test]
fn every_setting_the_code_reads_is_in_the_runbook_table_the_readme_and_local_settings_with_one_default()
 {
    let code = settings_read_by_the_code();
    assert!(
        code.len() >= 40
            && code.contains_key("MISP_URL")
            && code.contains_key("AZURE_CLIENT_SECRET"),
        "the settings scan found too little ({} names): {code:?}",
        code.len()
    );
    let runbook = table_defaults(&read(&root().join("docs/deploy.md")));
    let readme = table_defaults(&read(&root().join("README.md")));
    let local = local_settings();
    let problems: Vec<String> = code
        .keys()
        .flat_map(|name| check_setting(name, &runbook, &readme, &local))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!(
        "docs: {} settings read by the code, each in docs/deploy.md and local.settings.json",
        code.len()
    );
}

#[test]
fn a_missing_row_or_a_contradicting_default_is_reported_by_name() {
    let runbook = table_defaults(
        "| `MISP_CHUNK_SIZE` | 1000 | optional | x |\n| `MISP_MODE` | *a description* | optional | x |\n",
    );
    let readme = table_defaults("| `MISP_CHUNK_SIZE` | 500 | x |\n");
    let local: BTreeMap<String, String> = [("MISP_MODE", "online"), ("MISP_CHUNK_SIZE", "900")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let chunk = check_setting("MISP_CHUNK_SIZE", &runbook, &readme, &local);
    assert_eq!(chunk.len(), 2, "{chunk:?}");
    assert!(chunk[0].contains("README says the default is `500`"));
    assert!(chunk[1].contains("local.settings.json has `900`"));
    let missing = check_setting("MISP_TIMEOUT_SECS", &runbook, &readme, &local);
    assert!(missing[0].starts_with("MISP_TIMEOUT_SECS is read by the code but missing"));
    let described = check_setting("MISP_MODE", &runbook, &readme, &local);
    assert!(
        described[0].contains("should leave it empty"),
        "{described:?}"
    );
}

#[test]
fn every_documented_setting_is_one_the_code_or_the_platform_reads() {
    let code = settings_read_by_the_code();
    let runbook = table_defaults(&read(&root().join("docs/deploy.md")));
    // Read by the Functions host, not the handler: function.json placeholders and tracing's filter.
    let platform = ["EVENTHUB_NAME", "EVENTHUB_CONSUMER_GROUP", "RUST_LOG"];
    let stale: Vec<&String> = runbook
        .keys()
        .filter(|n| !code.contains_key(*n) && !platform.contains(&n.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "documented but read by nothing: {stale:?}"
    );
}

/// `@minValue`/`@maxValue` of each parameter of infra/main.bicep: name to (min, max).
fn bicep_ranges() -> BTreeMap<String, (i64, i64)> {
    let main = read(&root().join("infra/main.bicep"));
    let (mut out, mut min, mut max) = (BTreeMap::new(), None, None);
    for line in main.lines().map(str::trim) {
        let number = |prefix: &str| {
            line.strip_prefix(prefix)?
                .strip_suffix(')')?
                .parse::<i64>()
                .ok()
        };
        if let Some(n) = number("@minValue(") {
            min = Some(n);
        } else if let Some(n) = number("@maxValue(") {
            max = Some(n);
        } else if let Some(rest) = line.strip_prefix("param ") {
            if let (Some(lo), Some(hi), Some(name)) = (min, max, rest.split_whitespace().next()) {
                out.insert(name.to_owned(), (lo, hi));
            }
            (min, max) = (None, None);
        }
    }
    out
}

/// Every `A–B` on a line of the runbook that names a parameter.
fn quoted_ranges(markdown: &str, param: &str) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for line in markdown.lines().filter(|l| l.contains(param)) {
        for (at, _) in line.match_indices('–') {
            let before: String = line[..at]
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect();
            let after: String = line[at + '–'.len_utf8()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let lo = before.chars().rev().collect::<String>().parse();
            if let (Ok(lo), Ok(hi)) = (lo, after.parse()) {
                out.push((lo, hi));
            }
        }
    }
    out
}

#[test]
fn every_parameter_range_the_runbook_quotes_is_the_one_main_bicep_declares() {
    let runbook = read(&root().join("docs/deploy.md"));
    let ranges = bicep_ranges();
    assert_eq!(ranges.get("flexMaximumInstanceCount"), Some(&(1, 1000)));
    let mut problems = Vec::new();
    for (param, declared) in &ranges {
        for quoted in quoted_ranges(&runbook, param) {
            if quoted != *declared {
                problems.push(format!(
                    "docs/deploy.md gives {param} as {quoted:?}, main.bicep declares {declared:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        quoted_ranges(&runbook, "flexMaximumInstanceCount").contains(&(1, 1000)),
        "the runbook does not quote flexMaximumInstanceCount's range"
    );
}
