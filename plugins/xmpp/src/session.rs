//! The one task that owns the XMPP client.
//!
//! tokio-xmpp only makes progress (and IQ answers only arrive) while the
//! client is polled, so one task polls it and everything else talks to that
//! task through a channel of [`Request`]s. Stanzas asked for while offline
//! are queued and sent on the next connection, and on every (re)connection
//! the sidecar's state is re-established: presence, Carbons, activity.

use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls::RootCertStore;

use futures_util::StreamExt;
use tandem_sdk::commands::xmpp::{Presence, Status};
use tandem_sdk::events::xmpp::{
    Activity as ActivityEvent, ChatMessage, ChatStateEvent, Connection, ContactPresence,
    OwnPresence, Reach,
};
use xmpp_parsers::chatstates::ChatState;

use crate::chat::{ChatStates, Decision};
use tandem_sdk::Host;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::stanzastream::{StanzaState, StanzaToken};
use tokio_xmpp::{Client, Event, IqRequest, Stanza};
use tokio_xmpp::{IqResponse, IqResponseToken};
use xmpp_parsers::caps::Caps;
use xmpp_parsers::carbons;
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsResult, Item as DiscoItem};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::presence::{self as xp, Type as PresenceType};
use xmpp_parsers::pubsub::event::{Event as PubSubEvent, Payload as EventPayload};
use xmpp_parsers::pubsub::pubsub::{Item, PubSub, Publish};
use xmpp_parsers::pubsub::NodeName;
use xmpp_parsers::roster::Roster;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::activity::Activity;
use crate::adhoc;
use crate::adhoc_sessions::{self, Sessions};
use crate::caps::{Answer, CapsCache, Lookup};
use crate::config::Config;
use crate::contacts::Contacts;
use crate::convert;
use crate::features;
use crate::reach;
use crate::vcard;

/// How long handing a stanza to the client may take before the client is
/// considered stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Stanzas kept while offline, oldest dropped first beyond this.
const OFFLINE_QUEUE: usize = 1024;

/// How long a contact's client gets to say what it supports.
const CAPS_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a contact's vCard may take to come.
const VCARD_TIMEOUT: Duration = Duration::from_secs(3);

/// What other tasks ask of the session.
pub enum Request {
    Presence(oneshot::Sender<Presence>),
    /// Answers the new presence and the one it replaced.
    SetPresence(Presence, oneshot::Sender<(Presence, Presence)>),
    SetActivity(Activity),
    /// Publish these reachability addresses (none: stop).
    SetReach(Vec<reach::Address>),
    /// The addresses a contact published.
    ReachOf(BareJid, oneshot::Sender<Vec<reach::Address>>),
    /// The SIP URIs in a contact's vCard (none when it cannot be had).
    VcardSip(BareJid, oneshot::Sender<Vec<reach::Address>>),
    /// The answer (or not) to a caps disco#info question.
    CapsAnswer {
        from: Jid,
        caps: Caps,
        answer: Result<DiscoInfoResult, String>,
    },
    NotifyUser(String),
    Status(oneshot::Sender<Status>),
    SendMessage {
        to: Jid,
        body: String,
        thread: Option<String>,
    },
    /// Answers whether the state went out (false: a repeat).
    SendChatState(Jid, ChatState, oneshot::Sender<Result<bool, String>>),
    /// Serve an ad-hoc command on this node.
    RegisterAdhoc(String, adhoc::Registered),
    /// Send a stanza built by a helper task (an ad-hoc command's answer).
    Send(Box<Stanza>),
    Stop(oneshot::Sender<()>),
    /// Try to log in now, forgetting refused logins (`xmpp.reconnect`).
    Reconnect,
}

/// Internal handlers of the two ad-hoc commands that ship.
const STATUS_HANDLER: &str = "@status";
const RULES_HANDLER: &str = "@rules";
/// The rule "Presence rules on/off" switches.
const PRESENCE_RULE: &str = "on-the-phone";

