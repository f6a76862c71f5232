//! The one task that owns the XMPP client.
//!
//! tokio-xmpp only makes progress (and IQ answers only arrive) while the
//! client is polled, so one task polls it and everything else talks to that
//! task through a channel of [`Request`]s. Stanzas asked for while offline
//! are queued and sent on the next connection, and on every (re)connection
//! the sidecar's state is re-established: presence, Carbons, activity.
//!
//! The task is split by stanza kind, each part an `impl Session` block
//! over the shared [`state`] (types only):
//!
//! - this module: start-up and the dispatch of requests and client events
//!   (and what every new connection re-establishes);
//! - [`presence`], [`caps`] (contacts' XEP-0115), [`pep`] (XEP-0163:
//!   activity, reachability), [`message`] (chat, chat states, Carbons,
//!   notes to the user), [`jingle`] (the user's XEP-0353 calls), [`iq`]
//!   (disco, ping, roster, vCards), [`vcards`] (the contacts' vCards
//!   fetched after the roster), [`adhoc`]
//!   (XEP-0050 commands);
//! - [`link`] underneath all of them: sending or queueing, liveness and
//!   back-off, the offline and XEP-0198 queues.
//!
//! Dependencies point one way: this module → the stanza parts → `link` →
//! `state` (among the parts: `presence` → `caps`, `pep`; `message` → `pep`;
//! `iq` → `adhoc`, `vcards`); the payload codecs they use are in `crate::xep`, what
//! they remember of others in `crate::peers`.

mod adhoc;
mod caps;
mod iq;
mod jingle;
mod link;
mod message;
mod pairing;
mod pep;
mod preauth;
mod presence;
mod state;
#[cfg(test)]
mod tests;
mod vcards;

use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tandem_sdk::commands::xmpp::Presence;
use tandem_sdk::events::xmpp::Connection;
use tandem_sdk::Host;
use tokio::sync::mpsc;
use tokio_xmpp::{Event, Stanza};
use xmpp_parsers::carbons;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;

use crate::config::Config;
use crate::peers::adhoc_sessions::Sessions;
use crate::peers::caps::CapsCache;
use crate::peers::chat_states::ChatStates;
use crate::peers::contacts::Contacts;
use crate::xep::reach;
pub use message::{fresh_id, Note};
use state::Registry;
pub use state::{Registered, Request, Role, Session};

