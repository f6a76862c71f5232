//! What a person may type as a call target, turned into a SIP URI.

use rsipstack::sip::transport::Transport;
use rsipstack::sip::uri::ParamsExt;
use std::net::IpAddr;

use rsipstack::sip::{Host, Scheme, Uri};

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

/// The transport a request to `uri` goes over: its `transport` parameter,
/// TLS for `sips:`, otherwise none said (UDP).
pub fn transport_of(uri: &Uri) -> Option<Transport> {
    uri.transport()
        .copied()
        .or_else(|| (uri.scheme == Some(Scheme::Sips)).then_some(Transport::Tls))
}

/// The address a URI's host is, when it is one (canonical: an IPv4-mapped
/// IPv6 address is IPv4). The parser may leave an address written in
/// brackets as a domain name; that is an address too.
pub fn host_ip(host: &Host) -> Option<IpAddr> {
    let ip = match host {
        Host::IpAddr(ip) => *ip,
        Host::Domain(domain) => domain
            .0
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?,
    };
    Some(ip.to_canonical())
}

/// Where a request to `uri` is sent, when its transport is not UDP:
/// rsipstack reads only the `transport` parameter, so a `sips:` URI
/// without one (RFC 3261 §26.2: TLS all the way) would otherwise go over
/// UDP. `None` for UDP, which rsipstack resolves on its own.
pub fn destination_of(uri: &Uri) -> Option<rsipstack::transport::SipAddr> {
    let transport = transport_of(uri)?;
    (transport != Transport::Udp).then(|| rsipstack::transport::SipAddr {
        r#type: Some(transport),
        addr: uri.host_with_port.clone(),
    })
}

/// `host:port` or `user@host:port` (rather than `scheme:rest`).
fn looks_like_host_port(text: &str) -> bool {
    let without_params = text.split(';').next().unwrap_or(text);
    let host_part = without_params
        .rsplit_once('@')
        .map_or(without_params, |(_, host)| host);
    host_part
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_an_address_however_the_parser_left_it() {
        let ip = |text: &str| host_ip(&Uri::try_from(text).unwrap().host_with_port.host);
        assert_eq!(
            ip("sip:a@192.0.2.1:5060"),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            ip("sip:a@[2001:db8::1]:5060"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            host_ip(&Host::Domain("[::ffff:192.0.2.1]".into())),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(ip("sip:a@sip.example.org"), None);
    }

    #[test]
    fn the_transport_comes_from_the_parameter_or_the_scheme() {
        let tls = parse_target("sip:bob@127.0.0.1:5061;transport=tls").unwrap();
        assert_eq!(transport_of(&tls), Some(Transport::Tls));
        let sips = parse_target("sips:bob@example.org").unwrap();
        assert_eq!(transport_of(&sips), Some(Transport::Tls));
        let tcp = parse_target("bob@127.0.0.1:5060;transport=tcp").unwrap();
        assert_eq!(transport_of(&tcp), Some(Transport::Tcp));
        assert_eq!(transport_of(&parse_target("192.0.2.1").unwrap()), None);
        let to = destination_of(&sips).expect("TLS for sips:");
        assert_eq!(to.r#type, Some(Transport::Tls));
        assert_eq!(to.addr.to_string(), "example.org");
        assert!(destination_of(&parse_target("sip:bob@example.org").unwrap()).is_none());
    }

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
