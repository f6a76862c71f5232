//! XEP-0379 pre-authenticated roster subscription: the URI a token travels
//! in (`xmpp:alice@example.org?roster;preauth=TOKEN`) and the element a
//! subscription request carries it in (`<preauth xmlns='urn:xmpp:pars:0'
//! token='…'/>`).

use std::str::FromStr;

use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

pub const NS: &str = "urn:xmpp:pars:0";
/// Longer tokens are nobody's: ours are 32 hex digits.
const MAX_TOKEN: usize = 64;

/// The roster link for `account` with `token`.
pub fn roster_uri(account: &BareJid, token: &str) -> String {
    format!("xmpp:{account}?roster;preauth={token}")
}

/// The JID and token of a roster link, if it is one.
pub fn parse_uri(uri: &str) -> Option<(BareJid, String)> {
    let (jid, query) = uri.trim().strip_prefix("xmpp:")?.split_once('?')?;
    let mut parts = query.split(';');
    if parts.next()? != "roster" {
        return None;
    }
    let token = parts.find_map(|p| p.strip_prefix("preauth="))?;
    let jid = BareJid::from_str(jid).ok().filter(|j| j.node().is_some())?;
    well_formed(token).then(|| (jid, token.to_owned()))
}

/// The element a subscription request carries.
pub fn element(token: &str) -> Element {
    Element::builder("preauth", NS)
        .attr(
            xmpp_parsers::minidom::rxml::NcName::try_from("token").expect("a name"),
            token,
        )
        .build()
}

/// The token a subscription request carries, when well-formed.
pub fn token_of(presence: &Presence) -> Option<String> {
    let token = presence
        .payloads
        .iter()
        .find(|e| e.is("preauth", NS))?
        .attr("token")?;
    well_formed(token).then(|| token.to_owned())
}

fn well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::presence::Type;

    #[test]
    fn links_and_elements_carry_the_token_both_ways() {
        let alice = BareJid::from_str("alice@example.org").unwrap();
        let uri = roster_uri(&alice, "3c7efeafc1bb10d034");
        assert_eq!(
            uri,
            "xmpp:alice@example.org?roster;preauth=3c7efeafc1bb10d034"
        );
        assert_eq!(
            parse_uri(&uri),
            Some((alice, "3c7efeafc1bb10d034".to_owned()))
        );
        let mut p = Presence::new(Type::Subscribe);
        p.payloads.push(element("3c7efeafc1bb10d034"));
        let p = Presence::try_from(Element::from(p)).unwrap();
        assert_eq!(token_of(&p).as_deref(), Some("3c7efeafc1bb10d034"));
    }

    #[test]
    fn anything_else_is_no_link() {
        for uri in [
            "xmpp:alice@example.org",
            "xmpp:alice@example.org?message;preauth=abc",
            "xmpp:example.org?roster;preauth=abc",
            "xmpp:alice@example.org?roster;preauth=",
            "xmpp:alice@example.org?roster;preauth=a b",
            "sip:alice@example.org?roster;preauth=abc",
        ] {
            assert_eq!(parse_uri(uri), None, "{uri}");
        }
        assert_eq!(
            token_of(&Presence::new(xmpp_parsers::presence::Type::Subscribe)),
            None
        );
    }
}
