//! PHP `preg_match` patterns (`/…/flags`, as warninglists of type `regex` write them) compiled
//! with the `regex` crate, whose matching is linear in the input whatever the pattern.
//!
//! PCRE features the crate does not have (look-around, back-references, possessive
//! quantifiers) fail to compile, and the entry is reported and skipped, never half-applied.

use regex::{Regex, RegexBuilder};

/// Bytes a compiled pattern may take (the crate's own default is 10 MiB).
const SIZE_LIMIT: usize = 1 << 20;

/// Why a warninglist regex is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a pattern starts with a delimiter that is not a letter, digit, backslash or space")]
    Delimiter,
    #[error("no closing delimiter")]
    Unterminated,
    #[error("unsupported modifier `{0}`")]
    Modifier(char),
    #[error("not supported by the regex engine: {0}")]
    Syntax(String),
}

/// Compiles a delimited PHP pattern: `/body/imsxuUDA`, or with `#`, `~`, `{}`, `()`, `[]`, `<>`
/// … as delimiters.
pub fn compile(pattern: &str) -> Result<Regex, PatternError> {
    let mut chars = pattern.chars();
    let open = chars.next().ok_or(PatternError::Delimiter)?;
    if open.is_alphanumeric() || open == '\\' || open.is_whitespace() {
        return Err(PatternError::Delimiter);
    }
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        c => c,
    };
    let rest = &pattern[open.len_utf8()..];
    let end = rest.rfind(close).ok_or(PatternError::Unterminated)?;
    let (body, flags) = (&rest[..end], &rest[end + close.len_utf8()..]);
    let mut builder_body = body.to_owned();
    let (mut ci, mut multi, mut dot, mut ext, mut greed) = (false, false, false, false, false);
    for f in flags.chars() {
        match f {
            'i' => ci = true,
            'm' => multi = true,
            's' => dot = true,
            'x' => ext = true,
            'U' => greed = true,
            // UTF-8 mode, and `$` at the very end only: the crate's behaviour already.
            'u' | 'D' => {}
            'A' => builder_body = format!(r"\A(?:{builder_body})"),
            c => return Err(PatternError::Modifier(c)),
        }
    }
    let mut b = RegexBuilder::new(&builder_body);
    b.case_insensitive(ci)
        .multi_line(multi)
        .dot_matches_new_line(dot)
        .ignore_whitespace(ext)
        .swap_greed(greed)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT);
    b.build()
        .map_err(|e| PatternError::Syntax(first_line(&e.to_string())))
}

fn first_line(s: &str) -> String {
    s.lines()
        .last()
        .unwrap_or(s)
        .trim()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimited_patterns_compile_with_their_modifiers() {
        let r = compile(r"/^(postmaster|hostmaster)\@.*\..*$/i").unwrap();
        assert!(r.is_match("HostMaster@evil.test"));
        assert!(!r.is_match("alice@evil.test"));
        let r = compile(r"#^\+?00[0-9]{6}$#").unwrap();
        assert!(r.is_match("+00123456"));
        let r = compile(r"{^a/b$}").unwrap();
        assert!(r.is_match("a/b"));
        let r = compile(r"/b/A").unwrap();
        assert!(!r.is_match("ab"));
        assert!(r.is_match("ba"));
        let r = compile(r"/^a\/b$/").unwrap();
        assert!(r.is_match("a/b"));
    }

    #[test]
    fn what_the_engine_cannot_run_is_refused() {
        let err = |p| compile(p).unwrap_err();
        assert_eq!(err(""), PatternError::Delimiter);
        assert_eq!(err("abc"), PatternError::Delimiter);
        assert_eq!(err("/abc"), PatternError::Unterminated);
        assert_eq!(err("/abc/e"), PatternError::Modifier('e'));
        assert!(matches!(
            compile(r"/(?<=a)b/"),
            Err(PatternError::Syntax(_))
        ));
        assert!(matches!(compile(r"/(a)\1/"), Err(PatternError::Syntax(_))));
        assert!(matches!(
            compile(r"/a{1000}{1000}/"),
            Err(PatternError::Syntax(_))
        ));
    }
}
