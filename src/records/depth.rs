//! The `MATCH_MAX_JSON_DEPTH` pre-check: how deep an event's JSON nests, found before it is
//! decoded, so a hostile body is refused without being parsed.

/// The deepest nesting of objects and arrays in JSON text, found by one pass over the bytes
/// (strings and escapes skipped), stopping as soon as `limit` is passed. Run before decoding so a
/// hostile body is refused without being walked. Strings, most of a Defender record, are skipped
/// with `memchr2` to their next quote or backslash rather than a byte at a time.
///
/// Nesting never goes deeper than the opening brackets the text holds, inside strings or not:
/// a body with at most `limit` of them (a Defender record has about five) is answered by counting
/// them, at memory speed, without the walk (which, stopping at every quote of a record, was 7 %
/// of a warm batch; issue 14, BENCHMARKS.md "Part 4").
pub fn json_depth_exceeds(bytes: &[u8], limit: usize) -> bool {
    if memchr::memchr2_iter(b'{', b'[', bytes).nth(limit).is_none() {
        return false;
    }
    let mut depth = 0usize;
    brackets(bytes).any(|open| {
        if open {
            depth += 1;
            depth > limit
        } else {
            depth = depth.saturating_sub(1);
            false
        }
    })
}

/// Whether the JSON value that starts `bytes` closes within them (strings and escapes skipped, as
/// by [`json_depth_exceeds`]): how `scan` tells JSON lines from a document spread over lines.
pub fn first_value_closes(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    brackets(bytes).any(|open| {
        if open {
            depth += 1;
            false
        } else {
            depth = depth.saturating_sub(1);
            depth == 0
        }
    })
}

/// The brackets of JSON text outside its strings, in order: `true` for `{` or `[`, `false` for
/// `}` or `]`. None after a string that does not close (the rest is inside it).
fn brackets(bytes: &[u8]) -> impl Iterator<Item = bool> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        loop {
            let &b = bytes.get(i)?;
            i += 1;
            match b {
                b'"' => i = string_end(bytes, i)?,
                b'{' | b'[' => return Some(true),
                b'}' | b']' => return Some(false),
                _ => {}
            }
        }
    })
}

/// The index just past the quote that closes the string whose text starts at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let k = from + memchr::memchr2(b'"', b'\\', bytes.get(from..)?)?;
        if bytes[k] == b'"' {
            return Some(k + 1);
        }
        from = k + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_value_closes_only_outside_strings() {
        assert!(first_value_closes(br#"{"a":"}]"}"#));
        assert!(first_value_closes(br#"[{"b":"\"{"}] trailing"#));
        assert!(
            !first_value_closes(br#"{"a":"\"}"#),
            "an escaped quote keeps the string open"
        );
        assert!(!first_value_closes(br#"{"a":[1,"#));
        assert!(!first_value_closes(br#"{"a":"unterminated}"#));
        assert!(
            first_value_closes(b"}"),
            "a stray closer ends at depth zero, as before"
        );
    }

    #[test]
    fn depth_is_counted_outside_strings_only() {
        assert!(!json_depth_exceeds(br#"{"a":[{"b":"[[[[[[\"{{{{"}]}"#, 3));
        assert!(json_depth_exceeds(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!json_depth_exceeds(br#"{"a":[{"b":[1]}]}"#, 4));
        assert!(json_depth_exceeds(&[b'['; 100_000], 64));
    }

    #[test]
    fn a_body_with_few_opening_brackets_is_answered_by_counting_and_many_by_the_walk() {
        // Exactly `limit` openers can never nest deeper than `limit`; one more must be walked.
        assert!(!json_depth_exceeds(b"[[[]]]", 3));
        assert!(json_depth_exceeds(b"[[[[]]]]", 3));
        // Openers inside strings count towards the shortcut but never towards the depth.
        assert!(!json_depth_exceeds(br#"["[[[[[[","{{{{"]"#, 3));
        assert!(json_depth_exceeds(br#"["[[[[[[",[[[1]]]]"#, 3));
    }

    /// The byte-at-a-time walk the handler used before (issue 14), the reference the fast one
    /// is compared with.
    fn depth_exceeds_bytewise(bytes: &[u8], limit: usize) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in bytes {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > limit {
                        return true;
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        false
    }

    #[test]
    fn the_depth_check_agrees_with_the_bytewise_walk_on_hostile_edges() {
        let cases: [&[u8]; 12] = [
            br#""\\"[["#,
            br#""\"[["#,
            br#"["a\"#,
            br#"["a\\"]]]"#,
            br#"[[["\"\"\"[[[["]]]"#,
            b"\"",
            b"\\",
            b"",
            br#"}}}]]][[["#,
            br#"{"k":"\u005b[[[","x":[[[]]]}"#,
            "[\"é😀[[[\", [[[".as_bytes(),
            br#"[[[[["#,
        ];
        for bytes in cases {
            for limit in 0..6 {
                assert_eq!(
                    json_depth_exceeds(bytes, limit),
                    depth_exceeds_bytewise(bytes, limit),
                    "{} at {limit}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn the_depth_check_agrees_with_the_bytewise_walk_on_any_brackets_quotes_and_escapes(
            bytes in proptest::collection::vec(proptest::sample::select(b"{}[]\"\\a:,".to_vec()), 0..64),
            limit in 0usize..8,
        ) {
            proptest::prop_assert_eq!(
                json_depth_exceeds(&bytes, limit),
                depth_exceeds_bytewise(&bytes, limit)
            );
        }

        #[test]
        fn the_depth_check_agrees_with_the_bytewise_walk_on_any_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            limit in 0usize..8,
        ) {
            proptest::prop_assert_eq!(
                json_depth_exceeds(&bytes, limit),
                depth_exceeds_bytewise(&bytes, limit)
            );
        }
    }
}
