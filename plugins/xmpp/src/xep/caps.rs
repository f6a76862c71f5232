//! What the sidecar resource says it supports (XEP-0030 disco#info), and the
//! XEP-0115 caps hash of it that goes into every presence.

use xmpp_parsers::caps::{self, Caps};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::Algo;

/// The caps node: who made this client.
pub const NODE: &str = "https://example.invalid/tandem";

pub const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/activity",
    "http://jabber.org/protocol/activity+notify",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/commands",
    "urn:xmpp:call-invites:0",
    "urn:xmpp:reach:0",
    "urn:xmpp:reach:0+notify",
    "urn:xmpp:carbons:2",
    "urn:xmpp:ping",
];

/// The disco#info answer, for `node` (our caps node#ver or none; the
/// ad-hoc commands node gets `commands_info`).
pub fn disco_info(name: &str, node: Option<String>) -> DiscoInfoResult {
    if node.as_deref() == Some(crate::xep::adhoc::NS) {
        return commands_info();
    }
    DiscoInfoResult {
        node,
        identities: vec![Identity::new("client", "pc", "en", name)],
        features: FEATURES.iter().map(|f| f.to_string()).collect(),
        extensions: Vec::new(),
    }
}

/// The commands node as a command list (XEP-0030's automation/command-list
/// identity) named "Commands": browsing clients show this name, not the
/// item's (Gajim's Service Discovery listed it as "Tandem" when the node
/// answered as the client itself).
fn commands_info() -> DiscoInfoResult {
    DiscoInfoResult {
        node: Some(crate::xep::adhoc::NS.to_owned()),
        identities: vec![Identity::new(
            "automation",
            "command-list",
            "en",
            "Commands",
        )],
        features: [
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            crate::xep::adhoc::NS,
        ]
        .iter()
        .map(|f| f.to_string())
        .collect(),
        extensions: Vec::new(),
    }
}

/// The disco#info answer for someone not on the roster: a client, with
/// no name, version or feature list to fingerprint it by. Servers and
/// contacts get `disco_info` (PEP needs the `+notify` features).
pub fn disco_info_minimal(node: Option<String>) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        identities: vec![Identity {
            category: "client".into(),
            type_: "pc".into(),
            lang: None,
            name: None,
        }],
        features: ["http://jabber.org/protocol/disco#info".to_owned()].into(),
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

/// A form field in the verification string: var and sorted values.
type Field<'a> = (&'a str, Vec<&'a str>);

/// XEP-0115 §5.1's string: identities then features, each sorted and each
/// followed by `<`, then the extended-info forms (sorted by FORM_TYPE: the
/// FORM_TYPE, then each field's var and its sorted values). Used for the
/// sidecar's own caps and to verify contacts' (`caps.rs`). Not `xmpp_parsers::caps::compute_disco`: it sorts the
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
    let mut forms: Vec<(&str, Vec<Field<'_>>)> = info
        .extensions
        .iter()
        .map(|form| {
            let mut fields: Vec<Field<'_>> = form
                .fields
                .iter()
                .filter(|f| f.var.as_deref() != Some("FORM_TYPE"))
                .map(|f| {
                    let mut values: Vec<&str> = f.values.iter().map(String::as_str).collect();
                    values.sort_unstable();
                    (f.var.as_deref().unwrap_or_default(), values)
                })
                .collect();
            fields.sort();
            (form.form_type().unwrap_or_default(), fields)
        })
        .collect();
    forms.sort();
    for (form_type, fields) in forms {
        out.extend_from_slice(form_type.as_bytes());
        out.push(b'<');
        for (var, values) in fields {
            for item in std::iter::once(var).chain(values) {
                out.extend_from_slice(item.as_bytes());
                out.push(b'<');
            }
        }
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

    /// XEP-0115 §5.3's complex example: two identities in two languages
    /// and an extended-info form.
    #[test]
    fn the_verification_string_is_xep_0115s_complex_example() {
        let info: xmpp_parsers::minidom::Element =
            "<query xmlns='http://jabber.org/protocol/disco#info'>\
              <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
              <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
              <feature var='http://jabber.org/protocol/caps'/>\
              <feature var='http://jabber.org/protocol/disco#info'/>\
              <feature var='http://jabber.org/protocol/disco#items'/>\
              <feature var='http://jabber.org/protocol/muc'/>\
              <x xmlns='jabber:x:data' type='result'>\
                <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
                <field var='ip_version'><value>ipv6</value><value>ipv4</value></field>\
                <field var='os'><value>Mac</value></field>\
                <field var='os_version'><value>10.5.1</value></field>\
                <field var='software'><value>Psi</value></field>\
                <field var='software_version'><value>0.11</value></field>\
              </x></query>"
                .parse()
                .unwrap();
        let info = DiscoInfoResult::try_from(info).unwrap();
        let string = verification_string(&info);
        assert_eq!(
            String::from_utf8(string.clone()).unwrap(),
            "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
             http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<\
             ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<"
        );
        let hash = caps::hash_caps(&string, Algo::Sha_1).unwrap();
        let c = xmpp_parsers::minidom::Element::from(Caps::new("n", hash));
        assert_eq!(c.attr("ver"), Some("q07IKJEyjvHSyhy//CH0CxmKi8w="));
    }

    #[test]
    fn caps_is_stable_and_lists_the_notify_features() {
        let a = caps("Tandem");
        let b = caps("Tandem");
        assert_eq!(a.ver, b.ver);
        assert_eq!(a.ver.len(), 20, "a SHA-1");
        // Worked out by hand from XEP-0115 §5.1 (features sorted on their
        // own, so `activity` before `activity+notify`); checked with
        // Python's hashlib over the same string.
        assert_eq!(
            xmpp_parsers::minidom::Element::from(a).attr("ver"),
            Some("sLUKuQWXieWk0WlEFUWsHmsioVE=")
        );
        let info = disco_info("Tandem", None);
        assert!(info.features.contains("urn:xmpp:reach:0+notify"));
        assert!(info
            .features
            .contains("http://jabber.org/protocol/activity+notify"));
    }

    #[test]
    fn the_commands_node_is_a_command_list_named_for_people() {
        let info = disco_info("Tandem", Some(crate::xep::adhoc::NS.to_owned()));
        assert_eq!(info.node.as_deref(), Some(crate::xep::adhoc::NS));
        let identity = &info.identities[0];
        assert_eq!(
            (identity.category.as_str(), identity.type_.as_str()),
            ("automation", "command-list")
        );
        assert_eq!(identity.name.as_deref(), Some("Commands"));
        // Gajim enables its "Command" button on this feature.
        assert!(info.features.contains(crate::xep::adhoc::NS));
        // The caps node#ver still answers as the client.
        let info = disco_info("Tandem", Some(format!("{NODE}#x")));
        assert_eq!(info.identities[0].category, "client");
    }
}
