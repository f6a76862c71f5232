//! RFC 7616 / RFC 8760 spellings of digest parameters, on the wire.
//!
//! rsipstack 0.7.14 names the algorithm `SHA256` where the RFCs (and every
//! registrar: Kamailio, Asterisk, FreeSWITCH) say `SHA-256`: a registrar's
//! `algorithm=SHA-256` challenge fails rsipstack's parser, so REGISTER was
//! never answered and ended as a 408 after 32 s. It also quotes `qop` in
//! the credentials, where RFC 7616 §3.4 wants the bare token. Until that is
//! fixed upstream, this inspector translates at the edge: challenges coming
//! in get rsipstack's spelling, credentials going out get the RFC's. The
//! hash itself is computed by rsipstack with the right algorithm either way.

use rsipstack::sip::{Header, SipMessage};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

/// `(RFC spelling, rsipstack spelling)` of the `algorithm` values both know.
/// rsipstack's `SHA512` is plain SHA-512, not RFC 8760's SHA-512-256, so it
/// is deliberately not mapped.
const ALGORITHMS: [[&str; 2]; 2] = [["SHA-256-sess", "SHA256-sess"], ["SHA-256", "SHA256"]];
const RFC: usize = 0;
const RSIPSTACK: usize = 1;

pub struct DigestNames;

impl MessageInspector for DigestNames {
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
        }
        msg
    }
}

/// The `algorithm=` value of a digest header, its byte range.
fn algorithm_value(value: &str) -> Option<std::ops::Range<usize>> {
    let lower = value.to_ascii_lowercase();
    let key = lower.find("algorithm=")?;
    let start = key + "algorithm=".len();
    let quoted = value[start..].starts_with('"');
    let start = start + usize::from(quoted);
    let end = value[start..]
        .find(|c: char| c == ',' || c == '"' || c.is_whitespace())
        .map_or(value.len(), |n| start + n);
    Some(start..end)
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
    rename(value, RFC, RSIPSTACK)
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
    fn junk_does_not_panic() {
        for junk in [
            "",
            "algorithm=",
            "algorithm=\"",
            "Digest algorithm",
            "ALGORITHM=sha256,",
        ] {
            let _ = to_rfc(junk);
            let _ = to_rsipstack(junk);
        }
    }
}
