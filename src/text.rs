//! Cleaning third-party text (MISP content, API error bodies, credential errors) before it
//! reaches a match, a log line, an error message or an alert: [`clean_text`].
//!
//! What is removed is taken from the Unicode Character Database through ICU4X
//! (`icu_properties`, the Unicode Consortium's own library), not from a hand-kept list: every
//! control character (`Cc`), every format character (`Cf`: bidi embeddings, overrides and
//! isolates, U+061C, U+00AD, U+180E, U+2060–U+2064, U+FFF9–U+FFFB, the U+E0000 tag block, …),
//! every `Default_Ignorable_Code_Point` (variation selectors, Hangul fillers, U+034F, the
//! unassigned rest of U+E0000–U+E0FFF, …) and the line and paragraph separators. Such
//! characters are invisible or reorder what is around them, so a title could read differently
//! from what it holds ([UAX #9](https://www.unicode.org/reports/tr9/),
//! [UTS #55](https://www.unicode.org/reports/tr55/)).
//!
//! Also the one wording of a server's requested wait in an error message: [`retry_after_text`].

use std::time::Duration;

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};

/// Whether a character is invisible or changes how the text around it displays: a control or
/// format character, a default-ignorable code point, or a line or paragraph separator.
pub fn is_invisible(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    matches!(
        category,
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// Replaces invisible characters ([`is_invisible`], newlines included) with spaces, collapses
/// runs of whitespace, trims, and cuts to at most `max_chars` characters (ending in `…` if cut).
pub fn clean_text(input: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max_chars * 4));
    let mut count = 0;
    let mut pending_space = false;
    for c in input.chars() {
        if is_invisible(c) || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        let needed = if pending_space { 2 } else { 1 };
        if count + needed > max_chars {
            if max_chars > 0 {
                // Make room for the ellipsis.
                while count + 1 > max_chars {
                    out.pop();
                    count -= 1;
                }
                out.push('…');
            }
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// ", Retry-After N s" when a server said how long to wait (whole seconds), else nothing: how every
/// API's throttled error says it.
pub fn retry_after_text(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(", Retry-After {} s", d.as_secs()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_single_spaces_and_length_is_bounded() {
        assert_eq!(clean_text("  a\r\n\tb\u{0}c  ", 100), "a b c");
        assert_eq!(clean_text("abcdef", 4), "abc…");
        assert_eq!(clean_text("abcdef", 6), "abcdef");
        assert_eq!(clean_text("ab\u{202e}cd", 10), "ab cd");
        assert_eq!(clean_text("ééééé", 3).chars().count(), 3);
        assert_eq!(clean_text("", 3), "");
    }

    /// One character of each class the issue named and the Unicode properties cover, each
    /// planted in a MISP-like title: none survives, the visible text does.
    #[test]
    fn every_class_of_invisible_character_is_stripped() {
        let classes: &[(&str, &[char])] = &[
            (
                "C0 and C1 controls",
                &['\u{7}', '\u{1b}', '\u{85}', '\u{9f}'],
            ),
            (
                "bidi embeddings, overrides, isolates and marks",
                &[
                    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}',
                    '\u{2067}', '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
                ],
            ),
            ("soft hyphen", &['\u{ad}']),
            ("Mongolian vowel separator", &['\u{180e}']),
            (
                "zero-width and word joiners, invisible operators",
                &[
                    '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{2061}', '\u{2062}',
                    '\u{2063}', '\u{2064}', '\u{feff}',
                ],
            ),
            (
                "interlinear annotation",
                &['\u{fff9}', '\u{fffa}', '\u{fffb}'],
            ),
            (
                "tag block",
                &[
                    '\u{e0001}',
                    '\u{e0020}',
                    '\u{e0041}',
                    '\u{e007f}',
                    '\u{e0fff}',
                ],
            ),
            (
                "other default-ignorables",
                &['\u{34f}', '\u{115f}', '\u{3164}', '\u{fe0f}', '\u{e0100}'],
            ),
            (
                "prepended concatenation marks",
                &['\u{600}', '\u{6dd}', '\u{110bd}'],
            ),
            ("line and paragraph separators", &['\u{2028}', '\u{2029}']),
        ];
        for (class, chars) in classes {
            for c in *chars {
                assert!(is_invisible(*c), "{class}: U+{:04X}", *c as u32);
                let title = format!("Evil{c}campaign {c}x{c}");
                let cleaned = clean_text(&title, 100);
                assert!(
                    !cleaned.contains(*c),
                    "{class}: U+{:04X} survived in {cleaned:?}",
                    *c as u32
                );
                assert_eq!(cleaned.replace(' ', ""), "Evilcampaignx", "{class}");
            }
        }
    }

    #[test]
    fn visible_text_in_any_script_is_kept() {
        for text in [
            "Кампания",
            "攻撃キャンペーン",
            "حملة",
            "tlp:amber",
            "😀",
            "e\u{301}",
        ] {
            assert_eq!(clean_text(text, 100), text);
        }
    }
}
