//! A telephone number reduced to what RFC 3966 compares, so a contact's
//! `tel:+1-555-1234` and a caller's `sip:+15551234@provider;user=phone`
//! meet in the index of who is calling, and two numbers never do.
//!
//! Only global numbers (`+` and the country code): a local number means
//! something only in its `phone-context`, which a vCard rarely gives and a
//! caller's From never matches. Visual separators (`-`, `.`, `(`, `)`,
//! RFC 3966 §5.1.1, and spaces, which vcard-temp's free-text NUMBER holds)
//! are dropped; what is left must be digits, compared exactly: never a
//! suffix or a substring (`+15551234` is not `+4915551234`, nor `5551234`).
//! An extension (`;ext=`) is part of the number; other parameters say how
//! to reach it, not whose it is, and are dropped.

/// Digits kept at most: E.164 numbers have 15, extensions a few more.
const MAX_DIGITS: usize = 24;

/// The comparable form of a global telephone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneKey {
    /// The digits after the `+`.
    number: String,
    /// The extension's digits, when one is given.
    ext: Option<String>,
}

impl PhoneKey {
    /// The number of a `tel:` URI, or of a bare global number as a
    /// vcard-temp NUMBER writes it ("+44 20 7946 0000"); None for
    /// anything else.
    pub fn of_tel(text: &str) -> Option<PhoneKey> {
        let text = text.trim();
        let number = match text.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &text[4..],
            _ => text,
        };
        global_number(number)
    }

    /// The number a SIP URI's user part is, when it is a global number
    /// (`sip:+1-555-1234@provider;user=phone`, and without `user=phone`
    /// as many providers write their callers); None for any other user.
    pub fn of_sip(uri: &str) -> Option<PhoneKey> {
        let uri = uri.trim();
        let (scheme, rest) = uri.split_once(':')?;
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return None;
        }
        let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
        let (user, _host) = rest.rsplit_once('@')?;
        let user = String::from_utf8(super::sip_key::unescape(user)?).ok()?;
        global_number(&user)
    }
}

/// `+digits[;param]*` with visual separators, as a key.
fn global_number(text: &str) -> Option<PhoneKey> {
    let rest = text.strip_prefix('+')?;
    let mut parts = rest.split(';');
    let number = digits(parts.next()?)?;
    let mut ext = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("ext") {
            ext = Some(digits(value)?);
        }
    }
    Some(PhoneKey { number, ext })
}

/// The digits of `text` with visual separators dropped; None when
/// anything else is in it, or no digit, or too many.
fn digits(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => out.push(c),
            '-' | '.' | '(' | ')' | ' ' => {}
            _ => return None,
        }
    }
    (!out.is_empty() && out.len() <= MAX_DIGITS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tel(text: &str) -> Option<PhoneKey> {
        PhoneKey::of_tel(text)
    }

    #[test]
    fn one_number_in_every_spelling() {
        let key = tel("tel:+15551234").unwrap();
        for spelling in [
            "TEL:+1-555-1234",
            "tel:+1.555.(123)4",
            "+1 555 1234",
            " tel:+1555-1234;phone-context=example.org ",
        ] {
            assert_eq!(tel(spelling).as_ref(), Some(&key), "{spelling}");
        }
        for spelling in [
            "sip:+15551234@provider.example;user=phone",
            "sip:+1-555-1234@other.example",
            "sips:%2B15551234@provider.example:5061;user=phone",
        ] {
            assert_eq!(
                PhoneKey::of_sip(spelling).as_ref(),
                Some(&key),
                "{spelling}"
            );
        }
    }

    #[test]
    fn never_a_part_of_a_number() {
        let key = tel("tel:+15551234").unwrap();
        for other in [
            "tel:+155512345",
            "tel:+4915551234",
            "tel:+5551234",
            "tel:+15551234;ext=12",
        ] {
            assert_ne!(tel(other).as_ref(), Some(&key), "{other}");
        }
        assert_eq!(tel("tel:+15551234;ext=1-2"), tel("tel:+1-555-1234;EXT=12"));
        assert_ne!(
            PhoneKey::of_sip("sip:+155512345@provider.example;user=phone").as_ref(),
            Some(&key)
        );
    }

    #[test]
    fn local_numbers_names_and_junk_are_no_number() {
        for text in [
            "tel:5551234;phone-context=example.org",
            "5551234",
            "tel:+",
            "tel:+1555*1234",
            "tel:+1555abc",
            "sip:bob@example.org",
            "tel:+1234567890123456789012345",
        ] {
            assert_eq!(tel(text), None, "{text}");
        }
        for uri in [
            "sip:bob@example.org",
            "sip:5551234@provider.example;user=phone",
            "sip:provider.example",
            "xmpp:+15551234@example.org",
        ] {
            assert_eq!(PhoneKey::of_sip(uri), None, "{uri}");
        }
    }
}
