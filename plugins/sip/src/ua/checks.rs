//! RFC 3261 §8.2's checks on a request outside a dialog, in the RFC's
//! order, before its method is served: a UAS that cannot honour a request
//! must say why with the answer the RFC names, not act on part of it.
//!
//! - §8.2.2.1: a Request-URI scheme other than `sip`, `sips` or `tel` →
//!   416 Unsupported URI Scheme;
//! - §8.2.2.3: a `Require` naming an extension Tandem does not implement
//!   (it implements none) → 420 Bad Extension, listing them in
//!   `Unsupported` (not for ACK or CANCEL, which must not be refused so);
//! - §8.2.3: an INVITE whose body is not SDP → 415 Unsupported Media Type
//!   with `Accept` (a MESSAGE's body goes to rules and plugins, whatever its
//!   type);
//! - §8.2.3 and §21.4.7: an INVITE whose `Accept` rules out SDP, the only
//!   body its answer can carry → 406 Not Acceptable (RFC 4475 §3.3.15).
//!
//! (§8.2.1's 405 for an unknown method is `incoming::dispatch`'s.)

use rsipstack::sip::{Header, Method, Request, Scheme, StatusCode};

use super::body;

/// The option tags Tandem implements: none (it must not claim `replaces`
/// or `100rel` without doing them).
const SUPPORTED: &[&str] = &[];

/// What the request must be answered with instead of being served, if
/// anything.
pub fn refusal(request: &Request) -> Option<(StatusCode, Vec<Header>)> {
    // A Request-URI always has a scheme (an absoluteURI at least): none
    // means rsip did not recognise it (`soap.beep://...`, RFC 4475 §3.3.3).
    let scheme_ok = match &request.uri.scheme {
        Some(Scheme::Sip) | Some(Scheme::Sips) => true,
        Some(Scheme::Other(other)) => other.eq_ignore_ascii_case("tel"),
        None => false,
    };
    if !scheme_ok {
        return Some((StatusCode::UnsupportedUriScheme, Vec::new()));
    }
    if !matches!(request.method, Method::Ack | Method::Cancel) {
        let unknown: Vec<String> = option_tags(request, "Require")
            .into_iter()
            .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
            .collect();
        if !unknown.is_empty() {
            let unsupported = Header::Other("Unsupported".into(), unknown.join(", "));
            return Some((StatusCode::BadExtension, vec![unsupported]));
        }
    }
    if request.method == Method::Invite && !request.body.is_empty() {
        let sdp = body::content_type(request).is_none_or(|c| body::is_type(&c, "application/sdp"));
        if !sdp {
            let accept = Header::Other("Accept".into(), "application/sdp".into());
            return Some((StatusCode::UnsupportedMediaType, vec![accept]));
        }
    }
    if request.method == Method::Invite && !accepts_sdp(request) {
        let accept = Header::Other("Accept".into(), "application/sdp".into());
        return Some((StatusCode::NotAcceptable, vec![accept]));
    }
    None
}

/// Whether the request's `Accept` admits `application/sdp`: with no
/// `Accept` it does (§20.1), with an empty one nothing is acceptable.
fn accepts_sdp(request: &Request) -> bool {
    let mut ranges = option_tags(request, "Accept").into_iter().peekable();
    let any_accept = request.headers.iter().any(|h| {
        h.to_string()
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("Accept"))
    });
    if !any_accept {
        return true;
    }
    ranges.peek().is_some()
        && ranges.any(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            ["*/*", "application/*", "application/sdp"]
                .iter()
                .any(|ok| media.eq_ignore_ascii_case(ok))
        })
}

