//! REQ-4 in the session: offering a pre-authenticated roster link to a SIP
//! peer, approving a subscription request that carries a token this
//! sidecar gave out (and only then), and asking a contact for their
//! presence with the token they gave (XEP-0379).

use std::time::Instant;

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::state::{Role, Session};
use crate::xep::preauth;

impl Session {
    /// A new roster link of the user's account for the SIP peer `peer`,
    /// bound to `jid` when known.
    pub(super) fn preauth_offer(&mut self, peer: &str, jid: Option<BareJid>) -> String {
        let token = self.preauth.issue(peer, jid, Instant::now());
        preauth::roster_uri(&self.account, &token)
    }

    /// A subscription request with a XEP-0379 token: approved (and
    /// answered with ours) when the token is one this sidecar gave out,
    /// unused, unexpired and presented by the JID it was bound to. Any
    /// other is logged and left to the user's clients, as without a
    /// token. True when handled here.
    pub(super) async fn on_preauth_subscribe(&mut self, p: &Presence) -> bool {
        if p.type_ != PresenceType::Subscribe || !matches!(self.role, Role::Sidecar { .. }) {
            return false;
        }
        let (Some(from), Some(token)) = (p.from.as_ref().map(Jid::to_bare), preauth::token_of(p))
        else {
            return false;
        };
        match self.preauth.redeem(&token, &from, Instant::now()) {
            Ok(peer) => {
                self.host.info(&format!(
                    "{from} asked for presence with the roster link given to {peer}: approved"
                ));
                self.send(subscription(&from, PresenceType::Subscribed, None))
                    .await;
                self.send(subscription(&from, PresenceType::Subscribe, None))
                    .await;
                true
            }
            Err(why) => {
                self.host.warn(&format!(
                    "{from} asked for presence with a roster link token that does not count ({why}); left to your clients"
                ));
                false
            }
        }
    }

    /// Asks `jid` for their presence, pre-approving theirs (RFC 6121
    /// §3.4), with the token of the link they gave, if any.
    pub(super) async fn add_contact(&mut self, jid: BareJid, token: Option<String>) {
        self.send(subscription(&jid, PresenceType::Subscribed, None))
            .await;
        self.send(subscription(
            &jid,
            PresenceType::Subscribe,
            token.as_deref(),
        ))
        .await;
    }
}

fn subscription(to: &BareJid, type_: PresenceType, token: Option<&str>) -> tokio_xmpp::Stanza {
    let mut p = Presence::new(type_);
    p.to = Some(Jid::from(to.clone()));
    if let Some(token) = token {
        p.payloads.push(preauth::element(token));
    }
    p.into()
}