/// Why the session could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("not configured: set jid and password_file (or password_env) in [plugins.xmpp], or enabled = false there")]
    NotConfigured,
    #[error("[xmpp] jid `{0}` is not a JID")]
    BadJid(String),
    #[error(
        "[xmpp] jid must be the bare JID of the account (the resource is `resource`), not `{0}`"
    )]
    NotBare(String),
    #[error("[xmpp] password is empty: set password_file or password_env")]
    NoPassword,
    #[error("[xmpp] bridge_jid is set but its password is empty: set bridge_password_file or bridge_password_env")]
    NoBridgePassword,
    #[error("[xmpp] alone_show must be away, xa, dnd or \"\" (plain available), not `{0}`")]
    AloneShow(String),
    #[error("[xmpp] bridge_jid `{0}` must be another account than jid, as a bare JID (e.g. alice.phone@example.org)")]
    BadBridge(String),
    #[error(transparent)]
    Ca(#[from] crate::connect::CaError),
    #[error(transparent)]
    Pin(#[from] crate::certificate::BadPin),
    #[error("[xmpp] reach: {0}")]
    Reach(#[from] reach::ReachError),
    #[error(transparent)]
    Sasl(#[from] crate::login::PolicyError),
}

impl Session {
    pub fn new(
        config: &Config,
        host: Host,
        requests: mpsc::Sender<Request>,
        role: Role,
    ) -> Result<Session, StartError> {
        if config.jid.is_empty() {
            return Err(StartError::NotConfigured);
        }
        let account =
            BareJid::from_str(&config.jid).map_err(|_| StartError::BadJid(config.jid.clone()))?;
        if config.jid.contains('/') {
            return Err(StartError::NotBare(config.jid.clone()));
        }
        if config.password.is_empty() {
            return Err(match role {
                Role::Sidecar { .. } => StartError::NoPassword,
                Role::Bridge { .. } => StartError::NoBridgePassword,
            });
        }
        account
            .with_resource_str(&config.resource)
            .map_err(|_| StartError::BadJid(format!("{}/{}", config.jid, config.resource)))?;
        let roots = match &config.ca_path {
            Some(path) => Some(crate::connect::roots(path)?),
            None => None,
        };
        crate::login::Policy::parse(&config.sasl)?;
        if let Some(pin) = &config.pin_sha256 {
            pin.parse::<crate::certificate::Pin>()?;
        }
        let alone = Some(config.alone_show.as_str()).filter(|s| !s.is_empty());
        if crate::convert::show_from_name(alone).is_err() || alone == Some("chat") {
            return Err(StartError::AloneShow(config.alone_show.clone()));
        }
        let gate = Arc::new(crate::login::Gate::new(
            host.clone(),
            crate::connect::retry(config),
        ));
        let spool = crate::spool::Spool::at(
            config
                .notes_path
                .clone()
                .or_else(|| crate::spool::Spool::default_path(&config.jid)),
        );
        let notes: VecDeque<message::Note> = match spool.load() {
            Ok(notes) => notes.into(),
            Err(e) => {
                host.warn(&e.to_string());
                VecDeque::new()
            }
        };
        if let (false, Some(path)) = (notes.is_empty(), spool.path()) {
            host.info(&format!(
                "{} note(s) for you kept from before the restart ({}): delivered when one of your clients is online",
                notes.len(),
                path.display()
            ));
        }
        if config.insecure {
            host.warn("INSECURE: [xmpp] insecure = true: password and messages cross the network in plain text");
        }
        let mut session = Session {
            client: crate::connect::new_client(config, roots.clone(), &gate),
            config: config.clone(),
            roots,
            gate,
            down_since: Some(Instant::now()),
            replaced: 0,
            liveness: mpsc::channel(4),
            requests,
            adhoc: Registry::default(),
            adhoc_sessions: Sessions::default(),
            chat: ChatStates::default(),
            calls: Default::default(),
            host,
            role,
            pairing: state::Pairing::default(),
            account: account.clone(),
            name: config.name.clone(),
            presence: Presence {
                show: None,
                status: None,
                priority: Some(config.priority),
            },
            activity: None,
            reach: config.reach_addresses()?,
            contacts: Contacts::new(account.clone()),
            preauth: crate::peers::preauth::Tokens::new(Duration::from_secs(
                config.preauth_ttl_hours.saturating_mul(3600),
            )),
            roster_query: None,
            vcard_walk: None,
            caps: CapsCache::default(),
            caps_to_ask: Vec::new(),
            bound: None,
            own: BTreeMap::new(),
            offline: VecDeque::new(),
            unacked: Vec::new(),
            stream_management: false,
            notes,
            spool,
            connects: 0,
        };
        // The user's clients all show chat states (XEP-0085); the bridge
        // contact need not wait for them to type first to show typing.
        if let Role::Bridge { owner } = &session.role {
            let owner = owner.clone();
            session.chat.seen_from(owner);
        }
        Ok(session)
    }

    /// The user: the only one obeyed. The account itself for the sidecar,
    /// the user's own account for the bridge contact.
    pub(super) fn owner(&self) -> &BareJid {
        match &self.role {
            Role::Sidecar { .. } => &self.account,
            Role::Bridge { owner } => owner,
        }
    }

    /// The other session of the pair (the bridge contact's for the
    /// sidecar, and the other way round).
    pub fn pair_with(&mut self, other: mpsc::Sender<Request>) {
        self.pairing.other = Some(other);
    }

    /// Serves until asked to stop (or the client ends).
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let period = Duration::from_secs(self.config.keepalive_seconds.max(1));
        let mut keepalive = tokio::time::interval(period);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = keepalive.tick() => {
                    self.expire_calls();
                    self.check_liveness(period).await
                }
                Some(alive) = self.liveness.1.recv() => {
                    if !alive && self.bound.is_some() {
                        self.went_down("no answer to a ping");
                    }
                }
                event = self.client.next() => match event {
                    Some(event) => self.on_event(event).await,
                    None => break,
                },
                request = requests.recv() => match request {
                    Some(Request::Stop(done)) => {
                        self.stop().await;
                        let _ = done.send(());
                        return;
                    }
                    None => return self.stop().await,
                    Some(request) => self.on_request(request).await,
                },
            }
        }
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Presence(reply) => {
                let _ = reply.send(self.presence.clone());
            }
            Request::SetPresence(presence, reply) => self.set_presence(presence, reply).await,
            Request::SetActivity(activity) => self.set_activity(activity).await,
            Request::SetReach(addresses) => {
                self.reach = addresses;
                let stanza = self.reach_stanza();
                self.send(stanza).await;
                let presence = self.presence_stanza();
                self.send(presence).await;
            }
            Request::ReachOf(jid, reply) => {
                let _ = reply.send(self.contacts.reach(&jid));
            }
            Request::CapsAnswer { from, caps, answer } => self.on_caps_answer(from, caps, answer),
            Request::VcardSip(jid, reply) => self.ask_vcard(jid, reply).await,
            Request::PreauthOffer(peer, jid, reply) => {
                let _ = reply.send(self.preauth_offer(&peer, jid));
            }
            Request::AddContact(jid, token) => self.add_contact(jid, token).await,
            Request::VcardSeen(jid, entries) => self.contacts.set_vcard(&jid, &entries),
            Request::WhoIs(request, reply) => {
                let _ = reply.send(crate::peers::identify::identify(&self.contacts, &request));
            }
            Request::Iq { to, request, reply } => self.ask_iq(to, request, reply).await,
            Request::NotifyUser(note, reply) => {
                let kept = self.notify_user(note).await;
                let _ = reply.send(kept);
            }
            Request::SendReceipt(to, id) => self.send_receipt(to, id).await,
            Request::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Request::SendMessage { to, body, thread } => self.send_message(to, body, thread).await,
            Request::SendCallInvite {
                to,
                id,
                invite,
                body,
                thread,
            } => self.send_call_invite(to, id, invite, body, thread).await,
            Request::DeclineCall {
                id,
                condition,
                text,
                reply,
            } => self.decline_call(id, condition, text, reply).await,
            Request::SendChatState(to, state, reply) => {
                self.send_chat_state(to, state, reply).await
            }
            Request::RegisterAdhoc(node, command) => self.adhoc.register(&node, command),
            Request::Send(stanza) => self.send(*stanza).await,
            Request::Stop(_) => {}
            Request::PairReady => self.on_pair_ready().await,
            Request::Reconnect => {
                // The client tries at once; the watchdog must not also
                // replace it (two logins, each a failure if still wrong).
                if self.bound.is_none() {
                    self.down_since = Some(Instant::now());
                }
                self.gate.reset();
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Online {
                bound_jid,
                features,
                resumed,
            } => {
                self.connects += 1;
                self.replaced = 0;
                self.down_since = None;
                self.gate.online();
                self.host.info(&format!(
                    "online as {bound_jid}{}",
                    if resumed { " (resumed)" } else { "" }
                ));
                self.bound = Some(bound_jid.clone());
                self.stream_management = features.stream_management.is_some();
                if !resumed {
                    self.new_session();
                }
                // Rules follow the sidecar's connection; the bridge
                // contact has no other clients to copy.
                if let Role::Sidecar { .. } = self.role {
                    self.host.publish(&Connection {
                        state: "online".into(),
                        jid: Some(bound_jid.to_string()),
                        reason: None,
                    });
                    // Everything the server forgot with the old connection.
                    let carbons =
                        Iq::from_set(format!("carbons-{}", self.connects), carbons::Enable);
                    self.send(carbons.into()).await;
                }
                // Before the presence, so the roster comes before the
                // contacts' presence it sets off.
                self.ask_roster().await;
                let presence = self.presence_stanza();
                self.send(presence).await;
                if let Some(activity) = self.activity.clone() {
                    let stanza = self.activity_stanza(&activity);
                    self.send(stanza).await;
                }
                if !self.reach.is_empty() {
                    let stanza = self.reach_stanza();
                    self.send(stanza).await;
                }
                self.flush_offline().await;
                // The bridge writes to the user's bare JID: their server
                // keeps what no client is online for.
                if let Role::Bridge { .. } = self.role {
                    let owner = self.owner().to_string();
                    self.deliver_notes(&[owner]).await;
                }
                // A resumed session gets no presence again: notes held
                // meanwhile go to the clients known to be online.
                else if resumed && !self.own.is_empty() {
                    let targets: Vec<String> = self.own.keys().cloned().collect();
                    self.deliver_notes(&targets).await;
                }
            }
            // tokio-xmpp 6 reports neither loss nor retries here (it keeps
            // them inside); `check_liveness` finds out instead.
            Event::Disconnected(e) => self.went_down(&e.to_string()),
            Event::Stanza(Stanza::Presence(p)) => {
                if self.on_subscription_request(&p).await || self.on_preauth_subscribe(&p).await {
                    return;
                }
                let was_alone = self.own.is_empty();
                if let Some(client) = self.on_presence(p) {
                    self.deliver_notes(&[client]).await;
                }
                // The first of the user's clients came, or the last left.
                if self.own.is_empty() != was_alone {
                    let stanza = self.presence_stanza();
                    self.send(stanza).await;
                }
                for (to, caps, query) in std::mem::take(&mut self.caps_to_ask) {
                    self.ask_caps(to, caps, query).await;
                }
            }
            Event::Stanza(Stanza::Message(m)) => self.on_message(m),
            Event::Stanza(Stanza::Iq(iq)) => self.on_iq(iq).await,
        }
    }
}
