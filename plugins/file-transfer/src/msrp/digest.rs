//! HTTP Digest as an MSRP relay asks for it (RFC 4976 §5.1 on RFC 2617):
//! the relay's 401 carries `WWW-Authenticate: Digest realm, nonce,
//! qop="auth"`; the next AUTH carries `Authorization` with the response.
//! MD5 only: it is what RFC 4976 and Kamailio's `auth` module use for
//! MSRP, and SHA-256 digests (RFC 7616) have no MSRP relay to answer them.

use md5::{Digest, Md5};

use crate::fetched::hex;

/// What the relay's `WWW-Authenticate` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `qop` lists `auth`: the response then covers a client nonce and a
    /// count (RFC 2617 §3.2.2), as RFC 4976 §5.1 requires.
    pub qop_auth: bool,
}

/// Why a challenge cannot be answered, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unanswerable {
    NotDigest,
    Missing(&'static str),
    Algorithm(String),
}

impl std::fmt::Display for Unanswerable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswerable::NotDigest => f.write_str("it asks for a login other than Digest"),
            Unanswerable::Missing(what) => write!(f, "its challenge has no {what}"),
            Unanswerable::Algorithm(a) => write!(f, "it asks for the digest algorithm {a}"),
        }
    }
}

impl Challenge {
    /// Reads a `WWW-Authenticate` value.
    pub fn parse(value: &str) -> Result<Challenge, Unanswerable> {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(Unanswerable::NotDigest);
        }
        let params = params(rest);
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if let Some(algorithm) = get("algorithm") {
            if !algorithm.eq_ignore_ascii_case("MD5") {
                return Err(Unanswerable::Algorithm(algorithm));
            }
        }
        Ok(Challenge {
            realm: get("realm").ok_or(Unanswerable::Missing("realm"))?,
            nonce: get("nonce").ok_or(Unanswerable::Missing("nonce"))?,
            opaque: get("opaque"),
            qop_auth: get("qop")
                .is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"))),
        })
    }
}

/// `name=value` and `name="quoted value"` pairs separated by commas.
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            // RFC 2617 quoted-string: a backslash quotes the next character.
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The answer to one challenge.
pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// The request's method: `AUTH` for a relay.
    pub method: &'a str,
    /// The `uri` the response covers: the relay's URI, as in the AUTH's
    /// To-Path.
    pub uri: &'a str,
    /// The client nonce (qop=auth only), fresh for each challenge.
    pub cnonce: &'a str,
}

/// `response` (RFC 2617 §3.2.2.1) for the first use of the nonce.
pub fn response(challenge: &Challenge, c: &Credentials<'_>) -> String {
    let ha1 = md5_hex(&format!("{}:{}:{}", c.user, challenge.realm, c.password));
    let ha2 = md5_hex(&format!("{}:{}", c.method, c.uri));
    if challenge.qop_auth {
        md5_hex(&format!(
            "{ha1}:{}:{NONCE_COUNT}:{}:auth:{ha2}",
            challenge.nonce, c.cnonce
        ))
    } else {
        md5_hex(&format!("{ha1}:{}:{ha2}", challenge.nonce))
    }
}

/// Each nonce is answered once: a fresh AUTH gets a fresh challenge.
const NONCE_COUNT: &str = "00000001";

/// The `Authorization` header's value.
pub fn authorization(challenge: &Challenge, c: &Credentials<'_>) -> String {
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\"",
        quote(c.user),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(c.uri),
        response(challenge, c),
    );
    if challenge.qop_auth {
        value.push_str(&format!(
            ", qop=auth, nc={NONCE_COUNT}, cnonce=\"{}\"",
            quote(c.cnonce)
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
    }
    value.push_str(", algorithm=MD5");
    value
}

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn md5_hex(text: &str) -> String {
    hex(&Md5::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5, whose nonce, cnonce and response RFC 4976 §5.1's
    /// AUTH example reuses.
    #[test]
    fn the_rfc_2617_example_response() {
        let challenge = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(challenge.qop_auth);
        let credentials = Credentials {
            user: "Mufasa",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            cnonce: "0a4f113b",
        };
        assert_eq!(
            response(&challenge, &credentials),
            "6629fae49393a05397450978507c4ef1"
        );
        let header = authorization(&challenge, &credentials);
        assert!(header.contains("response=\"6629fae49393a05397450978507c4ef1\""));
        assert!(header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn challenges_tandem_cannot_answer_are_said() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(Unanswerable::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256"),
            Err(Unanswerable::Algorithm("SHA-256".into()))
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(Unanswerable::Missing("realm"))
        );
        let c = Challenge::parse("Digest realm=\"a \\\"b\\\"\",nonce=n1").unwrap();
        assert_eq!((c.realm.as_str(), c.nonce.as_str()), ("a \"b\"", "n1"));
        assert!(!c.qop_auth);
    }
}