/// The option tags of every `name` header (comma-separated, any case of
/// the header name).
fn option_tags(request: &Request, name: &str) -> Vec<String> {
    request
        .headers
        .iter()
        .filter_map(|h| {
            let text = h.to_string();
            let (key, value) = text.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.to_owned())
        })
        .flat_map(|value| {
            value
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(first: &str, headers: &str, body: &str) -> Request {
        let text = format!(
            "{first}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: c1\r\n\
             CSeq: 1 {}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            first.split(' ').next().unwrap(),
            body.len()
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn an_unknown_uri_scheme_is_416() {
        // RFC 4475 §3.3.13's shape: a URI scheme nobody here speaks.
        let r = request("OPTIONS isbn:2983792873 SIP/2.0", "", "");
        assert_eq!(
            refusal(&r).map(|r| r.0),
            Some(StatusCode::UnsupportedUriScheme)
        );
        let tel = request("OPTIONS tel:+1-201-555-0123 SIP/2.0", "", "");
        assert_eq!(refusal(&tel), None);
        let sips = request("OPTIONS sips:alice@127.0.0.1 SIP/2.0", "", "");
        assert_eq!(refusal(&sips), None);
    }

    #[test]
    fn a_scheme_rsip_does_not_recognise_is_416() {
        // RFC 4475 §3.3.3: rsip finds no scheme in `soap.beep://...`.
        let r = request("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0", "", "");
        assert_eq!(
            refusal(&r).map(|r| r.0),
            Some(StatusCode::UnsupportedUriScheme)
        );
    }

    #[test]
    fn an_invite_whose_accept_rules_out_sdp_is_406() {
        // RFC 4475 §3.3.15's shape.
        let sdp = "Content-Type: application/sdp\r\n";
        let r = request(
            "INVITE sip:alice@127.0.0.1 SIP/2.0",
            &format!("Accept: text/nobodyKnowsThis\r\n{sdp}"),
            "v=0\r\n",
        );
        let (status, headers) = refusal(&r).unwrap();
        assert_eq!(status, StatusCode::NotAcceptable);
        assert_eq!(headers[0].to_string(), "Accept: application/sdp");
        for accept in [
            "",
            "Accept: application/sdp\r\n",
            "Accept: text/plain, */*;q=0.1\r\n",
        ] {
            let r = request(
                "INVITE sip:alice@127.0.0.1 SIP/2.0",
                &format!("{accept}{sdp}"),
                "v=0\r\n",
            );
            assert_eq!(refusal(&r), None, "{accept}");
        }
    }

    #[test]
    fn an_unknown_required_extension_is_420_naming_it() {
        // RFC 4475 §3.3.8's shape: Require: nothingSupportsThis, nothingSupportsThisEither.
        let r = request(
            "OPTIONS sip:alice@127.0.0.1 SIP/2.0",
            "Require: nothingSupportsThis, nothingSupportsThisEither\r\n",
            "",
        );
        let (status, headers) = refusal(&r).unwrap();
        assert_eq!(status, StatusCode::BadExtension);
        assert_eq!(
            headers[0].to_string(),
            "Unsupported: nothingSupportsThis, nothingSupportsThisEither"
        );
        let cancel = request(
            "CANCEL sip:alice@127.0.0.1 SIP/2.0",
            "Require: nothingSupportsThis\r\n",
            "",
        );
        assert_eq!(refusal(&cancel), None, "never refuse a CANCEL so");
    }

    #[test]
    fn an_invite_without_sdp_is_415_and_a_message_of_any_type_passes() {
        // RFC 4475 §3.3.7's shape: a body type the UAS cannot read.
        let r = request(
            "INVITE sip:alice@127.0.0.1 SIP/2.0",
            "Content-Type: application/unknownformat\r\n",
            "<audio> <pcmu port=\"443\"/> </audio>",
        );
        let (status, headers) = refusal(&r).unwrap();
        assert_eq!(status, StatusCode::UnsupportedMediaType);
        assert_eq!(headers[0].to_string(), "Accept: application/sdp");
        let sdp = request(
            "INVITE sip:alice@127.0.0.1 SIP/2.0",
            "Content-Type: Application/SDP\r\n",
            "v=0\r\n",
        );
        assert_eq!(refusal(&sdp), None);
        let message = request(
            "MESSAGE sip:alice@127.0.0.1 SIP/2.0",
            "Content-Type: application/vnd.gsma.rcs-ft-http+xml\r\n",
            "<file/>",
        );
        assert_eq!(refusal(&message), None);
    }
}
