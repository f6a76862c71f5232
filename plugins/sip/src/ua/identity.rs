//! Who the peer is in XMPP terms, and which session this is, as SIP says it:
//!
//! - `Call-Info: <xmpp:alice@example.org>;purpose=impp` (RFC 6993, as
//!   RFC 7081 §4 uses it): the user's XMPP address on every INVITE Tandem
//!   sends and every 2xx it answers one with (REQ-2), and the peer's,
//!   when it sends one, read into the call's events. A peer writes what it
//!   likes there: what it *claims*, never proof.
//! - `Session-ID` (RFC 7989): one UUID per call and side, the peer's echoed
//!   as `remote=`, so a session can be followed end to end.

use rsipstack::sip::{Header, Request};

/// RFC 7989's "null" UUID: the peer's is not known yet.
const NULL_UUID: &str = "00000000000000000000000000000000";
/// Longer claimed addresses are ignored: a JID is at most 3 × 1023 bytes,
/// and nobody's is near that.
const MAX_IMPP: usize = 512;

/// The `Call-Info` header announcing `address` (`xmpp:user@host`).
pub fn call_info(address: &str) -> Header {
    Header::Other("Call-Info".into(), format!("<{address}>;purpose=impp"))
}

/// The `Session-ID` header: ours, and the peer's when known.
pub fn session_id(local: &str, remote: Option<&str>) -> Header {
    Header::Other(
        "Session-ID".into(),
        format!("{local};remote={}", remote.unwrap_or(NULL_UUID)),
    )
}

/// Invite ids longer than this are not taken.
const MAX_INVITE: usize = 128;

/// The `Call-Info` of a call that answers XEP-0482 invite `invite`: the
/// user's address with `call-invite=` (a generic parameter, which RFC 3261
/// §20.9 allows and other peers ignore). Checked by [`valid_invite`].
pub fn call_info_answering(address: &str, invite: &str) -> Header {
    Header::Other(
        "Call-Info".into(),
        format!("<{address}>;purpose=impp;call-invite={invite}"),
    )
}

/// Whether `id` can go in a header parameter as it is: a non-empty token
/// of letters, digits and `-._~`, at most [`MAX_INVITE`] bytes.
pub fn valid_invite(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INVITE
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The invite the caller says the call answers: `call-invite=` on its
/// `purpose=impp` Call-Info item, when well-formed. A claim.
pub fn claimed_invite(request: &Request) -> Option<String> {
    values(request, "Call-Info")
        .flat_map(|value| split_outside_brackets(&value))
        .filter(|item| impp_in(item).is_some())
        .find_map(|item| {
            let (_, params) = item.trim().strip_prefix('<')?.split_once('>')?;
            params.split(';').find_map(|p| {
                let (name, value) = p.split_once('=')?;
                let value = value.trim().trim_matches('"');
                (name.trim().eq_ignore_ascii_case("call-invite") && valid_invite(value))
                    .then(|| value.to_owned())
            })
        })
}

/// The XMPP address the request's `Call-Info` names with `purpose=impp`
/// (`xmpp:bob@example.org`), if any and well-formed.
pub fn claimed_impp(request: &Request) -> Option<String> {
    values(request, "Call-Info")
        .flat_map(|value| split_outside_brackets(&value))
        .find_map(|item| impp_in(&item))
}

/// The peer's own Session-ID UUID (its local part), if it sent one.
pub fn peer_session_id(request: &Request) -> Option<String> {
    let value = values(request, "Session-ID").next()?;
    let uuid = value.split(';').next()?.trim().to_ascii_lowercase();
    (uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()) && uuid != NULL_UUID)
        .then_some(uuid)
}

/// A well-formed `xmpp:` address under `purpose=impp` in one Call-Info item.
fn impp_in(item: &str) -> Option<String> {
    let (uri, params) = item.trim().strip_prefix('<')?.split_once('>')?;
    let is_impp = params.split(';').any(|p| {
        p.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("purpose")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("impp")
        })
    });
    let jid = uri.trim().strip_prefix("xmpp:")?;
    let well_formed = is_impp
        && uri.len() <= MAX_IMPP
        && jid
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
        && !jid.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"');
    well_formed.then(|| format!("xmpp:{jid}"))
}

