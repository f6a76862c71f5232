//! Digest challenges and credentials as the RFCs write them, on the wire.
//!
//! rsipstack 0.7.14 answers digest challenges, but with four gaps that
//! real registrars hit; this inspector mends them at the edge, and the
//! hash itself is still computed by rsipstack:
//!
//! - It names the algorithm `SHA256` where RFC 8760 (and Kamailio,
//!   Asterisk, FreeSWITCH) say `SHA-256`: a registrar's `algorithm=SHA-256`
//!   challenge failed its parser, so REGISTER was never answered and ended
//!   as a 408 after 32 s. Challenges coming in get rsipstack's spelling,
//!   credentials going out the RFC's; `qop` goes out as the bare token
//!   RFC 7616 §3.4 wants.
//! - It answers the topmost challenge whatever it is, and fails when it
//!   cannot parse it, where RFC 8760 §2.4 says to use the topmost one the
//!   UAC supports: a registrar listing `SHA-512-256, SHA-256, MD5` (the
//!   RFC's own order of preference) locked it out. Challenges it cannot
//!   answer are taken out of the response when one it can answer remains.
//! - It reads `qop` as one value, so `qop="auth,auth-int"` (RFC 7616 §3.3
//!   allows a list) failed too. A list that offers `auth` is narrowed to it.
//! - Its `auth-int` hashes an empty body as MD5 whatever the algorithm and
//!   the body, so a challenge allowing only `auth-int` is taken out like
//!   an unparseable one when another remains.

use rsipstack::sip::prelude::ToTypedHeader;
use rsipstack::sip::{Header, Headers, SipMessage};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

/// `(RFC spelling, rsipstack spelling)` of the `algorithm` values both know.
/// rsipstack's `SHA512` is plain SHA-512, not RFC 8760's SHA-512-256, so it
/// is deliberately not mapped.
const ALGORITHMS: [[&str; 2]; 2] = [["SHA-256-sess", "SHA256-sess"], ["SHA-256", "SHA256"]];
const RFC: usize = 0;
const RSIPSTACK: usize = 1;

pub struct DigestWire;

impl MessageInspector for DigestWire {
    fn before_send(&self, mut msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Request(request) = &mut msg {
            for header in request.headers.iter_mut() {
                match header {
                    Header::Authorization(h) => h.replace(to_rfc(h.value())),
                    Header::ProxyAuthorization(h) => h.replace(to_rfc(h.value())),
                    _ => {}
                }
            }
        }
        msg
    }

    fn after_received(&self, mut msg: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Response(response) = &mut msg {
            for header in response.headers.iter_mut() {
                match header {
                    Header::WwwAuthenticate(h) => h.replace(to_rsipstack(h.value())),
                    Header::ProxyAuthenticate(h) => h.replace(to_rsipstack(h.value())),
                    _ => {}
                }
            }
            keep_answerable(&mut response.headers);
        }
        msg
    }
}

/// Takes out the challenges rsipstack cannot parse (an algorithm it lacks,
/// such as SHA-512-256), if one it can answer remains, so that the topmost
/// left is the topmost it supports (RFC 8760 §2.4). WWW- and
/// Proxy-Authenticate are weighed apart: rsipstack picks the kind by the
/// status code, and a 407 must keep its Proxy-Authenticate.
fn keep_answerable(headers: &mut Headers) {
    for proxy in [false, true] {
        let answerable = |header: &Header| {
            let (parses, value) = match header {
                Header::WwwAuthenticate(h) if !proxy => (h.typed().is_ok(), h.value()),
                Header::ProxyAuthenticate(h) if proxy => (h.typed().is_ok(), h.value()),
                _ => return None,
            };
            Some(parses && !only_auth_int(value))
        };
        if headers.iter().any(|h| answerable(h) == Some(true)) {
            headers.retain(|h| answerable(h) != Some(false));
        }
    }
}

/// Whether a challenge allows `qop=auth-int` alone. rsipstack answers it
/// with the MD5 of an empty body whatever the algorithm and the body, which
/// is right only for a bodiless request under MD5: a challenge asking for
/// `auth` (or no qop) beside it is the better one to answer.
fn only_auth_int(value: &str) -> bool {
    param_value(value, "qop").is_some_and(|range| !offers_auth(&value[range]))
}

/// Whether a `qop` list (`auth,auth-int`) has `auth` in it.
fn offers_auth(list: &str) -> bool {
    list.split(',')
        .any(|qop| qop.trim().eq_ignore_ascii_case("auth"))
}

