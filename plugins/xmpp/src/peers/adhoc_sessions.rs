//! XEP-0050 sessions of the commands that take more than one step (they
//! ask with a form first). A session id is a correlation token, and
//! correlation tokens must be unforgeable: it is 128 random bits, and it
//! is only honoured for the full JID that started the session, on the
//! same node, for a few minutes, and once. Anything else is refused with
//! XEP-0050's `<bad-sessionid/>` (§4.6), so a submission cannot skip the
//! step that opened the session, nor be replayed or completed by another
//! client.
//!
//! One-step commands (no form) have no session: they run on `execute`.

use std::time::{Duration, Instant};

use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use tandem_sdk::util::BoundedMap as Bounded;

/// How long a form may stay unanswered.
pub const LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Sessions open at once at most; beyond, the oldest is dropped. The owner
/// has a few clients and answers a form in seconds: more open sessions
/// than this are forms abandoned long ago.
pub const MAX_OPEN: usize = 32;

/// Who started a session, for what, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Open {
    requester: Jid,
    node: String,
    expires: Instant,
}

/// Why a continuation is refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("no such session (never opened, finished or dropped)")]
    Unknown,
    #[error("the session belongs to another client or command")]
    NotYours,
    #[error("the session has expired")]
    Expired,
}

impl SessionError {
    /// XEP-0050 §4.6: `bad-request` with `<bad-sessionid/>`, or
    /// `not-allowed` with `<session-expired/>` for the requester's own
    /// expired session. Someone else's session is reported as unknown:
    /// the answer must not tell that an id exists.
    pub fn to_stanza_error(self) -> StanzaError {
        let (type_, condition, specific, text) = match self {
            SessionError::Unknown | SessionError::NotYours => (
                ErrorType::Modify,
                DefinedCondition::BadRequest,
                "bad-sessionid",
                "no such session",
            ),
            SessionError::Expired => (
                ErrorType::Cancel,
                DefinedCondition::NotAllowed,
                "session-expired",
                "the session has expired",
            ),
        };
        let mut error = StanzaError::new(type_, condition, "en", text);
        error.other = Some(Element::builder(specific, crate::xep::adhoc::NS).build());
        error
    }
}

/// The open sessions, by id.
pub struct Sessions(Bounded<String, Open>);

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions(Bounded::new(MAX_OPEN))
    }
}

/// A fresh session id: 128 bits from the thread's CSPRNG (ChaCha12,
/// seeded from the OS), in hex.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Sessions {
    /// Opens a session of `node` for `requester` (a full JID); its id.
    pub fn open(&mut self, requester: &Jid, node: &str, now: Instant) -> String {
        let id = new_id();
        let open = Open {
            requester: requester.clone(),
            node: node.to_owned(),
            expires: now + LIFETIME,
        };
        self.0.insert(id.clone(), open);
        id
    }

    /// Whether `requester` may continue session `id` of `node` now. Does
    /// not close it: a continuation that is refused for another reason
    /// (or asks for the form again) leaves it to the requester.
    pub fn check(
        &mut self,
        id: &str,
        requester: &Jid,
        node: &str,
        now: Instant,
    ) -> Result<(), SessionError> {
        let open = self.0.get(id).ok_or(SessionError::Unknown)?;
        // A bare JID or another resource is another requester: only the
        // client that saw the form may answer it.
        if open.requester != *requester || open.node != node {
            return Err(SessionError::NotYours);
        }
        if now >= open.expires {
            self.0.remove(id);
            return Err(SessionError::Expired);
        }
        Ok(())
    }

    /// The session is over (completed or cancelled): its id is spent.
    pub fn close(&mut self, id: &str) {
        self.0.remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid(s: &str) -> Jid {
        Jid::from_str(s).unwrap()
    }

    #[test]
    fn ids_are_128_random_bits() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn only_the_requester_continues_its_own_session_of_that_node_once() {
        let now = Instant::now();
        let gajim = jid("alice@example.org/gajim");
        let mut sessions = Sessions::default();
        // Never opened: what the old "{node}-{iq id}" scheme let through.
        assert_eq!(
            sessions.check("call-1", &gajim, "call", now),
            Err(SessionError::Unknown)
        );
        let id = sessions.open(&gajim, "call", now);
        assert!(!id.contains("call"), "{id}");
        for (who, node) in [
            ("alice@example.org/dino", "call"),
            ("alice@example.org", "call"),
            ("mallory@example.org/gajim", "call"),
            ("alice@example.org/gajim", "hangup"),
        ] {
            assert_eq!(
                sessions.check(&id, &jid(who), node, now),
                Err(SessionError::NotYours),
                "{who} {node}"
            );
        }
        // Those refusals did not close it for its owner.
        assert_eq!(sessions.check(&id, &gajim, "call", now), Ok(()));
        sessions.close(&id);
        assert_eq!(
            sessions.check(&id, &gajim, "call", now),
            Err(SessionError::Unknown),
            "spent: no replay"
        );
    }

    #[test]
    fn a_session_expires_and_the_oldest_goes_beyond_the_limit() {
        let now = Instant::now();
        let gajim = jid("alice@example.org/gajim");
        let mut sessions = Sessions::default();
        let id = sessions.open(&gajim, "call", now);
        assert_eq!(
            sessions.check(&id, &gajim, "call", now + LIFETIME),
            Err(SessionError::Expired)
        );
        assert_eq!(
            sessions.check(&id, &gajim, "call", now + LIFETIME),
            Err(SessionError::Unknown),
            "forgotten once found expired"
        );
        let first = sessions.open(&gajim, "call", now);
        for _ in 0..MAX_OPEN {
            sessions.open(&gajim, "call", now);
        }
        assert_eq!(sessions.len(), MAX_OPEN);
        assert_eq!(
            sessions.check(&first, &gajim, "call", now),
            Err(SessionError::Unknown)
        );
    }

    #[test]
    fn the_errors_are_xep_0050s() {
        let text = |e: SessionError| String::from(&Element::from(e.to_stanza_error()));
        let bad = text(SessionError::NotYours);
        assert!(
            bad.contains("type='modify'")
                && bad.contains("<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>")
                && bad.contains("<bad-sessionid xmlns='http://jabber.org/protocol/commands'/>"),
            "{bad}"
        );
        assert_eq!(bad, text(SessionError::Unknown), "indistinguishable");
        let expired = text(SessionError::Expired);
        assert!(
            expired.contains("<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>")
                && expired
                    .contains("<session-expired xmlns='http://jabber.org/protocol/commands'/>"),
            "{expired}"
        );
    }
}