/// Every value of header `name` (case-insensitive), as sent.
fn values<'a>(request: &'a Request, name: &'a str) -> impl Iterator<Item = String> + 'a {
    request.headers.iter().filter_map(move |h| {
        let text = h.to_string();
        let (key, value) = text.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// A header value's comma-separated items, commas inside `<…>` kept.
fn split_outside_brackets(value: &str) -> Vec<String> {
    let (mut items, mut current, mut depth) = (Vec::new(), String::new(), 0usize);
    for c in value.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &str) -> Request {
        let text = format!(
            "INVITE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: c1\r\n\
             CSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn the_invite_a_call_answers_rides_on_the_impp_item_only() {
        let Header::Other(_, value) = call_info_answering("xmpp:bob@example.org", "tandem-00ff-7")
        else {
            panic!()
        };
        let r = request(&format!("Call-Info: {value}\r\n"));
        assert_eq!(claimed_invite(&r).as_deref(), Some("tandem-00ff-7"));
        assert_eq!(claimed_impp(&r).as_deref(), Some("xmpp:bob@example.org"));
        // On another item, malformed, or absent: no claim.
        for headers in [
            "Call-Info: <http://x/y>;purpose=info;call-invite=i1\r\n",
            "Call-Info: <xmpp:bob@example.org>;purpose=impp;call-invite=\"a b\"\r\n",
            "Call-Info: <xmpp:bob@example.org>;purpose=impp\r\n",
        ] {
            assert_eq!(claimed_invite(&request(headers)), None, "{headers}");
        }
        assert!(!valid_invite("") && !valid_invite("a;b") && !valid_invite(&"x".repeat(129)));
    }

    #[test]
    fn the_peers_xmpp_address_is_read_among_other_call_infos() {
        let r = request(
            "Call-Info: <http://www.example.com/alice/photo.jpg> ;purpose=icon, <xmpp:bob@example.org> ;purpose=impp\r\n",
        );
        assert_eq!(claimed_impp(&r).as_deref(), Some("xmpp:bob@example.org"));
        let two = request(
            "Call-Info: <http://x/y>;purpose=info\r\nCall-Info: <xmpp:carol@example.org>;Purpose=\"IMPP\"\r\n",
        );
        assert_eq!(
            claimed_impp(&two).as_deref(),
            Some("xmpp:carol@example.org")
        );
    }

    #[test]
    fn anything_else_is_no_claim() {
        for headers in [
            "",
            "Call-Info: <xmpp:bob@example.org>;purpose=icon\r\n",
            "Call-Info: <sip:bob@example.org>;purpose=impp\r\n",
            "Call-Info: <xmpp:example.org>;purpose=impp\r\n",
            "Call-Info: xmpp:bob@example.org;purpose=impp\r\n",
        ] {
            assert_eq!(claimed_impp(&request(headers)), None, "{headers:?}");
        }
        let long = format!(
            "Call-Info: <xmpp:{}@example.org>;purpose=impp\r\n",
            "a".repeat(600)
        );
        assert_eq!(claimed_impp(&request(&long)), None);
    }

    #[test]
    fn session_ids_are_read_and_written_as_rfc_7989_says() {
        let r = request("Session-ID: AB30317F1A784DC48FF824D0D3715D86;remote=00000000000000000000000000000000\r\n");
        assert_eq!(
            peer_session_id(&r).as_deref(),
            Some("ab30317f1a784dc48ff824d0d3715d86")
        );
        assert_eq!(peer_session_id(&request("Session-ID: 1234\r\n")), None);
        assert_eq!(
            session_id("47755a9de7794ba387653f2099600ef2", None).to_string(),
            "Session-ID: 47755a9de7794ba387653f2099600ef2;remote=00000000000000000000000000000000"
        );
        assert_eq!(
            call_info("xmpp:alice@example.org").to_string(),
            "Call-Info: <xmpp:alice@example.org>;purpose=impp"
        );
    }
}