/// The `algorithm` value of a digest header, its byte range.
fn algorithm_value(value: &str) -> Option<std::ops::Range<usize>> {
    param_value(value, "algorithm")
}

/// The byte range of parameter `name`'s value in a digest header (inside
/// the quotes when quoted). It goes parameter by parameter, so a name
/// inside a quoted value (`realm="algorithm=x"`) is not taken, and spaces
/// around `=` are allowed (RFC 7616 §3.3, `auth-param`). Every stop is at an
/// ASCII byte, so the range is on character boundaries.
fn param_value(header: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let bytes = header.as_bytes();
    let mut i = 0;
    // The scheme (`Digest`) comes first, with no `=` before the space.
    if let Some(space) = header.find(|c: char| c.is_ascii_whitespace()) {
        if !header[..space].contains('=') {
            i = space;
        }
    }
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i].is_ascii_whitespace()) {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b',' {
            i += 1;
        }
        let this = header[name_start..i].trim();
        if i >= bytes.len() || bytes[i] == b',' {
            continue; // a parameter without a value
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let range = if bytes.get(i) == Some(&b'"') {
            let start = i + 1;
            i = start;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            let end = i.min(bytes.len());
            i = end + 1;
            start..end
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b',' && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            start..i
        };
        if this.eq_ignore_ascii_case(name) {
            return Some(range);
        }
    }
    None
}

/// The `algorithm` value spelled as column `from` of [`ALGORITHMS`],
/// respelled as column `to`.
fn rename(value: &str, from: usize, to: usize) -> String {
    let Some(range) = algorithm_value(value) else {
        return value.to_owned();
    };
    match ALGORITHMS
        .iter()
        .find(|names| value[range.clone()].eq_ignore_ascii_case(names[from]))
    {
        Some(names) => format!(
            "{}{}{}",
            &value[..range.start],
            names[to],
            &value[range.end..]
        ),
        None => value.to_owned(),
    }
}

/// A challenge as rsipstack parses it.
fn to_rsipstack(value: &str) -> String {
    narrow_qop(&rename(value, RFC, RSIPSTACK))
}

/// `qop="auth,auth-int"` becomes `qop="auth"`: rsipstack reads one value.
fn narrow_qop(value: &str) -> String {
    let Some(range) = param_value(value, "qop") else {
        return value.to_owned();
    };
    let list = &value[range.clone()];
    if list.contains(',') && offers_auth(list) {
        format!("{}auth{}", &value[..range.start], &value[range.end..])
    } else {
        value.to_owned()
    }
}

