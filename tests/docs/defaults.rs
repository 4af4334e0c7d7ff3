//! The runbook's defaults against the code. A default is found where the code writes it next to
//! the setting's name: the argument after the name (`parsed(env, "NAME", 1000)`,
//! `flag(env, "NAME", true)`, `seconds(env, "NAME", defaults::NAME)`), or an `unwrap_or` right
//! after the read (`optional(env, "NAME").unwrap_or_else(|| DEFAULT.into())`); a named constant
//! is followed to its `const` (integer products like `256 * 1024 * 1024` included). Defaults the
//! code computes elsewhere are listed, not guessed; enough of them must be found for the check
//! to mean something.

use std::collections::BTreeMap;

use crate::settings::{literal_default, settings_read_by_the_code, table_defaults};
use crate::{read, root, rust_files, without_tests};

/// How many documented defaults must be followed to the code (today: 31).
const AT_LEAST: usize = 28;

/// The code outside tests, joined.
fn code() -> String {
    rust_files(&root().join("src"))
        .iter()
        .map(|p| without_tests(p, &read(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `const NAME: T = EXPR;` of the code, name to EXPR.
fn constants(code: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for piece in code.split("const ").skip(1) {
        let Some((name, rest)) = piece.split_once(':') else {
            continue;
        };
        let Some((_, value)) = rest.split_once('=') else {
            continue;
        };
        let Some((expr, _)) = value.split_once(';') else {
            continue;
        };
        if name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            out.insert(name.trim().to_owned(), expr.trim().to_owned());
        }
    }
    out
}

/// What the scan knows of the code: its constants and its text (for struct field defaults).
struct Code<'a> {
    text: &'a str,
    constants: BTreeMap<String, String>,
}

fn is_constant_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The value an expression stands for, when it is a literal, a constant, or a field whose
/// default is written as `field: value` in the code (`d.max_events`, `X::default().failures`).
fn resolve(expr: &str, code: &Code, depth: usize) -> Option<String> {
    let mut expr = expr.trim();
    for suffix in [".into()", ".to_owned()", ".as_secs()"] {
        expr = expr.trim_end_matches(suffix).trim();
    }
    if let Some(inner) = expr
        .strip_prefix("Duration::from_secs(")
        .and_then(|e| e.strip_suffix(')'))
    {
        expr = inner;
    }
    if let Some(s) = expr.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Some(s.to_owned());
    }
    if expr == "true" || expr == "false" {
        return Some(expr.to_owned());
    }
    let product: Option<u64> = expr
        .split('*')
        .map(|f| f.trim().replace('_', "").parse::<u64>().ok())
        .try_fold(1u64, |acc, f| acc.checked_mul(f?));
    if let Some(n) = product {
        return Some(n.to_string());
    }
    if depth >= 4 {
        return None;
    }
    let name = expr.rsplit("::").next()?;
    if is_constant_name(name) {
        return resolve(code.constants.get(name)?, code, depth + 1);
    }
    let field = expr.rsplit('.').next()?;
    if expr.contains('.') && field.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        let needle = format!("{field}: ");
        return code.text.match_indices(&needle).find_map(|(at, _)| {
            resolve(argument(&code.text[at + needle.len()..]), code, depth + 1)
        });
    }
    None
}

/// The argument starting at `text` (up to a `,` or `)` at depth 0).
fn argument(text: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return &text[..i],
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return &text[..i],
            _ => {}
        }
    }
    text
}

/// Where the call holding the argument list at `text` ends (just after its `)`).
fn call_end(text: &str) -> usize {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => return i + 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// `?.unwrap_or(x)` or `.unwrap_or_else(|| x)` at the start of `text`: `x`.
fn unwrap_or(text: &str) -> Option<&str> {
    let rest = text.trim_start().trim_start_matches('?').trim_start();
    let rest = rest.strip_prefix(".unwrap_or(").or_else(|| {
        rest.strip_prefix(".unwrap_or_else(")?
            .trim_start()
            .strip_prefix("||")
    })?;
    Some(argument(rest.trim_start()))
}

/// The default the code gives `name`, if it is written where this scan looks: in a call that
/// reads it (`reader(env, "NAME", default)`: the name is not the first argument, which is how a
/// message naming the variable, `ConfigError::new("NAME", …)`, is told apart).
fn default_in_code(name: &str, code: &Code) -> Option<String> {
    let needle = format!("\"{name}\"");
    for (at, _) in code.text.match_indices(&needle) {
        if !code.text[..at].trim_end().ends_with(',') {
            continue;
        }
        let after = &code.text[at + needle.len()..];
        let direct = after
            .trim_start()
            .strip_prefix(',')
            .and_then(|rest| resolve(argument(rest.trim_start()), code, 0));
        let found = direct.or_else(|| resolve(unwrap_or(&after[call_end(after)..])?, code, 0));
        if found.is_some() {
            return found;
        }
    }
    None
}

#[test]
fn documented_defaults_match_the_defaults_written_in_the_code() {
    let text = code();
    let code = Code {
        constants: constants(&text),
        text: &text,
    };
    let runbook = table_defaults(&read(&root().join("docs/deploy.md")));
    let (mut compared, mut not_followed, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    for name in settings_read_by_the_code().keys() {
        let documented = runbook.get(name).and_then(|cell| literal_default(cell));
        match (default_in_code(name, &code), documented) {
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
        "only {} defaults could be followed to the code (at least {AT_LEAST} expected): the \
         settings readers changed shape; teach `default_in_code` the new one",
        compared.len()
    );
}

#[test]
fn the_default_scan_follows_literals_constants_and_unwrap_or() {
    let code = r#"
        pub const BIG: usize = 256 * 1024 * 1_024;
        mod defaults { pub const LIMIT: u64 = 3_600; }
        let a = parsed(env, "A_SETTING", defaults::LIMIT)?;
        let b = flag(env, "B_SETTING", true)?;
        let c = optional(env, "C_SETTING").unwrap_or_else(|| DEFAULT_C.into());
        let d = one_of(env, "D_SETTING", &LIST)?.unwrap_or("Malware");
        let e = parsed(env, "E_SETTING", BIG)?;
        let f = parsed(env, "F_SETTING", d.max_things)?;
        let g = seconds(env, "G_SETTING", Breaker::default().cooldown.as_secs())?;
        Self { max_things: defaults::LIMIT, cooldown: Duration::from_secs(30) }
        return Err(ConfigError::new("H_SETTING", "must be at least 1"));
        const DEFAULT_C: &str = "https://example";
    "#;
    let code = Code {
        constants: constants(code),
        text: code,
    };
    let found = |n| default_in_code(n, &code);
    assert_eq!(found("A_SETTING").as_deref(), Some("3600"));
    assert_eq!(found("B_SETTING").as_deref(), Some("true"));
    assert_eq!(found("C_SETTING").as_deref(), Some("https://example"));
    assert_eq!(found("D_SETTING").as_deref(), Some("Malware"));
    assert_eq!(found("E_SETTING").as_deref(), Some("268435456"));
    assert_eq!(found("F_SETTING").as_deref(), Some("3600"));
    assert_eq!(found("G_SETTING").as_deref(), Some("30"));
    assert_eq!(found("H_SETTING"), None, "a message is not a default");
}