pub struct Session {
    client: Client,
    config: Config,
    /// From `ca_path`, when set.
    roots: Option<Arc<RootCertStore>>,
    /// When the next login may be tried (issue 19), shared by the clients.
    gate: Arc<crate::login::Gate>,
    /// Down since this long ago (None: online); a client that does not come
    /// back in time is replaced.
    down_since: Option<Instant>,
    /// Replacements of the client in a row, for the back-off.
    replaced: u32,
    liveness: (mpsc::Sender<bool>, mpsc::Receiver<bool>),
    /// To ourselves, for helper tasks.
    requests: mpsc::Sender<Request>,
    adhoc: adhoc::Registry,
    /// Multi-step ad-hoc commands waiting for their form.
    adhoc_sessions: Sessions,
    chat: ChatStates,
    host: Host,
    account: BareJid,
    name: String,
    presence: Presence,
    activity: Option<Activity>,
    /// Our reachability addresses (XEP-0152), in presence and PEP.
    reach: Vec<reach::Address>,
    /// The roster, and what is kept of the contacts on it (presence,
    /// addresses); strangers' stanzas are published, not remembered.
    contacts: Contacts,
    /// The id of the roster query of this connection, until answered.
    roster_query: Option<String>,
    /// What contacts' clients support (XEP-0115).
    caps: CapsCache,
    /// Caps questions to send, found while handling a presence.
    caps_to_ask: Vec<(Jid, Caps, DiscoInfoQuery)>,
    bound: Option<Jid>,
    /// The user's other clients, by full JID (only the user's own server
    /// can send presence from the account).
    own: BTreeMap<String, Presence>,
    offline: VecDeque<Stanza>,
    /// Messages sent but not yet acknowledged by the server (XEP-0198): sent
    /// again if the next connection is a new session (a resumed one gets
    /// them from tokio-xmpp). Only kept when the server offers XEP-0198.
    unacked: Vec<(Message, StanzaToken)>,
    /// Whether this connection's server offers XEP-0198.
    stream_management: bool,
    /// Notifications waiting for one of the user's clients to come online.
    notes: VecDeque<String>,
    connects: u64,
}

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
    #[error(transparent)]
    Ca(#[from] crate::connect::CaError),
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
            return Err(StartError::NoPassword);
        }
        account
            .with_resource_str(&config.resource)
            .map_err(|_| StartError::BadJid(format!("{}/{}", config.jid, config.resource)))?;
        let roots = match &config.ca_path {
            Some(path) => Some(crate::connect::roots(path)?),
            None => None,
        };
        crate::login::Policy::parse(&config.sasl)?;
        let gate = Arc::new(crate::login::Gate::new(
            host.clone(),
            crate::connect::retry(config),
        ));
        if config.insecure {
            host.warn("INSECURE: [xmpp] insecure = true: password and messages cross the network in plain text");
        }
        Ok(Session {
            client: crate::connect::new_client(config, roots.clone(), &gate),
            config: config.clone(),
            roots,
            gate,
            down_since: Some(Instant::now()),
            replaced: 0,
            liveness: mpsc::channel(4),
            requests,
            adhoc: shipped_commands(),
            adhoc_sessions: Sessions::default(),
            chat: ChatStates::default(),
            host,
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
            roster_query: None,
            caps: CapsCache::default(),
            caps_to_ask: Vec::new(),
            bound: None,
            own: BTreeMap::new(),
            offline: VecDeque::new(),
            unacked: Vec::new(),
            stream_management: false,
            notes: VecDeque::new(),
            connects: 0,
        })
    }

    /// Serves until asked to stop (or the client ends).
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let period = Duration::from_secs(self.config.keepalive_seconds.max(1));
        let mut keepalive = tokio::time::interval(period);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = keepalive.tick() => self.check_liveness(period).await,
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

    /// Pings the server when online; when down for too long, replaces the
    /// client. tokio-xmpp reconnects by itself, but a client can get stuck
    /// (seen: a server that answers a resumption with `<failed/>` without
    /// `h` makes it reconnect in a tight loop), so the sidecar watches.
    async fn check_liveness(&mut self, period: Duration) {
        if self.bound.is_some() {
            let ping = xmpp_parsers::minidom::Element::builder("ping", ns::PING).build();
            let to = Jid::from(self.account.domain().to_owned());
            // A stuck client stops taking stanzas: waiting must not hang us.
            let Ok(token) =
                tokio::time::timeout(period, self.client.send_iq(Some(to), IqRequest::Get(ping)))
                    .await
            else {
                return self.went_down("the client stopped taking stanzas");
            };
            let tx = self.liveness.0.clone();
            tokio::spawn(async move {
                let answered = tokio::time::timeout(period, token).await;
                let alive = matches!(answered, Ok(Ok(_)));
                let _ = tx.send(alive).await;
            });
            return;
        }
        let Some(since) = self.down_since else { return };
        if self.gate.holding().is_some() {
            return; // a refused login: the gate says when to try again
        }
        let wait = crate::backoff::delay(
            self.replaced,
            Duration::from_secs(self.config.reconnect_base_seconds.max(1)),
            Duration::from_secs(self.config.reconnect_max_seconds.max(1)),
        )
        .max(period * 2);
        if since.elapsed() >= wait {
            self.replaced = self.replaced.saturating_add(1);
            self.host.warn(&format!(
                "no connection for {:.0} s: starting a fresh one (attempt {})",
                since.elapsed().as_secs_f64(),
                self.replaced
            ));
            let old = std::mem::replace(
                &mut self.client,
                crate::connect::new_client(&self.config, self.roots.clone(), &self.gate),
            );
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), old.send_end()).await;
            });
            self.down_since = Some(Instant::now());
        }
    }

    /// The connection is gone: rules hear it. What was known of who is
    /// online, and the messages the server has not acknowledged, wait for
    /// the next `Online`: a resumed session (XEP-0198) keeps both, a new
    /// one loses both (`new_session`).
    fn went_down(&mut self, why: &str) {
        if self.bound.take().is_some() {
            self.host
                .warn(&format!("connection lost: {why}; reconnecting"));
            self.host.publish(&Connection {
                state: "offline".into(),
                jid: None,
                reason: Some(why.to_owned()),
            });
        }
        self.down_since = Some(Instant::now());
    }

    /// A new session (not a resumed one): the server forgot the old one.
    /// Messages it had not acknowledged are queued again. It sends the
    /// presence of everyone online now, after ours; whoever is not among
    /// them left while the sidecar was away, and nobody else will say so,
    /// so each client and contact remembered is reported gone first (a
    /// rule must not keep "Gajim is on Do Not Disturb" for a Gajim that
    /// quit meanwhile).
    fn new_session(&mut self) {
        for (message, token) in self.unacked.drain(..).rev() {
            if !matches!(token.state(), StanzaState::Acked { .. }) {
                self.offline.push_front(message.into());
            }
        }
        for jid in std::mem::take(&mut self.own).into_keys() {
            self.host.publish(&OwnPresence {
                jid,
                presence: None,
            });
        }
        for jid in self.contacts.offline() {
            self.host.publish(&ContactPresence {
                jid,
                ..ContactPresence::default()
            });
        }
        self.caps.offline();
    }

    /// Sends what was queued while offline. Taken out first: should the
    /// connection go down again meanwhile, `send` queues the rest again,
    /// in order, for the next connection (popping from the queue `send`
    /// pushes onto would never end).
    async fn flush_offline(&mut self) {
        for stanza in std::mem::take(&mut self.offline) {
            self.send(stanza).await;
        }
    }

    async fn stop(&mut self) {
        if self.bound.is_some() {
            let _ = self
                .client
                .send_stanza(xp::Presence::unavailable().into())
                .await;
        }
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Presence(reply) => {
                let _ = reply.send(self.presence.clone());
            }
            Request::SetPresence(presence, reply) => {
                let previous = std::mem::replace(&mut self.presence, presence);
                let stanza = self.presence_stanza();
                self.send(stanza).await;
                // Also marks when it left Tandem, for the call_presence
                // benchmark's split of the delay.
                self.host.info(&format!(
                    "presence sent: {} (priority {})",
                    self.presence.show.as_deref().unwrap_or("available"),
                    self.presence.priority.unwrap_or(-1)
                ));
                let _ = reply.send((self.presence.clone(), previous));
            }
            Request::SetActivity(activity) => {
                let stanza = self.activity_stanza(&activity);
                self.activity = (!activity.general.is_empty()).then_some(activity);
                self.send(stanza).await;
            }
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
            Request::NotifyUser(text) => {
                // To each of the user's clients by full JID: the bare JID
                // would go to the top-priority resource, which during a call
                // is the sidecar itself. With no client online, it waits for
                // the first one that comes.
                // While offline, `own` is what was known before: held.
                let targets: Vec<String> = match self.bound {
                    Some(_) => self.own.keys().cloned().collect(),
                    None => Vec::new(),
                };
                for to in &targets {
                    self.notify(to, &text).await;
                }
                if targets.is_empty() {
                    if self.notes.len() == OFFLINE_QUEUE {
                        self.notes.pop_front();
                    }
                    self.notes.push_back(text);
                }
            }
            Request::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Request::SendMessage { to, body, thread } => {
                let mut message = Message::new_with_type(MessageType::Chat, Some(to.clone()));
                message.bodies.insert(Lang::new(), body);
                message.thread =
                    thread.map(|id| xmpp_parsers::message::Thread { parent: None, id });
                if self.chat.decide(&to.to_bare(), &ChatState::Active) != Decision::Unsupported {
                    message.payloads.push(ChatState::Active.into());
                }
                self.chat.message_sent(&to.to_bare());
                self.send(message.into()).await;
            }
            Request::SendChatState(to, state, reply) => {
                let answer = match self.chat.decide(&to.to_bare(), &state) {
                    Decision::Unsupported => Err(format!(
                        "{} has not shown that it uses chat states",
                        to.to_bare()
                    )),
                    Decision::Repeat => Ok(false),
                    Decision::Send => {
                        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
                        message.payloads.push(state.into());
                        self.send(message.into()).await;
                        Ok(true)
                    }
                };
                let _ = reply.send(answer);
            }
            Request::RegisterAdhoc(node, command) => self.adhoc.register(&node, command),
            Request::Send(stanza) => self.send(*stanza).await,
            Request::Stop(_) => {}
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

    async fn notify(&mut self, to: &str, text: &str) {
        let Ok(to) = Jid::from_str(to) else { return };
        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
        message.bodies.insert(Lang::new(), text.to_owned());
        // Each client gets its own copy (above): the server must not copy
        // it again to the others as a Carbon of what the account "sent"
        // (XEP-0280 §7), or every client shows each note twice.
        message.payloads.push(xmpp_parsers::carbons::Private.into());
        message
            .payloads
            .push(Element::builder("no-copy", "urn:xmpp:hints").build());
        self.send(message.into()).await;
    }

    fn status(&self) -> Status {
        let holding = self.gate.holding().filter(|_| self.bound.is_none());
        Status {
            state: match (&self.bound, &holding) {
                (Some(_), _) => "online",
                (None, Some(_)) => "auth_failed",
                (None, None) => "connecting",
            }
            .to_owned(),
            reason: holding.map(|h| h.reason),
            jid: self.bound.as_ref().map(|j| j.to_string()),
            own_resources: self.own.keys().cloned().collect(),
            contacts_online: self.contacts.online(),
            connects: self.connects,
        }
    }

    /// Sends now when online; otherwise queues for the next connection.
    async fn send(&mut self, stanza: Stanza) {
        if self.bound.is_some() {
            let copy = match &stanza {
                Stanza::Message(m) => Some(m.clone()),
                _ => None, // presence, Carbons and PEP are re-sent on reconnection anyway
            };
            let sent = tokio::time::timeout(SEND_TIMEOUT, self.client.send_stanza(stanza)).await;
            let Ok(sent) = sent else {
                if let Some(message) = copy {
                    self.offline.push_back(message.into());
                }
                return self.went_down("the client stopped taking stanzas");
            };
            match sent {
                Ok(token) => {
                    // Only a server with XEP-0198 acknowledges: without
                    // it, every message would be sent again after every
                    // reconnection.
                    if let Some(message) = copy.filter(|_| self.stream_management) {
                        self.unacked
                            .retain(|(_, t)| !matches!(t.state(), StanzaState::Acked { .. }));
                        if self.unacked.len() < OFFLINE_QUEUE {
                            self.unacked.push((message, token));
                        }
                    }
                }
                // Fails only when the client itself has shut down.
                Err(e) => self
                    .host
                    .error(&format!("stanza lost, the XMPP client has ended: {e}")),
            }
        } else {
            self.queue(stanza);
        }
    }

    fn queue(&mut self, stanza: Stanza) {
        if self.offline.len() == OFFLINE_QUEUE {
            self.offline.pop_front();
            self.host.warn("offline queue full: oldest stanza dropped");
        }
        self.offline.push_back(stanza);
    }

    fn presence_stanza(&self) -> Stanza {
        let mut p = xp::Presence::available().with_priority(self.presence.priority.unwrap_or(-1));
        // Checked when the command arrived.
        p.show = convert::show_from_name(self.presence.show.as_deref()).unwrap_or(None);
        if let Some(status) = &self.presence.status {
            p.set_status("", status.clone());
        }
        p.add_payload(features::caps(&self.name));
        if !self.reach.is_empty() {
            // XEP-0152 §4.2: also in presence, for contacts without PEP.
            p.payloads.push(reach::to_element(&self.reach));
        }
        p.into()
    }

    fn activity_stanza(&self, activity: &Activity) -> Stanza {
        self.pep_publish(crate::activity::NS, activity.to_element(), "activity")
    }

    fn reach_stanza(&self) -> Stanza {
        self.pep_publish(reach::NS, reach::to_element(&self.reach), "reach")
    }

    /// A PEP publish (XEP-0163) of one item on `node`.
    fn pep_publish(&self, node: &str, payload: Element, what: &str) -> Stanza {
        let pubsub = PubSub::Publish {
            publish: Publish {
                node: NodeName(node.to_owned()),
                items: vec![Item {
                    id: None,
                    publisher: None,
                    payload: Some(payload),
                }],
            },
            publish_options: None,
        };
        Iq::from_set(format!("{what}-{}", self.connects), pubsub).into()
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
                self.host.info(&format!(
                    "online as {bound_jid}{}",
                    if resumed { " (resumed)" } else { "" }
                ));
                self.bound = Some(bound_jid.clone());
                self.stream_management = features.stream_management.is_some();
                if !resumed {
                    self.new_session();
                }
                self.host.publish(&Connection {
                    state: "online".into(),
                    jid: Some(bound_jid.to_string()),
                    reason: None,
                });
                // Everything the server forgot with the old connection.
                let carbons = Iq::from_set(format!("carbons-{}", self.connects), carbons::Enable);
                self.send(carbons.into()).await;
                // Before the presence, so the roster comes before the
                // contacts' presence it sets off. Sent as a plain stanza
                // so the answer comes in order with them, as an event.
                let id = format!("roster-{}", self.connects);
                let roster = Iq::from_get(
                    id.clone(),
                    Roster {
                        ver: None,
                        items: Vec::new(),
                    },
                );
                self.roster_query = Some(id);
                self.send(roster.into()).await;
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
                // A resumed session gets no presence again: notes held
                // meanwhile go to the clients known to be online.
                if resumed && !self.own.is_empty() {
                    let targets: Vec<String> = self.own.keys().cloned().collect();
                    while let Some(note) = self.notes.pop_front() {
                        for to in &targets {
                            self.notify(to, &note).await;
                        }
                    }
                }
            }
            // tokio-xmpp 6 reports neither loss nor retries here (it keeps
            // them inside); `check_liveness` finds out instead.
            Event::Disconnected(e) => self.went_down(&e.to_string()),
            Event::Stanza(Stanza::Presence(p)) => {
                if let Some(client) = self.on_presence(p) {
                    while let Some(note) = self.notes.pop_front() {
                        self.notify(&client, &note).await;
                    }
                }
                for (to, caps, query) in std::mem::take(&mut self.caps_to_ask) {
                    self.ask_caps(to, caps, query).await;
                }
            }
            Event::Stanza(Stanza::Message(m)) => self.on_message(m),
            Event::Stanza(Stanza::Iq(iq)) => self.on_iq(iq).await,
        }
    }

    /// Tracks a presence; returns the full JID of one of the user's own
    /// clients that is available.
    fn on_presence(&mut self, p: xp::Presence) -> Option<String> {
        let from = p.from.clone()?;
        if Some(&from) == self.bound.as_ref() || from.resource().is_none() {
            return None; // our own echo, or a bare-JID presence (errors, probes)
        }
        let key = from.to_string();
        let presence = match p.type_ {
            PresenceType::None => Some(convert::from_stanza(&p)),
            PresenceType::Unavailable => None,
            _ => return None, // subscriptions, probes, errors: not presence changes
        };
        if from.to_bare() == self.account {
            match &presence {
                Some(p) => self.own.insert(key.clone(), p.clone()),
                None => self.own.remove(&key),
            };
            let available = presence.is_some().then(|| key.clone());
            self.host.publish(&OwnPresence { jid: key, presence });
            return available;
        }
        // Anyone may send directed presence: only roster contacts'
        // resources are remembered (and asked what their client does).
        let admitted = self.contacts.admits(&from);
        // XEP-0152 §4.2: reachability addresses may ride on presence too.
        let reach = match p.payloads.iter().find(|e| e.is("reach", reach::NS)) {
            Some(element) => {
                let addresses = reach::from_element(element);
                let carried = addresses.as_deref().unwrap_or_default();
                let carried = carried.iter().map(convert::reach_to_sdk).collect();
                self.on_reach(from.to_bare(), addresses);
                carried
            }
            None => Vec::new(),
        };
        let features = match presence {
            Some(_) if admitted => self.features_of(&from, &p),
            Some(_) => self
                .caps
                .features(caps_of(&p).as_ref())
                .map(|f| f.to_vec())
                .unwrap_or_default(),
            None => {
                self.caps.gone(&key);
                Vec::new()
            }
        };
        let event = ContactPresence {
            jid: key,
            presence,
            reach,
            features,
        };
        self.contacts.presence(&event);
        self.host.publish(&event);
        None
    }

    /// The features of a contact resource's client, when its caps are
    /// known; an unknown version is queued to be asked about, and the
    /// presence event is sent again once the answer is in.
    fn features_of(&mut self, from: &Jid, p: &xp::Presence) -> Vec<String> {
        let caps = caps_of(p);
        match self.caps.on_presence(&from.to_string(), caps.as_ref()) {
            Lookup::Known(features) => {
                self.note_features(from, &features);
                features.to_vec()
            }
            Lookup::Ask(query) => {
                if let Some(caps) = caps {
                    self.caps_to_ask.push((from.clone(), caps, query));
                }
                Vec::new()
            }
            Lookup::Unknown | Lookup::Pending => Vec::new(),
        }
    }

    /// A client that says it does chat states gets them (XEP-0085 §5.1),
    /// without first having to send one.
    fn note_features(&mut self, from: &Jid, features: &[String]) {
        if features.iter().any(|f| f == ns::CHATSTATES) {
            self.chat.seen_from(from.to_bare());
        }
    }

    /// Hands an IQ question to the client, which takes stanzas only when
    /// there is room in its queue: a client that takes none for
    /// `SEND_TIMEOUT` is stuck (as in `send`), and waiting longer would
    /// stop the session from serving, pinging and replacing it.
    async fn send_iq(&mut self, to: Option<Jid>, request: IqRequest) -> Option<IqResponseToken> {
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.client.send_iq(to, request)).await;
        if sent.is_err() {
            self.went_down("the client stopped taking stanzas");
        }
        sent.ok()
    }

    /// Sends a caps disco#info question; the answer comes back to the
    /// session as a request, so the session never waits on a contact.
    async fn ask_caps(&mut self, to: Jid, caps: Caps, query: DiscoInfoQuery) {
        if self.bound.is_none() {
            return self.caps.on_failure(&caps);
        }
        let Some(token) = self
            .send_iq(Some(to.clone()), IqRequest::Get(query.into()))
            .await
        else {
            return self.caps.on_failure(&caps);
        };
        let requests = self.requests.clone();
        tokio::spawn(async move {
            let answer = iq_answer(token, CAPS_TIMEOUT)
                .await
                .and_then(|element| DiscoInfoResult::try_from(element).map_err(|e| e.to_string()));
            let _ = requests
                .send(Request::CapsAnswer {
                    from: to,
                    caps,
                    answer,
                })
                .await;
        });
    }

    /// Asks for a contact's vCards, vCard4 (PEP) and vcard-temp at once;
    /// the SIP addresses of both, vCard4's first, go straight to `reply`
    /// from a task of its own, within `VCARD_TIMEOUT` (under the host's
    /// command timeout, so the caller gets "none" rather than a timeout).
    async fn ask_vcard(&mut self, jid: BareJid, reply: oneshot::Sender<Vec<reach::Address>>) {
        if self.bound.is_none() {
            let _ = reply.send(Vec::new());
            return;
        }
        let to = Some(Jid::from(jid.clone()));
        let vcard4 = self
            .send_iq(to.clone(), IqRequest::Get(vcard::query_vcard4()))
            .await;
        let vcard_temp = match vcard4 {
            Some(_) => self.send_iq(to, IqRequest::Get(vcard::query())).await,
            None => None,
        };
        let (Some(vcard4), Some(vcard_temp)) = (vcard4, vcard_temp) else {
            let _ = reply.send(Vec::new());
            return;
        };
        let host = self.host.clone();
        tokio::spawn(async move {
            let (vcard4, vcard_temp) = tokio::join!(
                iq_answer(vcard4, VCARD_TIMEOUT),
                iq_answer(vcard_temp, VCARD_TIMEOUT)
            );
            let mut found = Vec::new();
            for (kind, answer) in [("vCard4", vcard4), ("vcard-temp", vcard_temp)] {
                match answer {
                    Ok(element) => {
                        for address in vcard::sip_numbers(&element) {
                            if !found.contains(&address) {
                                found.push(address);
                            }
                        }
                    }
                    Err(why) => host.debug(&format!("no {kind} for {jid}: {why:?}")),
                }
            }
            let _ = reply.send(found);
        });
    }

    fn on_caps_answer(&mut self, from: Jid, caps: Caps, answer: Result<DiscoInfoResult, String>) {
        let info = match answer {
            Ok(info) => info,
            Err(why) => {
                self.caps.on_failure(&caps);
                self.host
                    .debug(&format!("capabilities of {from} unknown: {why:?}"));
                return;
            }
        };
        let (features, holders) = match self.caps.on_answer(&caps, &info) {
            Answer::Shared(features, holders) => (features, holders),
            Answer::OnlyFor(features, why) => {
                self.host
                    .debug(&format!("capabilities of {from} kept for it alone: {why}"));
                (features, vec![from.to_string()])
            }
        };
        for jid in holders {
            let Some(event) = self.contacts.event_mut(&jid) else {
                continue;
            };
            event.features = features.to_vec();
            let event = event.clone();
            if let Ok(holder) = Jid::from_str(&jid) {
                self.note_features(&holder, &features);
            }
            self.host.publish(&event);
        }
    }

    /// XEP-0163 notifications (we advertise `activity+notify` and
    /// `reach+notify`): a contact's activity becomes an `xmpp.activity`
    /// event, their reachability addresses an `xmpp.reach` event. Malformed
    /// ones are logged and dropped.
    fn on_pep(&mut self, m: &Message) -> bool {
        let Some(event) = m.payloads.iter().find(|p| p.is("event", ns::PUBSUB_EVENT)) else {
            return false;
        };
        let Some(sender) = m.from.as_ref().map(Jid::to_bare) else {
            return true; // from our own server: no contact's PEP
        };
        let from = sender.to_string();
        let (node, published, retracted) = match PubSubEvent::try_from(event.clone()) {
            Ok(PubSubEvent {
                payload:
                    EventPayload::Items {
                        node,
                        published,
                        retracted,
                    },
            }) => (node, published, retracted),
            Ok(_) => return true,
            Err(e) => {
                self.host.warn(&format!(
                    "malformed PEP event from {from} ignored: {:?}",
                    e.to_string()
                ));
                return true;
            }
        };
        // The newest item counts; a retraction alone means "stopped".
        let latest = published.last().and_then(|item| item.payload.as_ref());
        if latest.is_none() && retracted.is_empty() {
            return true;
        }
        match node.0.as_str() {
            crate::activity::NS => {
                let activity = match latest.map(Activity::from_element) {
                    Some(Ok(a)) => a,
                    Some(Err(e)) => {
                        self.host
                            .warn(&format!("activity from {from} ignored: {e}"));
                        return true;
                    }
                    None => Activity::default(),
                };
                self.host.publish(&ActivityEvent {
                    jid: from,
                    general: activity.general,
                    specific: activity.specific,
                    text: activity.text,
                });
            }
            reach::NS => {
                let addresses = latest.map_or(Ok(Vec::new()), reach::from_element);
                self.on_reach(sender, addresses);
            }
            _ => {}
        }
        true
    }

    /// A contact's reachability addresses, from PEP or presence: kept for
    /// `xmpp.reach_of` and published as an event when they change (presence
    /// repeats them with every change of show or status).
    ///
    /// Only a contact's are kept (or announced): a stranger's would be
    /// state anyone could grow, and no rule calls a stranger at an
    /// address they chose. Their presence event still carries them.
    fn on_reach(
        &mut self,
        jid: BareJid,
        addresses: Result<Vec<reach::Address>, reach::ReachError>,
    ) {
        let addresses = match addresses {
            Ok(addresses) => addresses,
            Err(e) => {
                self.host
                    .warn(&format!("reachability addresses from {jid} ignored: {e}"));
                return;
            }
        };
        if !self.contacts.is_contact(&jid) {
            return self.host.debug(&format!(
                "reachability addresses from {jid} (not a contact) not kept"
            ));
        }
        let event = Reach {
            jid: jid.to_string(),
            addresses: addresses.iter().map(convert::reach_to_sdk).collect(),
        };
        if self.contacts.set_reach(&jid, addresses) {
            self.host.publish(&event);
        }
    }

    fn on_message(&mut self, m: Message) {
        if self.on_pep(&m) {
            return;
        }
        // A Carbons copy is only believed when it comes from our own account.
        let from_own_account = m
            .from
            .as_ref()
            .is_some_and(|f| f.resource().is_none() && f.to_bare() == self.account);
        for payload in &m.payloads {
            let (forwarded, via) = if payload.is("received", ns::CARBONS) {
                (
                    carbons::Received::try_from(payload.clone()).map(|r| r.forwarded),
                    "carbon_received",
                )
            } else if payload.is("sent", ns::CARBONS) {
                (
                    carbons::Sent::try_from(payload.clone()).map(|s| s.forwarded),
                    "carbon_sent",
                )
            } else {
                continue;
            };
            if !from_own_account {
                self.host.warn(&format!(
                    "forged carbon from {:?} ignored",
                    m.from.as_ref().map(|j| j.to_string())
                ));
                return;
            }
            match forwarded {
                Ok(forwarded) => self.publish_message(&forwarded.message, via),
                Err(e) => self.host.warn(&format!("malformed carbon ignored: {e}")),
            }
            return;
        }
        if matches!(m.type_, MessageType::Chat | MessageType::Normal) {
            self.publish_message(&m, "direct");
        }
    }

    fn publish_message(&mut self, m: &Message, via: &str) {
        let from = m.from.as_ref().map(|j| j.to_string()).unwrap_or_default();
        let to = m.to.as_ref().map(|j| j.to_string()).unwrap_or_default();
        let state = m
            .payloads
            .iter()
            .find(|p| p.ns() == ns::CHATSTATES)
            .and_then(|p| ChatState::try_from(p.clone()).ok());
        if let Some(state) = state {
            // A peer's state (to us or, by Carbons, to the user's client)
            // shows it uses chat states.
            if let Some(peer) = m
                .from
                .as_ref()
                .map(|f| f.to_bare())
                .filter(|b| *b != self.account)
            {
                self.chat.seen_from(peer);
            }
            self.host.publish(&ChatStateEvent {
                from: from.clone(),
                to: to.clone(),
                state: crate::chat::state_name(&state).to_owned(),
                via: via.to_owned(),
            });
        }
        let body = m.get_best_body_cloned(vec![]).map(|(_, b)| b);
        if body.is_none() {
            return;
        }
        self.host.publish(&ChatMessage {
            from,
            to,
            body,
            thread: m.thread.as_ref().map(|t| t.id.clone()),
            via: via.to_owned(),
        });
    }

    async fn on_iq(&mut self, iq: Iq) {
        let (from, id, payload, is_get) = match iq {
            Iq::Get {
                from, id, payload, ..
            } => (from, id, payload, true),
            Iq::Set {
                from, id, payload, ..
            } => (from, id, payload, false),
            Iq::Result {
                from, id, payload, ..
            } => return self.on_result(from, id, payload),
            Iq::Error {
                from, id, error, ..
            } => {
                // Only our server answers the roster query: anyone else
                // could send an error with its (guessable) id first.
                if self.roster_query.as_deref() == Some(id.as_str())
                    && self.sent_by_own_server(from.as_ref())
                {
                    self.roster_query = None;
                }
                return self
                    .host
                    .warn(&format!("iq {id} failed: {:?}", error.defined_condition));
            }
        };
        if !is_get && payload.is("query", ns::ROSTER) && self.sent_by_own_server(from.as_ref()) {
            return self.on_roster_push(from, id, payload).await;
        }
        let owner = from.as_ref().is_some_and(|f| f.to_bare() == self.account);
        let asks_commands = payload.is("command", adhoc::NS)
            || (payload.is("query", ns::DISCO_ITEMS) && payload.attr("node") == Some(adhoc::NS));
        if asks_commands && !owner {
            self.host.warn(&format!(
                "ad-hoc commands refused to {} (only the account's owner may use them)",
                from.as_ref().map(|f| f.to_string()).unwrap_or_default()
            ));
            let error = StanzaError::new(
                ErrorType::Auth,
                DefinedCondition::Forbidden,
                "en",
                "only the account's owner",
            );
            let answer = Iq::from_error(id, error);
            let answer = match from {
                Some(to) => answer.with_to(to),
                None => answer,
            };
            return self.send(answer.into()).await;
        }
        if !is_get && payload.is("command", adhoc::NS) {
            return self.execute(from, id, &payload);
        }
        let answer = if is_get
            && payload.is("query", ns::DISCO_ITEMS)
            && payload.attr("node") == Some(adhoc::NS)
        {
            let me = self
                .bound
                .clone()
                .unwrap_or_else(|| Jid::from(self.account.clone()));
            let items = self
                .adhoc
                .iter()
                .map(|(node, c)| DiscoItem {
                    jid: me.clone(),
                    node: Some(node.clone()),
                    name: Some(c.name.clone()),
                })
                .collect();
            Iq::from_result(
                id,
                Some(DiscoItemsResult {
                    node: Some(adhoc::NS.to_owned()),
                    items,
                    rsm: None,
                }),
            )
        } else if is_get && payload.is("query", ns::DISCO_INFO) {
            let node = DiscoInfoQuery::try_from(payload).ok().and_then(|q| q.node);
            Iq::from_result(id, Some(self.disco_info_for(from.as_ref(), node)))
        } else if is_get && payload.is("ping", ns::PING) {
            Iq::from_result(id, None::<xmpp_parsers::disco::DiscoInfoResult>)
        } else {
            let error = StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
                "en",
                "not handled by this resource",
            );
            Iq::from_error(id, error)
        };
        let answer = match from {
            Some(to) => answer.with_to(to),
            None => answer,
        };
        self.send(answer.into()).await;
    }
}

