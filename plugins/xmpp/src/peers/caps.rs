//! Contacts' entity capabilities (XEP-0115): what each contact's client
//! supports, learnt once per client version and shared by everyone running
//! it. A presence carries a hash of the client's disco#info; an unknown
//! hash is asked about once (disco#info to that resource), and the answer
//! is shared with other resources only if it hashes back to the advertised
//! value, so one contact cannot poison what the sidecar believes of
//! another's client. An answer that does not hash back still holds for the
//! resource that gave it. The hash is XEP-0115 §5.1's, computed by the
//! same code as the sidecar's own caps (`features::verification_string`):
//! `xmpp_parsers::caps::compute_disco` sorts `feature<` strings, which puts
//! `activity+notify` before `activity`, so every client advertising a
//! feature and its `+notify` (slixmpp, Gajim, Dino) failed verification.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use xmpp_parsers::caps::{self, Caps};
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult};

/// Client versions remembered at most: a roster has a handful of client
/// versions, and a hostile one must not grow the cache without end.
const MAX_VERSIONS: usize = 1024;

/// The features of one client version, shared.
pub type Features = Arc<[String]>;

/// What a presence's caps tell right now.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// No caps in the presence.
    Unknown,
    /// Seen before: these are the features.
    Known(Features),
    /// New: ask this resource with this query (once per version).
    Ask(DiscoInfoQuery),
    /// New, and already being asked about.
    Pending,
}

/// What an answer to an `Ask` is good for.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Verified: kept for the version; these resources advertise it.
    Shared(Features, Vec<String>),
    /// Not verified: true of the resource that answered, and no other.
    OnlyFor(Features, CapsError),
}

/// Why an answer is not shared.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapsError {
    #[error("its disco#info does not hash to the advertised caps ({0})")]
    Mismatch(String),
    #[error("hash algorithm not supported: {0:?}")]
    Algorithm(String),
}

#[derive(Default)]
pub struct CapsCache {
    known: HashMap<Vec<u8>, Features>,
    asked: HashSet<Vec<u8>>,
    /// The version each online resource (full JID) advertises.
    resources: HashMap<String, Vec<u8>>,
}

impl CapsCache {
    /// A contact's resource sent presence with (or without) caps.
    pub fn on_presence(&mut self, jid: &str, caps: Option<&Caps>) -> Lookup {
        let Some(caps) = caps else {
            self.resources.remove(jid);
            return Lookup::Unknown;
        };
        self.resources.insert(jid.to_owned(), caps.ver.clone());
        if let Some(features) = self.known.get(&caps.ver) {
            return Lookup::Known(features.clone());
        }
        if !self.asked.insert(caps.ver.clone()) {
            return Lookup::Pending;
        }
        Lookup::Ask(caps::query_caps(caps.clone()))
    }

    /// What a stranger's presence tells, with nothing remembered and
    /// nothing asked: the features of a client version already known.
    /// Only contacts' resources are tracked (`on_presence`) and asked,
    /// so that made-up JIDs neither grow the cache nor make the sidecar
    /// send disco#info questions for them.
    pub fn features(&self, caps: Option<&Caps>) -> Option<Features> {
        self.known.get(&caps?.ver).cloned()
    }

    /// The resource went offline.
    pub fn gone(&mut self, jid: &str) {
        self.resources.remove(jid);
    }

    /// An answer to an `Ask`, checked against the hash.
    pub fn on_answer(&mut self, caps: &Caps, info: &DiscoInfoResult) -> Answer {
        // A BTreeSet: already sorted.
        let features: Features = info.features.iter().cloned().collect();
        if self.known.len() >= MAX_VERSIONS {
            self.known.clear(); // asked again as they come: cheap, and rare
        }
        let string = crate::xep::caps::verification_string(info);
        let unverified = match caps::hash_caps(&string, caps.hash.clone()) {
            Ok(hash) if hash.hash == caps.ver => None,
            Ok(hash) => Some(CapsError::Mismatch(hash.to_base64())),
            Err(e) => Some(CapsError::Algorithm(e)),
        };
        if let Some(why) = unverified {
            // Another resource with the same version is asked again: it
            // may tell the truth.
            self.asked.remove(&caps.ver);
            return Answer::OnlyFor(features, why);
        }
        self.known.insert(caps.ver.clone(), features.clone());
        let holders = self
            .resources
            .iter()
            .filter(|(_, ver)| **ver == caps.ver)
            .map(|(jid, _)| jid.clone())
            .collect();
        Answer::Shared(features, holders)
    }

    /// The question went unanswered (error, timeout): the next resource
    /// advertising this version is asked again.
    pub fn on_failure(&mut self, caps: &Caps) {
        self.asked.remove(&caps.ver);
    }

