//! What the sidecar resource says it supports (XEP-0030 disco#info), and the
//! XEP-0115 caps hash of it that goes into every presence.

use xmpp_parsers::caps::{self, Caps};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::Algo;

/// The caps node: who made this client.
pub const NODE: &str = "https://example.invalid/tandem";

pub const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/activity",
    "http://jabber.org/protocol/activity+notify",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/commands",
    "urn:xmpp:reach:0",
    "urn:xmpp:reach:0+notify",
    "urn:xmpp:carbons:2",
    "urn:xmpp:ping",
];

/// The disco#info answer, for `node` (our caps node#ver or none).
pub fn disco_info(name: &str, node: Option<String>) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        identities: vec![Identity::new("client", "pc", "en", name)],
        features: FEATURES.iter().map(|f| f.to_string()).collect(),
        extensions: Vec::new(),
    }
}

/// The `<c/>` element for presence.
pub fn caps(name: &str) -> Caps {
    let data = verification_string(&disco_info(name, None));
    // SHA-1 is what XEP-0115 clients expect; hashing cannot fail for it.
    let hash = caps::hash_caps(&data, Algo::Sha_1).expect("sha-1 is supported");
    Caps::new(NODE, hash)
}

/// XEP-0115 §5.1's string: identities then features, each sorted and each
/// followed by `<`. Not `xmpp_parsers::caps::compute_disco`: it sorts the
/// items *with* their `<`, which puts `activity+notify` before `activity`
/// (`+` < `<`), so clients that verify the hash (Gajim, Dino, slixmpp)
/// reject it and ask our disco#info again on every presence.
pub fn verification_string(info: &DiscoInfoResult) -> Vec<u8> {
    let mut identities: Vec<String> = info
        .identities
        .iter()
        .map(|i| {
            format!(
                "{}/{}/{}/{}",
                i.category,
                i.type_,
                i.lang.as_deref().unwrap_or_default(),
                i.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    identities.sort();
    // A BTreeSet<String> iterates in byte order: XEP-0115's i;octet.
    let features = info.features.iter();
    let mut out = Vec::new();
    for item in identities
        .iter()
        .map(String::as_str)
        .chain(features.map(String::as_str))
    {
        out.extend_from_slice(item.as_bytes());
        out.push(b'<');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_string_is_xep_0115s_own_example() {
        let info = DiscoInfoResult {
            node: None,
            identities: vec![Identity {
                category: "client".into(),
                type_: "pc".into(),
                lang: None,
                name: Some("Exodus 0.9.1".into()),
            }],
            features: [
                "http://jabber.org/protocol/muc",
                "http://jabber.org/protocol/disco#info",
                "http://jabber.org/protocol/caps",
                "http://jabber.org/protocol/disco#items",
            ]
            .iter()
            .map(|f| f.to_string())
            .collect(),
            extensions: Vec::new(),
        };
        let hash = caps::hash_caps(&verification_string(&info), Algo::Sha_1).unwrap();
        let c = xmpp_parsers::minidom::Element::from(Caps::new("n", hash));
        assert_eq!(c.attr("ver"), Some("QgayPKawpkPSDYmwT/WM94uAlu0="));
    }

    #[test]
    fn caps_is_stable_and_lists_the_notify_features() {
        let a = caps("Tandem");
        let b = caps("Tandem");
        assert_eq!(a.ver, b.ver);
        assert_eq!(a.ver.len(), 20, "a SHA-1");
        // Worked out by hand from XEP-0115 §5.1 (features sorted on their
        // own, so `activity` before `activity+notify`).
        assert_eq!(
            xmpp_parsers::minidom::Element::from(a).attr("ver"),
            Some("g9MxxXd57eW9xAnL9aN99ogeYtI=")
        );
        let info = disco_info("Tandem", None);
        assert!(info.features.contains("urn:xmpp:reach:0+notify"));
        assert!(info
            .features
            .contains("http://jabber.org/protocol/activity+notify"));
    }
}
