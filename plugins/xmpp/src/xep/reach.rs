//! XEP-0152 reachability addresses, which xmpp-parsers lacks: `<reach/>`
//! with the URIs (a SIP address, a phone number) where the user can be
//! reached other than over XMPP. Published by PEP and in presence, so a
//! contact's sidecar can "Call" a JID.

use xmpp_parsers::minidom::rxml::NcName;
use xmpp_parsers::minidom::Element;

pub const NS: &str = "urn:xmpp:reach:0";

/// More addresses than a person has phones is junk, not a profile.
pub const MAX_ADDRESSES: usize = 16;
/// A URI or description longer than this is refused rather than carried.
const MAX_TEXT: usize = 1024;

/// One address: a URI and an optional human description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub uri: String,
    pub desc: Option<String>,
}

/// Why a reach element or value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReachError {
    /// Quoted and escaped (`{:?}`): the text may come from anyone who
    /// sends presence, and goes into the log, where a line break in it
    /// would forge log lines.
    #[error("{0:?} is not a URI (it needs a scheme such as sip: or tel:)")]
    NotUri(String),
    #[error("{0} addresses; at most {MAX_ADDRESSES}")]
    TooMany(usize),
    #[error("an address or description longer than {MAX_TEXT} bytes")]
    TooLong,
    #[error("not a <reach xmlns='{NS}'/> element")]
    NotReach,
}

/// Checks each address; the list as a whole must be small.
pub fn validate(addresses: &[Address]) -> Result<(), ReachError> {
    if addresses.len() > MAX_ADDRESSES {
        return Err(ReachError::TooMany(addresses.len()));
    }
    for address in addresses {
        if address.uri.len() > MAX_TEXT || address.desc.as_ref().is_some_and(|d| d.len() > MAX_TEXT)
        {
            return Err(ReachError::TooLong);
        }
        if !is_uri(&address.uri) {
            return Err(ReachError::NotUri(address.uri.clone()));
        }
    }
    Ok(())
}

/// RFC 3986 §3.1: a scheme is a letter then letters, digits, `+`, `-`,
/// `.`; something must follow the colon.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !text.chars().any(char::is_whitespace)
}

fn uri_name() -> NcName {
    NcName::try_from("uri").expect("a valid XML name")
}

/// The `<reach/>` element; no addresses is the "stop publishing" form.
pub fn to_element(addresses: &[Address]) -> Element {
    let mut reach = Element::builder("reach", NS);
    for address in addresses {
        let mut addr = Element::builder("addr", NS).attr(uri_name(), address.uri.as_str());
        if let Some(desc) = &address.desc {
            addr = addr.append(Element::builder("desc", NS).append(desc.as_str()).build());
        }
        reach = reach.append(addr.build());
    }
    reach.build()
}

/// Reads a `<reach/>` element; unknown children are skipped (the XEP may
/// grow), bad addresses refuse the whole element.
pub fn from_element(element: &Element) -> Result<Vec<Address>, ReachError> {
    if !element.is("reach", NS) {
        return Err(ReachError::NotReach);
    }
    let addresses: Vec<Address> = element
        .children()
        .filter(|c| c.is("addr", NS))
        .map(|addr| Address {
            uri: addr.attr("uri").unwrap_or_default().to_owned(),
            desc: addr.get_child("desc", NS).map(Element::text),
        })
        .collect();
    validate(&addresses)?;
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_description() {
        let addresses = vec![
            Address {
                uri: "sip:alice@example.org".into(),
                desc: Some("Desk phone".into()),
            },
            Address {
                uri: "tel:+1-303-555-1212".into(),
                desc: None,
            },
        ];
        let element = to_element(&addresses);
        assert_eq!(
            String::from(&element),
            "<reach xmlns='urn:xmpp:reach:0'><addr uri='sip:alice@example.org'><desc>Desk phone</desc></addr><addr uri='tel:+1-303-555-1212'/></reach>"
        );
        assert_eq!(from_element(&element).unwrap(), addresses);
    }

    #[test]
    fn the_xeps_own_example_parses() {
        let element: Element = "<reach xmlns='urn:xmpp:reach:0'>\
              <addr uri='tel:+1-303-555-1212'><desc xml:lang='en'>Conference room phone</desc></addr>\
              <addr uri='sip:room123@example.com'><desc xml:lang='en'>In-room video system</desc></addr>\
            </reach>"
            .parse()
            .unwrap();
        let addresses = from_element(&element).unwrap();
        assert_eq!(addresses.len(), 2);
        assert_eq!(addresses[1].uri, "sip:room123@example.com");
        assert_eq!(addresses[1].desc.as_deref(), Some("In-room video system"));
    }

    #[test]
    fn junk_is_refused_with_the_reason() {
        let no_scheme: Element =
            "<reach xmlns='urn:xmpp:reach:0'><addr uri='alice@example.org'/></reach>"
                .parse()
                .unwrap();
        assert_eq!(
            from_element(&no_scheme),
            Err(ReachError::NotUri("alice@example.org".into()))
        );
        let missing: Element = "<reach xmlns='urn:xmpp:reach:0'><addr/></reach>"
            .parse()
            .unwrap();
        assert_eq!(
            from_element(&missing),
            Err(ReachError::NotUri(String::new()))
        );
        let many = vec![
            Address {
                uri: "sip:a@b".into(),
                desc: None
            };
            17
        ];
        assert_eq!(validate(&many), Err(ReachError::TooMany(17)));
        let long = [Address {
            uri: format!("sip:{}", "a".repeat(2000)),
            desc: None,
        }];
        assert_eq!(validate(&long), Err(ReachError::TooLong));
        let other: Element = "<mood xmlns='http://jabber.org/protocol/mood'/>"
            .parse()
            .unwrap();
        assert_eq!(from_element(&other), Err(ReachError::NotReach));
        for bad in ["sip:", "1sip:a", "sip:a b", ":x"] {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn a_strangers_junk_cannot_forge_log_lines() {
        let forged: Element = "<reach xmlns='urn:xmpp:reach:0'><addr uri='x&#10;\
             2026-01-01T00:00:00Z  INFO xmpp: online as mallory&#13;'/></reach>"
            .parse()
            .unwrap();
        let error = from_element(&forged).unwrap_err();
        assert_eq!(
            error,
            ReachError::NotUri("x\n2026-01-01T00:00:00Z  INFO xmpp: online as mallory\r".into())
        );
        let logged = error.to_string();
        assert!(!logged.contains(['\n', '\r']), "{logged}");
        assert!(logged.starts_with("\"x\\n2026"), "{logged}");
    }

    #[test]
    fn empty_is_the_stop_form() {
        let element = to_element(&[]);
        assert_eq!(from_element(&element).unwrap(), vec![]);
    }
}