    /// Forgets who is online (the connection was lost); what versions
    /// support stays known.
    pub fn offline(&mut self) {
        self.resources.clear();
        self.asked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::minidom::Element;

    /// XEP-0115 §5.2's example: Exodus 0.9.1, hash QgayPKawpkPSDYmwT/WM94uAlu0=.
    fn exodus() -> (Caps, DiscoInfoResult) {
        let info: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
              <identity category='client' type='pc' name='Exodus 0.9.1'/>\
              <feature var='http://jabber.org/protocol/caps'/>\
              <feature var='http://jabber.org/protocol/disco#info'/>\
              <feature var='http://jabber.org/protocol/disco#items'/>\
              <feature var='http://jabber.org/protocol/muc'/>\
            </query>"
            .parse()
            .unwrap();
        let caps: Element = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
              node='https://www.exodus.im/' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>"
            .parse()
            .unwrap();
        (
            Caps::try_from(caps).unwrap(),
            DiscoInfoResult::try_from(info).unwrap(),
        )
    }

    #[test]
    fn asked_once_then_known_to_every_resource_with_that_version() {
        let (caps, info) = exodus();
        let mut cache = CapsCache::default();
        let Lookup::Ask(query) = cache.on_presence("bob@example.org/a", Some(&caps)) else {
            panic!("a new version is asked about");
        };
        assert_eq!(
            query.node.as_deref(),
            Some("https://www.exodus.im/#QgayPKawpkPSDYmwT/WM94uAlu0=")
        );
        assert_eq!(
            cache.on_presence("carol@example.org/b", Some(&caps)),
            Lookup::Pending
        );
        let Answer::Shared(features, mut holders) = cache.on_answer(&caps, &info) else {
            panic!("the XEP's example verifies");
        };
        holders.sort();
        assert_eq!(holders, ["bob@example.org/a", "carol@example.org/b"]);
        assert!(features.contains(&"http://jabber.org/protocol/muc".to_owned()));
        assert_eq!(
            cache.on_presence("dave@example.org/c", Some(&caps)),
            Lookup::Known(features)
        );
    }

    #[test]
    fn an_answer_that_does_not_hash_back_is_not_shared_and_asked_again() {
        let (caps, mut info) = exodus();
        info.features.pop_last();
        let mut cache = CapsCache::default();
        assert!(matches!(
            cache.on_presence("mallory@example.org/x", Some(&caps)),
            Lookup::Ask(_)
        ));
        assert!(matches!(
            cache.on_answer(&caps, &info),
            Answer::OnlyFor(features, CapsError::Mismatch(_)) if features.len() == 3
        ));
        assert!(matches!(
            cache.on_presence("bob@example.org/a", Some(&caps)),
            Lookup::Ask(_)
        ));
    }

    /// slixmpp 1.8's own caps (its test client's plugins: PEP, activity
    /// and reach with `+notify`), as it advertises them.
    #[test]
    fn slixmpps_hash_with_notify_features_verifies() {
        let info: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='client' type='bot'/>\
            <feature var='http://jabber.org/protocol/disco#info'/><feature var='jabber:x:data'/>\
            <feature var='http://jabber.org/protocol/caps'/><feature var='urn:xmpp:ping'/>\
            <feature var='urn:xmpp:forward:0'/><feature var='urn:xmpp:carbons:2'/>\
            <feature var='http://jabber.org/protocol/chatstates'/>\
            <feature var='http://jabber.org/protocol/shim'/>\
            <feature var='http://jabber.org/protocol/shim#SubID'/>\
            <feature var='http://jabber.org/protocol/commands'/>\
            <feature var='http://jabber.org/protocol/activity+notify'/>\
            <feature var='http://jabber.org/protocol/activity'/>\
            <feature var='urn:xmpp:reach:0+notify'/><feature var='urn:xmpp:reach:0'/>\
            <feature var='vcard-temp'/></query>"
            .parse()
            .unwrap();
        let info = DiscoInfoResult::try_from(info).unwrap();
        let caps: Element = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
              node='http://slixmpp.com/ver/1.8' ver='9zpZk3sSFJ0WJ1KUM49p8pOC4ds='/>"
            .parse()
            .unwrap();
        let caps = Caps::try_from(caps).unwrap();
        // The function this replaced gets it wrong.
        let wrong = caps::hash_caps(&caps::compute_disco(&info), caps.hash.clone()).unwrap();
        assert_ne!(wrong.hash, caps.ver);
        let mut cache = CapsCache::default();
        cache.on_presence("bob@localhost/phone", Some(&caps));
        assert!(matches!(
            cache.on_answer(&caps, &info),
            Answer::Shared(features, _) if features.len() == 15
        ));
    }

    #[test]
    fn a_strangers_caps_are_looked_up_without_a_trace() {
        let (caps, info) = exodus();
        let mut cache = CapsCache::default();
        assert_eq!(cache.features(Some(&caps)), None);
        assert!(cache.asked.is_empty() && cache.resources.is_empty());
        assert!(matches!(
            cache.on_presence("bob@example.org/a", Some(&caps)),
            Lookup::Ask(_)
        ));
        cache.on_answer(&caps, &info);
        assert_eq!(cache.features(Some(&caps)).map(|f| f.len()), Some(4));
        assert_eq!(cache.features(None), None);
        assert_eq!(cache.resources.len(), 1);
    }

    #[test]
    fn no_caps_is_unknown_and_a_failure_is_retried() {
        let (caps, _) = exodus();
        let mut cache = CapsCache::default();
        assert_eq!(
            cache.on_presence("bob@example.org/a", None),
            Lookup::Unknown
        );
        assert!(matches!(
            cache.on_presence("bob@example.org/a", Some(&caps)),
            Lookup::Ask(_)
        ));
        cache.on_failure(&caps);
        assert!(matches!(
            cache.on_presence("bob@example.org/a", Some(&caps)),
            Lookup::Ask(_)
        ));
    }
}
