//! Cleaning third-party text (MISP content, API error bodies, credential errors) before it
//! reaches a match, a log line, an error message or an alert: [`clean_text`].

/// Replaces control and bidi-override characters (newlines included) with spaces, collapses
/// runs of whitespace, trims, and cuts to at most `max_chars` characters (ending in `…` if cut).
pub fn clean_text(input: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max_chars * 4));
    let mut count = 0;
    let mut pending_space = false;
    for c in input.chars() {
        let unsafe_char = c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if unsafe_char || c.is_whitespace() {
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
}
