//! Error messages about configuration, without the values.
//!
//! serde quotes the value it refused: ``invalid type: string "hunter2",
//! expected u64``. In a configuration that value may be a secret — a
//! `password_file` read into the wrong key, an override in the environment
//! — and the message goes to `tandem check`'s output and to the log. So
//! configuration errors name the key and the kind of value, never the value.

/// `message` with every value serde quoted replaced by its kind:
/// ``invalid type: string "x", expected u64`` becomes ``invalid type:
/// string, expected u64``; ``unknown variant `x`, expected one of `a`,
/// `b` `` keeps the expected names (they come from the program, not the
/// configuration) and drops `x`.
pub fn hide_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((at, marker)) = next_marker(rest) {
        let after = at + marker.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let skipped = if marker == "unknown variant " {
            skip_backticked(rest, true)
        } else {
            skip_unexpected(rest, &mut out)
        };
        if marker == "unknown variant " && skipped > 0 {
            out.truncate(out.len() - 1); // the space before the value
        }
        rest = &rest[skipped..];
    }
    out.push_str(rest);
    out
}

const MARKERS: [&str; 3] = ["invalid type: ", "invalid value: ", "unknown variant "];

fn next_marker(text: &str) -> Option<(usize, &'static str)> {
    MARKERS
        .iter()
        .filter_map(|m| text.find(m).map(|at| (at, *m)))
        .min_by_key(|(at, _)| *at)
}

/// After "invalid type: ": serde's `Unexpected`, which is either a bare
/// kind ("map", "unit value"), `string "…"` (Rust-escaped) or a kind and
/// a value in backticks (``integer `5` ``). Writes the kind to `out` and
/// returns how many bytes of `text` the whole of it takes.
fn skip_unexpected(text: &str, out: &mut String) -> usize {
    if let Some(quoted) = text.strip_prefix("string \"") {
        out.push_str("string");
        return "string \"".len() + closing_quote(quoted);
    }
    let kind_end = text
        .find(|c: char| !(c.is_ascii_lowercase() || c == ' '))
        .unwrap_or(text.len());
    let kind = &text[..kind_end];
    match text[kind_end..].starts_with('`') && kind.ends_with(' ') {
        true => {
            out.push_str(kind.trim_end());
            kind_end + skip_backticked(&text[kind_end..], false)
        }
        false => 0,
    }
}

/// The length of the backticked value at the start of `text` (0 if there
/// is none). Numbers, booleans and characters end at the next backtick; a
/// variant name is a user's text and may hold backticks itself, so it ends
/// at serde's own "`, expected" (or "`, there are no variants") — the last
/// one, as the value may hold that too.
fn skip_backticked(text: &str, variant: bool) -> usize {
    let Some(inner) = text.strip_prefix('`') else {
        return 0;
    };
    let end = if variant {
        inner
            .rfind("`, expected")
            .or_else(|| inner.rfind("`, there are no variants"))
    } else {
        inner.find('`')
    };
    match end {
        Some(end) => 1 + end + 1,
        None => text.len(),
    }
}

/// The length of a Rust-escaped string's rest, up to and with its closing
/// quote.
fn closing_quote(text: &str) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return i + 1,
            _ => {}
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::hide_values;

    #[test]
    fn values_serde_quotes_are_hidden_and_the_rest_kept() {
        for (message, expected) in [
            (
                r#"invalid type: string "hunter2-SECRET", expected u64"#,
                "invalid type: string, expected u64",
            ),
            (
                "invalid type: integer `839201`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                "invalid value: floating point `1.5`, expected u16",
                "invalid value: floating point, expected u16",
            ),
            (
                "invalid type: boolean `true`, expected a string",
                "invalid type: boolean, expected a string",
            ),
            (
                "unknown variant `dnd2`, expected one of `away`, `dnd`",
                "unknown variant, expected one of `away`, `dnd`",
            ),
            (
                "invalid type: map, expected a string",
                "invalid type: map, expected a string",
            ),
            (
                "unknown field `shw`, expected `show` or `status`",
                "unknown field `shw`, expected `show` or `status`",
            ),
        ] {
            assert_eq!(hide_values(message), expected);
        }
    }

    #[test]
    fn quotes_and_separators_inside_a_value_do_not_leak_it() {
        let message = r#"invalid type: string "a\", expected b `c`, d", expected u64"#;
        assert_eq!(hide_values(message), "invalid type: string, expected u64");
        let message = "invalid type: string \"pa\\\\ss\", expected u64";
        assert_eq!(hide_values(message), "invalid type: string, expected u64");
        let message = "unknown variant `a`, b`, expected one of `x`";
        assert_eq!(hide_values(message), "unknown variant, expected one of `x`");
    }

    #[test]
    fn a_message_cut_short_hides_what_is_left() {
        assert_eq!(
            hide_values("invalid type: string \"abc"),
            "invalid type: string"
        );
        assert_eq!(hide_values("unknown variant `abc"), "unknown variant");
    }
}
