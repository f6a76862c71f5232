//! Bodies and content types of requests received, as events carry them:
//! byte-exact (text when the bytes are UTF-8, else base64), and content
//! types compared by type/subtype only, ignoring parameters and case
//! (RFC 3261 §20.15, RFC 2045 §5.1).

use rsipstack::sip::{Header, Request};

/// A body as an event carries it: `text` when the bytes are UTF-8 (with
/// `base64` `None`), else `text` empty and the bytes in `base64`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    pub text: String,
    pub base64: Option<String>,
}

impl Body {
    pub fn of(bytes: &[u8]) -> Body {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body {
                text: text.to_owned(),
                base64: None,
            },
            Err(_) => Body {
                text: String::new(),
                base64: Some(base64(bytes)),
            },
        }
    }
}

/// A text body in a character set Tandem cannot read: answered 415.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCharset(pub String);

/// The `Accept` of that 415: text in UTF-8 (RFC 3428 §9's default).
pub const ACCEPT_TEXT: &str = "text/plain;charset=UTF-8";

/// A body received with `content_type` (a header value): as [`Body::of`],
/// except for `text/*` that names a charset. UTF-8 and US-ASCII are taken
/// as they are; ISO-8859-1 (Latin-1, every byte a character) is decoded
/// into `text`, with the bytes as sent in `base64`; any other charset is
/// refused, so that no one reads mojibake.
pub fn received(content_type: &str, bytes: &[u8]) -> Result<Body, UnknownCharset> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let is_text = media
        .split_once('/')
        .is_some_and(|(kind, _)| kind.trim().eq_ignore_ascii_case("text"));
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches('"').to_ascii_lowercase());
    match (is_text, charset.as_deref()) {
        (false, _) | (true, None | Some("utf-8" | "utf8" | "us-ascii")) => Ok(Body::of(bytes)),
        (true, Some("iso-8859-1" | "latin1" | "iso_8859-1" | "l1")) => Ok(Body {
            text: bytes.iter().map(|&b| char::from(b)).collect(),
            base64: (!bytes.is_ascii()).then(|| base64(bytes)),
        }),
        (true, Some(other)) => Err(UnknownCharset(other.to_owned())),
    }
}

/// The Content-Type header's value as sent, `None` when there is none.
pub fn content_type(request: &Request) -> Option<String> {
    request.headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.value().to_string()),
        _ => None,
    })
}

/// Whether `content_type` (a header value) names `wanted` (a lowercase
/// `type/subtype`), whatever its parameters, case or white space.
pub fn is_type(content_type: &str, wanted: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default();
    let mut parts = media.splitn(2, '/').map(str::trim);
    let (Some(kind), Some(sub)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Some((want_kind, want_sub)) = wanted.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case(want_kind) && sub.eq_ignore_ascii_case(want_sub)
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let triple = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= n {
                let index = (triple >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_latin_1_is_decoded_and_other_charsets_refused() {
        let latin1 = b"caf\xe9";
        let body = received("text/plain; charset=\"ISO-8859-1\"", latin1).unwrap();
        assert_eq!(body.text, "café");
        assert_eq!(body.base64.as_deref(), Some("Y2Fm6Q=="));
        assert_eq!(
            received("text/plain;charset=utf-8", "café".as_bytes()).unwrap(),
            Body::of("café".as_bytes())
        );
        assert_eq!(received("text/plain", b"hi").unwrap(), Body::of(b"hi"));
        assert_eq!(
            received("Text/Plain;Charset=Shift_JIS", b"x"),
            Err(UnknownCharset("shift_jis".into()))
        );
        // Not text: any charset parameter is the owner's business.
        assert_eq!(
            received("application/xml;charset=koi8-r", latin1).unwrap(),
            Body::of(latin1)
        );
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x80]), "//4AgA==");
    }

    #[test]
    fn text_stays_text_and_anything_else_is_carried_in_base64() {
        assert_eq!(
            Body::of("héllo\u{0}".as_bytes()),
            Body {
                text: "héllo\u{0}".into(),
                base64: None
            }
        );
        let binary = Body::of(b"\x89PNG\r\n\x1a\n\xff");
        assert_eq!(binary.text, "");
        assert_eq!(binary.base64.as_deref(), Some("iVBORw0KGgr/"));
    }

    #[test]
    fn content_types_match_by_type_and_subtype_only() {
        assert!(is_type("application/dtmf-relay", "application/dtmf-relay"));
        assert!(is_type(
            " Application/DTMF-Relay ; charset=utf-8",
            "application/dtmf-relay"
        ));
        assert!(is_type("text/plain;charset=UTF-8", "text/plain"));
        assert!(!is_type("application/dtmf-relay", "application/dtmf"));
        assert!(!is_type("application/dtmf", "application/dtmf-relay"));
        assert!(!is_type("application", "application/dtmf"));
        assert!(!is_type("", "text/plain"));
    }
}