impl Session {
    /// Our disco#info for `from`: all of it for the account, its server
    /// and roster contacts; a stranger learns only that this is a client
    /// (docs/decisions/0038-minimal-disco-for-strangers.md).
    fn disco_info_for(&self, from: Option<&Jid>, node: Option<String>) -> DiscoInfoResult {
        let known = from.is_none_or(|f| {
            let bare = f.to_bare();
            bare == self.account
                || (f.node().is_none() && f.domain() == self.account.domain())
                || self.contacts.is_contact(&bare)
        });
        if known {
            features::disco_info(&self.name, node)
        } else {
            features::disco_info_minimal(node)
        }
    }
}

/// The XEP-0115 caps a presence advertises, if any (and well formed).
fn caps_of(p: &xp::Presence) -> Option<Caps> {
    p.payloads
        .iter()
        .find(|e| e.is("c", ns::CAPS))
        .and_then(|e| Caps::try_from(e.clone()).ok())
}

/// The payload of the answer to an IQ we sent, waited for `limit` at most,
/// or why there is none (for the debug log).
async fn iq_answer(token: IqResponseToken, limit: Duration) -> Result<Element, String> {
    match tokio::time::timeout(limit, token).await {
        Ok(Ok(IqResponse::Result(Some(element)))) => Ok(element),
        Ok(Ok(IqResponse::Result(None))) => Err("an empty answer".to_owned()),
        Ok(Ok(IqResponse::Error(e))) => Err(format!("{:?}", e.defined_condition)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {} s", limit.as_secs())),
    }
}

/// The ad-hoc commands every sidecar serves.
fn shipped_commands() -> adhoc::Registry {
    let mut registry = adhoc::Registry::default();
    registry.register(
        "status",
        adhoc::Registered {
            name: "Status".into(),
            handler: STATUS_HANDLER.into(),
            fields: Vec::new(),
        },
    );
    registry.register(
        "presence-rules",
        adhoc::Registered {
            name: "Presence rules on/off".into(),
            handler: RULES_HANDLER.into(),
            fields: Vec::new(),
        },
    );
    registry
}

impl Session {
    /// Runs an ad-hoc command (the requester is the owner) on a helper task:
    /// the handler may call other plugins, even this one, so the session
    /// must keep serving meanwhile.
    ///
    /// A command without fields runs on the first request, with no
    /// session. One with fields opens a session (`adhoc_sessions`) and
    /// answers with the form; only a continuation of that session, by the
    /// same client, runs it. A sessionid is never taken on trust.
    fn execute(&mut self, from: Option<Jid>, id: String, payload: &xmpp_parsers::minidom::Element) {
        let request = match adhoc::CommandRequest::from_element(payload) {
            Ok(r) => r,
            Err(e) => {
                return self.reply_error(from, id, DefinedCondition::BadRequest, &e.to_string())
            }
        };
        let Some(command) = self.adhoc.get(&request.node).cloned() else {
            return self.reply_error(from, id, DefinedCondition::ItemNotFound, "no such command");
        };
        let Some(requester) = from.clone() else {
            return; // the owner check let only the account's JIDs through
        };
        let now = Instant::now();
        let session_id = match &request.session_id {
            None if request.action == "cancel" || command.fields.is_empty() => {
                adhoc_sessions::new_id()
            }
            None => {
                // The first step: whatever it carries, the form comes first.
                let asking = adhoc::Executing {
                    session_id: self.adhoc_sessions.open(&requester, &request.node, now),
                    node: request.node,
                    title: command.name,
                    fields: command.fields,
                };
                return self.reply(from, id, asking.to_element());
            }
            Some(session_id) => {
                let checked = self
                    .adhoc_sessions
                    .check(session_id, &requester, &request.node, now);
                if let Err(e) = checked {
                    self.host.warn(&format!(
                        "ad-hoc {} from {requester} refused: {e}",
                        request.node
                    ));
                    let answer = Iq::from_error(id, e.to_stanza_error()).with_to(requester);
                    return self.reply_stanza(answer);
                }
                if request.action != "cancel" && request.submitted.is_none() {
                    // Asked again (`execute`, `next` without a form): the
                    // same form, the same session.
                    let asking = adhoc::Executing {
                        session_id: session_id.clone(),
                        node: request.node,
                        title: command.name,
                        fields: command.fields,
                    };
                    return self.reply(from, id, asking.to_element());
                }
                self.adhoc_sessions.close(session_id);
                session_id.clone()
            }
        };
        let host = self.host.clone();
        let requests = self.requests.clone();
        let fields = request.submitted.clone().unwrap_or_default();
        let requester = requester.to_string();
        tokio::spawn(async move {
            let (note_type, note) = if request.action == "cancel" {
                ("info", "Cancelled.".to_owned())
            } else {
                let args =
                    serde_json::json!({"node": request.node, "from": requester, "fields": fields});
                match run_handler(&host, &command.handler, args).await {
                    Ok(text) => ("info", text),
                    Err(e) => ("error", e),
                }
            };
            let done = adhoc::Completed {
                node: request.node,
                session_id,
                note_type,
                note,
            };
            let answer = Iq::Result {
                from: None,
                to: from,
                id,
                payload: Some(done.to_element()),
            };
            let _ = requests.send(Request::Send(Box::new(answer.into()))).await;
        });
    }

    /// Answers an IQ with `payload`, through the request queue (the
    /// caller is not async).
    fn reply(&mut self, to: Option<Jid>, id: String, payload: Element) {
        self.reply_stanza(Iq::Result {
            from: None,
            to,
            id,
            payload: Some(payload),
        });
    }

    fn reply_stanza(&mut self, answer: Iq) {
        let requests = self.requests.clone();
        tokio::spawn(async move {
            let _ = requests.send(Request::Send(Box::new(answer.into()))).await;
        });
    }

    /// Whether a stanza comes from the user's own server acting for the
    /// account (no `from`, or the account's bare JID): roster answers and
    /// pushes are believed only then (RFC 6121 §2.1.6).
    fn sent_by_own_server(&self, from: Option<&Jid>) -> bool {
        from.is_none_or(|f| f.resource().is_none() && f.to_bare() == self.account)
    }

    /// Answers to stanzas sent as plain stanzas (Carbons, PEP, the
    /// roster): the roster's is read, the others logged.
    fn on_result(&mut self, from: Option<Jid>, id: String, payload: Option<Element>) {
        if self.roster_query.as_deref() != Some(id.as_str())
            || !self.sent_by_own_server(from.as_ref())
        {
            return self.host.debug(&format!("iq {id} answered"));
        }
        self.roster_query = None;
        // No payload: an empty roster (versioning, which would mean
        // "unchanged", is not asked for).
        let roster = match payload.map(Roster::try_from).transpose() {
            Ok(roster) => roster.unwrap_or(Roster {
                ver: None,
                items: Vec::new(),
            }),
            Err(e) => {
                return self.host.warn(&format!("malformed roster ignored: {e}"));
            }
        };
        let count = roster.items.len();
        for resource in self.contacts.roster_loaded(roster) {
            self.caps.gone(&resource);
        }
        self.host.debug(&format!("roster: {count} items"));
    }

    /// A roster push: the user added, changed or removed a contact
    /// (maybe from another client). Answered as RFC 6121 §2.1.6 asks.
    async fn on_roster_push(&mut self, from: Option<Jid>, id: String, payload: Element) {
        let answer = match Roster::try_from(payload) {
            Ok(push) => {
                for resource in self.contacts.roster_pushed(push) {
                    self.caps.gone(&resource);
                }
                Iq::from_result(id, None::<Roster>)
            }
            Err(e) => Iq::from_error(
                id,
                StanzaError::new(
                    ErrorType::Modify,
                    DefinedCondition::BadRequest,
                    "en",
                    e.to_string(),
                ),
            ),
        };
        let answer = match from {
            Some(to) => answer.with_to(to),
            None => answer,
        };
        self.send(answer.into()).await;
    }

    fn reply_error(
        &mut self,
        to: Option<Jid>,
        id: String,
        condition: DefinedCondition,
        text: &str,
    ) {
        let error = StanzaError::new(ErrorType::Modify, condition, "en", text);
        let answer = Iq::from_error(id, error);
        let answer = match to {
            Some(to) => answer.with_to(to),
            None => answer,
        };
        self.reply_stanza(answer);
    }
}

/// The text of an ad-hoc command's answer, or why it failed.
async fn run_handler(
    host: &Host,
    handler: &str,
    args: serde_json::Value,
) -> Result<String, String> {
    let call = |name: &str, args: serde_json::Value| {
        let (host, name) = (host.clone(), name.to_owned());
        async move {
            host.call_raw(
                &name,
                tandem_sdk::Payload::from(args),
                tandem_sdk::DEFAULT_CALL_TIMEOUT,
            )
            .await
            .and_then(|p| p.decode::<serde_json::Value>().map_err(Into::into))
            .map_err(|e| format!("{name}: {e}"))
        }
    };
    match handler {
        STATUS_HANDLER => call("host.status", serde_json::json!({}))
            .await
            .map(|s| status_text(&s)),
        RULES_HANDLER => {
            let status = call("host.status", serde_json::json!({})).await?;
            let on = status["rules"]
                .as_array()
                .and_then(|rules| rules.iter().find(|r| r["name"] == PRESENCE_RULE))
                .map(|r| r["enabled"] == true)
                .ok_or_else(|| format!("the rule {PRESENCE_RULE} is not loaded"))?;
            call(
                "host.set_rule",
                serde_json::json!({"name": PRESENCE_RULE, "enabled": !on}),
            )
            .await?;
            Ok(format!(
                "Presence rules are now {}.",
                if on { "off" } else { "on" }
            ))
        }
        other => {
            let answer = call(other, args).await?;
            Ok(answer["text"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| answer.to_string()))
        }
    }
}

/// `host.status` in a few lines for a chat window.
fn status_text(status: &serde_json::Value) -> String {
    let list = |key: &str, name: &str, state: &dyn Fn(&serde_json::Value) -> &'static str| {
        status[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| format!("{} ({})", i[name].as_str().unwrap_or("?"), state(i)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let dropped: u64 = status["subscribers"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["dropped"].as_u64()).sum())
        .unwrap_or(0);
    format!(
        "Tandem {} up {:.0} s\nPlugins: {}\nRules: {}\nDropped events: {dropped}",
        status["version"].as_str().unwrap_or("?"),
        status["uptime_s"].as_f64().unwrap_or(0.0),
        list("plugins", "id", &|p| if p["failed"] == true {
            "failed"
        } else {
            "running"
        }),
        list("rules", "name", &|r| if r["enabled"] == true {
            "on"
        } else {
            "off"
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_sdk::testing::MockHost;

    /// A session whose client can never connect (nothing listens on port
    /// 1), so it takes no stanza.
    fn unreachable() -> (Session, MockHost, mpsc::Receiver<Request>) {
        let config = Config {
            jid: "alice@example.org".into(),
            password: "secret".into(),
            host: Some("127.0.0.1".into()),
            port: Some(1),
            insecure: true,
            ..Config::default()
        };
        let host = MockHost::new();
        let (requests, rx) = mpsc::channel(16);
        let session = Session::new(&config, host.host(), requests).unwrap();
        (session, host, rx)
    }

    /// Runs `test` on a runtime of its own thread and fails if it is not
    /// done within 30 s: the defects these tests catch hang the session.
    fn within_30_s<T, F>(what: &str, test: impl FnOnce() -> F + Send + 'static) -> T
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = done.send(runtime.block_on(test()));
        });
        finished
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{what} never ended"))
    }

    fn message(body: &str) -> Stanza {
        let to = Jid::from_str("bob@example.org").unwrap();
        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
        message.bodies.insert(Lang::new(), body.to_owned());
        message.into()
    }

    fn iq(xml: &str) -> Iq {
        Iq::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    /// The connection goes down while the queue is being sent (the client
    /// stops taking stanzas): the rest is kept, in order, for the next
    /// connection, and the session goes on serving.
    #[test]
    fn a_connection_lost_while_sending_the_queue_keeps_the_rest_and_returns() {
        let (kept, bound) = within_30_s("sending the offline queue", || async {
            let (mut session, _host, _rx) = unreachable();
            // Believed online: the first stanza times out in `send`.
            session.bound = Some(Jid::from_str("alice@example.org/tandem").unwrap());
            for body in ["one", "two", "three"] {
                session.queue(message(body));
            }
            session.flush_offline().await;
            let kept: Vec<String> = session
                .offline
                .iter()
                .map(|s| match s {
                    Stanza::Message(m) => m.bodies[&Lang::new()].clone(),
                    _ => String::new(),
                })
                .collect();
            (kept, session.bound.is_some())
        });
        assert_eq!(kept, ["one", "two", "three"]);
        assert!(!bound, "the connection counts as lost");
    }

    /// A client that takes no stanza must not hang the session on a
    /// question to a contact: `xmpp.reach_of` answers "none", and the
    /// connection counts as lost (then replaced), as in `send`.
    #[test]
    fn a_client_that_takes_nothing_does_not_hang_a_vcard_question() {
        let bound = within_30_s("a vCard question", || async {
            let (mut session, _host, _rx) = unreachable();
            session.bound = Some(Jid::from_str("alice@example.org/tandem").unwrap());
            let bob = BareJid::from_str("bob@example.org").unwrap();
            let mut answers = Vec::new();
            for _ in 0..40 {
                let (reply, answer) = oneshot::channel();
                session.ask_vcard(bob.clone(), reply).await;
                answers.push(answer);
            }
            for answer in answers {
                let _ = answer.await;
            }
            session.bound.is_some()
        });
        assert!(!bound, "the connection counts as lost");
    }

    /// The roster query's id is guessable (`roster-1`): only the user's
    /// own server may answer it, with a roster or with an error.
    #[tokio::test]
    async fn only_the_users_server_answers_the_roster_query() {
        let (mut session, _host, _rx) = unreachable();
        session.roster_query = Some("roster-1".into());
        for forged in [
            "<iq xmlns='jabber:client' type='error' id='roster-1' from='mallory@evil.example/x'>\
             <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></iq>",
            "<iq xmlns='jabber:client' type='result' id='roster-1' from='mallory@evil.example'>\
             <query xmlns='jabber:iq:roster'><item jid='mallory@evil.example'/></query></iq>",
        ] {
            session.on_iq(iq(forged)).await;
            assert_eq!(
                session.roster_query.as_deref(),
                Some("roster-1"),
                "{forged}"
            );
        }
        assert!(!session
            .contacts
            .is_contact(&BareJid::from_str("mallory@evil.example").unwrap()));
        session
            .on_iq(iq(
                "<iq xmlns='jabber:client' type='result' id='roster-1'>\
                 <query xmlns='jabber:iq:roster'><item jid='bob@example.org'/></query></iq>",
            ))
            .await;
        assert_eq!(session.roster_query, None);
        assert!(session
            .contacts
            .is_contact(&BareJid::from_str("bob@example.org").unwrap()));
    }
}
