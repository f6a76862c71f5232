//! XEP-0379 pre-authenticated roster subscriptions: the tokens the user's
//! sidecar gave out (`xmpp:alice@example.org?roster;preauth=TOKEN`, to a
//! SIP peer during a call), so that a subscription request carrying one is
//! approved without bothering the user (REQ-4).
//!
//! A token is 128 random bits, good once, for a while (`preauth_ttl_hours`),
//! and bound to the SIP peer it was given to (for the log and the note) and
//! to that peer's JID when known: presented by anyone else it is refused
//! and spent, since it has leaked. Compared in constant time; the store is
//! bounded (the oldest go first), so nobody can grow it by calling.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use xmpp_parsers::jid::BareJid;

/// Tokens kept at most: far more than calls answered in a day.
pub const MAX_TOKENS: usize = 256;

/// One token given out.
#[derive(Debug)]
struct Issued {
    token: String,
    peer: String,
    jid: Option<BareJid>,
    expires: Instant,
}

/// Why a presented token does not count. Never says which tokens exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no such token (forged, or used already)")]
    Unknown,
    #[error("the token expired")]
    Expired,
    #[error("the token was given for {bound}, not this account")]
    Misbound { bound: BareJid },
}

#[derive(Debug)]
pub struct Tokens {
    issued: VecDeque<Issued>,
    ttl: Duration,
}

impl Tokens {
    pub fn new(ttl: Duration) -> Tokens {
        Tokens {
            issued: VecDeque::new(),
            ttl,
        }
    }

    /// A new token for `peer` (a SIP URI), bound to `jid` when known.
    pub fn issue(&mut self, peer: &str, jid: Option<BareJid>, now: Instant) -> String {
        self.issued.retain(|t| t.expires > now);
        while self.issued.len() >= MAX_TOKENS {
            self.issued.pop_front();
        }
        let token = format!("{:032x}", rand::random::<u128>());
        self.issued.push_back(Issued {
            token: token.clone(),
            peer: peer.to_owned(),
            jid,
            expires: now + self.ttl,
        });
        token
    }

    /// Spends `token` presented by `from`: the SIP peer it was given to,
    /// or why not. Every kept token is compared, in constant time each, so
    /// the time taken says nothing of how much of a guess was right.
    pub fn redeem(&mut self, token: &str, from: &BareJid, now: Instant) -> Result<String, Refused> {
        let mut found = None;
        for (i, issued) in self.issued.iter().enumerate() {
            if same(issued.token.as_bytes(), token.as_bytes()) {
                found = Some(i);
            }
        }
        let issued = self
            .issued
            .remove(found.ok_or(Refused::Unknown)?)
            .ok_or(Refused::Unknown)?;
        if issued.expires <= now {
            return Err(Refused::Expired);
        }
        match issued.jid {
            Some(bound) if bound != *from => Err(Refused::Misbound { bound }),
            _ => Ok(issued.peer),
        }
    }
}

/// Equal bytes, in time that depends on the length only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid(text: &str) -> BareJid {
        BareJid::from_str(text).unwrap()
    }

    #[test]
    fn a_token_works_once_for_its_holder() {
        let now = Instant::now();
        let mut tokens = Tokens::new(Duration::from_secs(3600));
        let token = tokens.issue("sip:bob@example.org", None, now);
        assert_eq!(token.len(), 32, "128 bits in hex");
        assert_ne!(token, tokens.issue("sip:bob@example.org", None, now));
        let bob = jid("bob@example.org");
        assert_eq!(
            tokens.redeem(&token, &bob, now).as_deref(),
            Ok("sip:bob@example.org")
        );
        assert_eq!(
            tokens.redeem(&token, &bob, now),
            Err(Refused::Unknown),
            "replayed"
        );
    }

    #[test]
    fn forged_expired_and_misbound_tokens_are_refused() {
        let now = Instant::now();
        let mut tokens = Tokens::new(Duration::from_secs(60));
        let bob = jid("bob@example.org");
        let token = tokens.issue("sip:bob@example.org", Some(bob.clone()), now);
        let mut forged = token.clone();
        forged.replace_range(31.., if token.ends_with('0') { "1" } else { "0" });
        assert_eq!(tokens.redeem(&forged, &bob, now), Err(Refused::Unknown));
        assert_eq!(tokens.redeem("", &bob, now), Err(Refused::Unknown));
        // Someone else with Bob's token: refused, and the token is spent.
        let mallory = jid("mallory@example.org");
        assert_eq!(
            tokens.redeem(&token, &mallory, now),
            Err(Refused::Misbound { bound: bob.clone() })
        );
        assert_eq!(tokens.redeem(&token, &bob, now), Err(Refused::Unknown));
        let late = tokens.issue("sip:bob@example.org", None, now);
        let later = now + Duration::from_secs(61);
        assert_eq!(tokens.redeem(&late, &bob, later), Err(Refused::Expired));
    }

    #[test]
    fn the_store_keeps_the_newest_few() {
        let now = Instant::now();
        let mut tokens = Tokens::new(Duration::from_secs(60));
        let first = tokens.issue("sip:a@x", None, now);
        for _ in 0..MAX_TOKENS {
            tokens.issue("sip:b@x", None, now);
        }
        assert_eq!(tokens.issued.len(), MAX_TOKENS);
        assert_eq!(
            tokens.redeem(&first, &jid("a@x"), now),
            Err(Refused::Unknown)
        );
    }
}
