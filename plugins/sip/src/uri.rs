//! What a person may type as a call target, turned into a SIP URI.

use rsipstack::sip::Uri;

/// A target that is not a SIP URI, an address or `user@host`.
#[derive(Debug, thiserror::Error)]
#[error("{target:?} is not a SIP address (try sip:user@host or an IP address): {reason}")]
pub struct UriError {
    pub target: String,
    pub reason: String,
}

/// `sip:bob@example.org`, `sips:…`, `bob@192.0.2.1:5070`, `192.0.2.1` or
/// `tel:`-less digits are accepted; anything else is an error that says what
/// was expected. Only `sip`/`sips` schemes: a `tel:` URI needs a gateway.
pub fn parse_target(target: &str) -> Result<Uri, UriError> {
    let trimmed = target.trim();
    let error = |reason: &str| UriError {
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    if trimmed.is_empty() {
        return Err(error("empty"));
    }
    let lower = trimmed.to_ascii_lowercase();
    let text = if lower.starts_with("sip:") || lower.starts_with("sips:") {
        trimmed.to_owned()
    } else if lower.contains(':') && !looks_like_host_port(trimmed) {
        return Err(error("only sip: and sips: URIs can be called"));
    } else {
        format!("sip:{trimmed}")
    };
    let uri = Uri::try_from(text.as_str()).map_err(|e| error(&e.to_string()))?;
    if uri.host_with_port.host.to_string().is_empty() {
        return Err(error("no host"));
    }
    Ok(uri)
}

/// `host:port` or `user@host:port` (rather than `scheme:rest`).
fn looks_like_host_port(text: &str) -> bool {
    let host_part = text.rsplit_once('@').map_or(text, |(_, host)| host);
    host_part
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_people_type() {
        for (input, expected) in [
            ("sip:bob@example.org", "sip:bob@example.org"),
            ("bob@127.0.0.1:5070", "sip:bob@127.0.0.1:5070"),
            ("127.0.0.1:5070", "sip:127.0.0.1:5070"),
            ("192.0.2.1", "sip:192.0.2.1"),
            (
                " sip:alice@localhost;transport=tcp ",
                "sip:alice@localhost;transport=TCP",
            ),
        ] {
            let uri = parse_target(input).unwrap();
            assert_eq!(
                uri.to_string().to_ascii_lowercase(),
                expected.to_ascii_lowercase(),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_other_schemes_and_junk() {
        for input in ["", "   ", "tel:+123", "mailto:a@b", "xmpp:bob@example.org"] {
            let err = parse_target(input).unwrap_err();
            assert!(
                err.to_string().contains("not a SIP address"),
                "{input}: {err}"
            );
        }
    }
}
