//! Single-character classes of Lua patterns (manual §6.4.1): `%a`-style
//! classes and `[...]` sets.
//!
//! Lua decides these with the C library's `<ctype.h>` in the "C" locale
//! (the host never changes it), so only ASCII bytes are letters, digits
//! and so on; every byte above 127 belongs to no class. Rust's ASCII
//! predicates agree with the C locale except for whitespace: C counts the
//! vertical tab (`\v`) as a space, Rust's `is_ascii_whitespace` does not.

/// Whether byte `c` is in the class named by `class`, the letter after a
/// `%` (`%a`, `%S`, ...). An upper-case class letter is the complement of
/// its lower-case class. Any other byte after `%` stands for itself: `%.`
/// is a dot, `%q` a `q`. (`%z`, the NUL byte, left the manual in 5.2 but
/// not the implementation; rules may rely on it, so it stays.)
pub fn class_matches(c: u8, class: u8) -> bool {
    let member = match class.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => is_c_space(c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        // Undocumented since 5.2, but still there: the NUL byte.
        b'z' => c == 0,
        _ => return class == c,
    };
    if class.is_ascii_uppercase() {
        !member
    } else {
        member
    }
}

/// C's `isspace` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t'..=b'\r')
}

/// Whether byte `c` is in `set`, a whole set item `[...]` including both
/// brackets, as the matcher delimited it (so it is well formed: at least
/// one byte between `[` (or `[^`) and the closing `]`, and every `%`
/// inside is followed by the byte it escapes).
///
/// Inside a set: `^` first complements it; `%x` is a class or an escaped
/// byte; `x-y` is a range of byte values, only when `y` is not the closing
/// bracket (so `[a-]` holds `a` and `-`); anything else is itself.
pub fn set_matches(c: u8, set: &[u8]) -> bool {
    let mut body = &set[1..set.len() - 1];
    let mut inside = true;
    if let [b'^', rest @ ..] = body {
        inside = false;
        body = rest;
    }
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'%' {
            i += 1;
            if class_matches(c, body[i]) {
                return inside;
            }
            i += 1;
        } else if i + 2 < body.len() && body[i + 1] == b'-' {
            if (b..=body[i + 2]).contains(&c) {
                return inside;
            }
            i += 3;
        } else {
            if b == c {
                return inside;
            }
            i += 1;
        }
    }
    !inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_c_locale() {
        assert!(class_matches(0x0b, b's'), "\\v is a space in C");
        assert!(!class_matches(0x0b, b'S'));
        assert!(!class_matches(0xe9, b'a'), "no letters above ASCII");
        assert!(class_matches(0xe9, b'A'));
        assert!(class_matches(b'_', b'p'));
        assert!(!class_matches(b' ', b'g'));
        assert!(class_matches(0, b'z'), "%z is still the NUL byte in 5.4");
        assert!(!class_matches(b'z', b'z'));
        assert!(class_matches(b'Z', b'Z') && !class_matches(0, b'Z'));
        assert!(class_matches(b'q', b'q') && !class_matches(b'Q', b'q'));
        assert!(class_matches(b'.', b'.'));
    }

    #[test]
    fn sets_have_ranges_classes_and_complements() {
        assert!(set_matches(b'c', b"[a-z]"));
        assert!(!set_matches(b'C', b"[a-z]"));
        assert!(set_matches(b'-', b"[a-]"));
        assert!(!set_matches(b'b', b"[a-]"));
        assert!(set_matches(b'7', b"[%d_]"));
        assert!(!set_matches(b'7', b"[^%d_]"));
        assert!(set_matches(b']', b"[]]"));
        assert!(set_matches(b'x', b"[^]]"));
        assert!(set_matches(b'^', b"[a^]"));
        assert!(set_matches(b'-', b"[%-]"));
        assert!(
            set_matches(b'-', b"[%a-]"),
            "a class is never a range start"
        );
    }
}