/// Credentials as RFC 7616 writes them: the RFC's algorithm name, and `qop`
/// as a bare token.
fn to_rfc(value: &str) -> String {
    rename(value, RSIPSTACK, RFC)
        .replace("qop=\"auth\"", "qop=auth")
        .replace("qop=\"auth-int\"", "qop=auth-int")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_get_rsipstacks_spelling() {
        let kamailio = r#"Digest realm="127.0.0.1", nonce="abc", qop="auth", algorithm=SHA-256"#;
        assert_eq!(
            to_rsipstack(kamailio),
            r#"Digest realm="127.0.0.1", nonce="abc", qop="auth", algorithm=SHA256"#
        );
        let quoted = r#"Digest realm="x", algorithm="sha-256-sess", nonce="n""#;
        assert_eq!(
            to_rsipstack(quoted),
            r#"Digest realm="x", algorithm="SHA256-sess", nonce="n""#
        );
        // What rsipstack knows already, or cannot do, is left alone.
        for kept in [
            r#"Digest realm="x", nonce="n", algorithm=MD5"#,
            r#"Digest realm="x", nonce="n", algorithm=SHA-512-256"#,
            r#"Digest realm="x", nonce="n""#,
        ] {
            assert_eq!(to_rsipstack(kept), kept);
        }
    }

    #[test]
    fn credentials_get_the_rfc_spelling() {
        let sent = r#"Digest username="alice", realm="r", nonce="n", uri="sip:r", response="00", algorithm=SHA256, qop="auth", nc=00000001, cnonce="c""#;
        assert_eq!(
            to_rfc(sent),
            r#"Digest username="alice", realm="r", nonce="n", uri="sip:r", response="00", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c""#
        );
    }

    #[test]
    fn parameters_are_found_one_by_one_not_by_substring() {
        // The name inside a quoted value is not the parameter.
        let tricky = r#"Digest realm="algorithm=SHA-256", nonce="n", algorithm = SHA-256"#;
        assert_eq!(
            to_rsipstack(tricky),
            r#"Digest realm="algorithm=SHA-256", nonce="n", algorithm = SHA256"#
        );
        let escaped = r#"Digest realm="a \" qop=\"auth,x", qop = "auth,auth-int""#;
        assert_eq!(
            to_rsipstack(escaped),
            r#"Digest realm="a \" qop=\"auth,x", qop = "auth""#
        );
        let valueless = r#"Digest stale, nonce="n""#;
        let range = param_value(valueless, "nonce").unwrap();
        assert_eq!(&valueless[range], "n");
    }

    #[test]
    fn a_qop_list_offering_auth_is_narrowed_to_it() {
        let opensips = r#"Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=MD5"#;
        assert_eq!(
            to_rsipstack(opensips),
            r#"Digest realm="r", nonce="n", qop="auth", algorithm=MD5"#
        );
        for kept in [
            r#"Digest realm="r", nonce="n", qop="auth-int""#,
            r#"Digest realm="r", nonce="n", qop="auth""#,
            r#"Digest realm="r", qop="auth-int,x", nonce="n""#,
        ] {
            assert_eq!(to_rsipstack(kept), kept);
        }
    }

    fn challenges(values: &[&str]) -> Headers {
        let mut headers = Headers::default();
        headers.push(Header::CallId("c".into()));
        for v in values {
            headers.push(Header::WwwAuthenticate(to_rsipstack(v).into()));
        }
        headers
    }

    fn algorithms(headers: &Headers) -> Vec<String> {
        headers
            .iter()
            .filter_map(|h| match h {
                Header::WwwAuthenticate(h) => {
                    algorithm_value(h.value()).map(|range| h.value()[range].to_owned())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_topmost_challenge_left_is_the_topmost_rsipstack_can_answer() {
        let mut rfc_8760_order = challenges(&[
            r#"Digest realm="r", nonce="1", qop="auth", algorithm=SHA-512-256"#,
            r#"Digest realm="r", nonce="2", qop="auth", algorithm=SHA-256"#,
            r#"Digest realm="r", nonce="3", qop="auth", algorithm=MD5"#,
        ]);
        keep_answerable(&mut rfc_8760_order);
        assert_eq!(algorithms(&rfc_8760_order), ["SHA256", "MD5"]);
        assert!(rfc_8760_order
            .iter()
            .any(|h| matches!(h, Header::CallId(_))));
        // auth-int alone is answered only when nothing better is offered.
        let mut auth_int = challenges(&[
            r#"Digest realm="r", nonce="1", qop="auth-int", algorithm=SHA-256"#,
            r#"Digest realm="r", nonce="2", qop="auth", algorithm=MD5"#,
        ]);
        keep_answerable(&mut auth_int);
        assert_eq!(algorithms(&auth_int), ["MD5"]);
        let mut alone = challenges(&[r#"Digest realm="r", nonce="1", qop="auth-int""#]);
        keep_answerable(&mut alone);
        assert_eq!(alone.iter().count(), 2, "kept: {alone:?}");
        // Nothing answerable: left as it came, for rsipstack's own error.
        let mut none = challenges(&[r#"Digest realm="r", nonce="1", algorithm=SHA-512-256"#]);
        keep_answerable(&mut none);
        assert_eq!(algorithms(&none), ["SHA-512-256"]);
        // A 407's only Proxy-Authenticate stays beside an answerable WWW one.
        let mut both = challenges(&[r#"Digest realm="r", nonce="1", algorithm=MD5"#]);
        both.push(Header::ProxyAuthenticate(
            r#"Digest realm="r", nonce="2", algorithm=SHA-512-256"#.into(),
        ));
        keep_answerable(&mut both);
        assert!(both
            .iter()
            .any(|h| matches!(h, Header::ProxyAuthenticate(_))));
    }

    #[test]
    fn junk_does_not_panic() {
        for junk in [
            "",
            "algorithm=",
            "algorithm=\"",
            "Digest algorithm",
            "ALGORITHM=sha256,",
            "qop=\"",
            "qop=\"auth,",
            "realm=\"é\", ALGORITHM=ß, qop=\"ü,auth\"",
            "Digest realm=\"日本\", algorithm=\"SHA-256",
        ] {
            let _ = to_rfc(junk);
            let _ = to_rsipstack(junk);
        }
    }
}
