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
    "urn:xmpp:call-invites:0",
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
    let data = caps::compute_disco(&disco_info(name, None));
    // SHA-1 is what XEP-0115 clients expect; hashing cannot fail for it.
    let hash = caps::hash_caps(&data, Algo::Sha_1).expect("sha-1 is supported");
    Caps::new(NODE, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_is_stable_and_lists_the_notify_features() {
        let a = caps("Tandem");
        let b = caps("Tandem");
        assert_eq!(a.ver, b.ver);
        assert_eq!(a.ver.len(), 20, "a SHA-1");
        let info = disco_info("Tandem", None);
        assert!(info.features.contains("urn:xmpp:reach:0+notify"));
        assert!(info
            .features
            .contains("http://jabber.org/protocol/activity+notify"));
    }
}
