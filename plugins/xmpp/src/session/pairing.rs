//! The bridge contact and the user's account, subscribed to each other.
//!
//! Both accounts are the user's, so Tandem approves both sides (RFC 6121
//! §3). A request the server delivers would pop up in the user's clients
//! too, so each side asks only once the other has pre-approved it (§3.4),
//! which the server then approves by itself: on its roster, each session
//! pre-approves the other account (unless it already has its presence)
//! and tells the other session (`Request::PairReady`); a session asks for
//! the other's presence once it has both its roster and that word. A
//! request that still arrives (a server without pre-approval) is approved
//! at once. The sidecar also puts the bridge contact on the user's roster,
//! named `bridge_name`, when it is not there. Requests from anyone else
//! are left to the user's own client, as before.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::roster::{Ask, Item, Roster, Subscription};

use super::state::{Request, Role, Session};

impl Session {
    /// The account this one pairs with: the bridge contact for the
    /// sidecar (when configured), the user's account for the bridge.
    pub(super) fn counterpart(&self) -> Option<&BareJid> {
        match &self.role {
            Role::Sidecar { bridge } => bridge.as_ref(),
            Role::Bridge { owner } => Some(owner),
        }
    }

    /// On the roster of a new connection: pre-approves the other account
    /// and tells its session; asks for its presence when that is due.
    pub(super) async fn pair_on_roster(&mut self, roster: &Roster) {
        let Some(other) = self.counterpart().cloned() else {
            return;
        };
        let item = roster.items.iter().find(|i| i.jid == other);
        let subscription = item.map_or(Subscription::None, |i| i.subscription.clone());
        self.pairing.asked = item.is_some_and(|i| i.ask == Ask::Subscribe);
        self.pairing.subscription = Some(subscription.clone());
        if matches!(subscription, Subscription::Both) {
            return;
        }
        self.host.info(&format!(
            "subscribing {} and {other} to each other (now: {})",
            self.account,
            subscription_name(&subscription)
        ));
        if item.is_none() {
            if let Role::Sidecar { .. } = self.role {
                self.add_to_roster(&other).await;
            }
        }
        if !matches!(subscription, Subscription::From) {
            self.send(subscription_stanza(&other, PresenceType::Subscribed))
                .await;
        }
        // The other session is told once the server has stored the
        // pre-approval: it answers this ping after the presence before it.
        let id = format!("pair-ready-{}", self.connects);
        let ping = Iq::from_get(id.clone(), xmpp_parsers::ping::Ping)
            .with_to(Jid::from(self.account.domain().to_owned()));
        self.pairing.ping = Some(id);
        self.send(ping.into()).await;
        self.subscribe_when_due().await;
    }

    /// An IQ result: true when it says the pre-approval is stored, and
    /// the other session has been told.
    pub(super) fn on_pair_ping(&mut self, id: &str) -> bool {
        if self.pairing.ping.as_deref() != Some(id) {
            return false;
        }
        self.pairing.ping = None;
        // Never waits: two sessions waiting on each other's full queue
        // would both stop.
        if let Some(session) = &self.pairing.other {
            if session.try_send(Request::PairReady).is_err() {
                self.host
                    .warn("the other XMPP session is busy: the subscription waits for the next connection");
            }
        }
        true
    }

    /// The other session pre-approved this one.
    pub(super) async fn on_pair_ready(&mut self) {
        self.pairing.other_ready = true;
        self.subscribe_when_due().await;
    }

    /// Asks for the counterpart's presence once the roster says it is
    /// missing and the other session has pre-approved the request.
    async fn subscribe_when_due(&mut self) {
        let Some(other) = self.counterpart().cloned() else {
            return;
        };
        let missing = matches!(
            self.pairing.subscription,
            Some(Subscription::None | Subscription::From)
        );
        if !missing || self.pairing.asked || !self.pairing.other_ready || self.bound.is_none() {
            return;
        }
        self.pairing.asked = true;
        self.send(subscription_stanza(&other, PresenceType::Subscribe))
            .await;
    }

    /// A subscription request: approved when it comes from the
    /// counterpart (true: handled here), left alone otherwise.
    pub(super) async fn on_subscription_request(&mut self, p: &Presence) -> bool {
        let from = p.from.as_ref().map(Jid::to_bare);
        if p.type_ != PresenceType::Subscribe || from.as_ref() != self.counterpart() {
            return false;
        }
        let Some(from) = from else { return false };
        self.host
            .info(&format!("{from} asked for presence: approved"));
        self.send(subscription_stanza(&from, PresenceType::Subscribed))
            .await;
        true
    }

    /// Adds the bridge contact to the user's roster with its name.
    async fn add_to_roster(&mut self, jid: &BareJid) {
        let item = Item {
            jid: jid.clone(),
            name: Some(self.config.bridge_name.clone()),
            subscription: Subscription::None,
            ask: Ask::None,
            groups: Vec::new(),
            approved: None,
        };
        let set = Iq::from_set(
            format!("pair-{}", self.connects),
            Roster {
                ver: None,
                items: vec![item],
            },
        );
        self.send(set.into()).await;
    }
}

fn subscription_stanza(to: &BareJid, type_: PresenceType) -> tokio_xmpp::Stanza {
    let mut p = Presence::new(type_);
    p.to = Some(Jid::from(to.clone()));
    p.into()
}

/// RFC 6121's words for a subscription state, for the log.
fn subscription_name(s: &Subscription) -> &'static str {
    match s {
        Subscription::None => "none",
        Subscription::From => "from",
        Subscription::To => "to",
        Subscription::Both => "both",
        Subscription::Remove => "remove",
    }
}
