//! The user agent: one rsipstack endpoint with its transports and dialog
//! layer, Tandem's calls, and the tasks that serve them.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogStateReceiver, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::transport::Transport;
use rsipstack::sip::{Header, Uri};
use rsipstack::sip::{Param, Scheme};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::EndpointBuilder;
use tandem_sdk::commands::sip::{CallList, Status};
use tandem_sdk::tokio::sync::{broadcast, mpsc};
use tandem_sdk::Host;
use tokio_util::sync::CancellationToken;

use crate::config::{split_header, Config};
use crate::guard::accept_from::Gate;
use crate::guard::message_rate::MessageRate;
use crate::guard::password_scope::PasswordScope;
use crate::guard::refusals::Refusals;
use crate::media::{MediaConfig, PreparedMedia};
use crate::transport::counters::Counters;
use crate::transport::family::{OwnAddress, OwnAddresses};
use crate::transport::icmp::{self, Unreachable};
use crate::transport::public::{on_local_network, PublicAddress};
use crate::transport::route::Advertised;
use crate::ua::calls::{Call, Calls};
use crate::ua::completion::Completions;
use crate::ua::history::{History, SAVE_EVERY};
use crate::ua::identity;
use crate::ua::outbound::Outbound;
use crate::ua::sessions::Sessions;

/// Methods we answer; sent in Allow.
pub const ALLOWED: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO";
/// Bodies we take; sent in Accept.
pub const ACCEPTED: &str = "application/sdp, text/plain, application/im-iscomposing+xml";

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Transport(#[from] crate::transport::open::OpenError),
    #[error("the SIP stack has no local address")]
    NoAddress,
    #[error(transparent)]
    Media(#[from] crate::media::MediaSetupError),
    #[error(transparent)]
    AcceptFrom(#[from] crate::guard::accept_from::AcceptFromError),
}

pub struct Agent {
    pub host: Host,
    pub config: Config,
    pub endpoint: EndpointInnerRef,
    pub dialogs: Arc<DialogLayer>,
    pub states: DialogStateSender,
    /// Our Contact per socket we listen on (where peers reach us: one per
    /// transport, or per transport and family with a dual-stack `listen`),
    /// the first one the default, with the socket (bound to a wildcard,
    /// each dialog's Contact names the address whose route reaches the
    /// peer).
    contacts: Vec<(OwnAddress, Uri)>,
    /// Every socket of ours, to pick the one of a peer's transport and
    /// family (`transport/family.rs`).
    own: OwnAddresses,
    /// Our From URI.
    pub identity: Uri,
    /// The registrar's credential. Requests other than REGISTER get it
    /// through [`Agent::credential_for`] only.
    pub credential: Option<Credential>,
    /// Where the credential may go: the user's SIP service.
    password_scope: Option<PasswordScope>,
    /// Whose INVITE and MESSAGE are taken (`accept_from`).
    pub gate: Arc<Gate>,
    /// Requests refused before they became a call or an event.
    pub refusals: Refusals,
    /// MESSAGEs per source (`message_rate`, `message_burst`).
    pub message_rate: MessageRate,
    /// INVITEs refused at once, whose transactions are read to their end.
    pub completions: Completions,
    /// Our address as the registrar saw it, when a NAT translates it.
    pub public: PublicAddress,
    /// Rung by the keep-alive when the way to the registrar failed (no
    /// answer, or the registrar sees us elsewhere now): the registration
    /// then REGISTERs again at once (RFC 5626 §4.4), not at its refresh.
    pub flow_failed: tandem_sdk::tokio::sync::Notify,
    /// This device's RFC 5626 instance and whether the registrar keeps
    /// our flow (`outbound.rs`).
    pub outbound: Outbound,
    pub media: MediaConfig,
    pub cancel: CancellationToken,
    pub listening: Vec<String>,
    calls: Mutex<Calls>,
    /// SIP sessions that are not calls (`sessions.rs`): never counted or
    /// listed with the calls.
    sessions: Mutex<Sessions>,
    /// The last calls that ended (`sip.calls`).
    pub history: Arc<History>,
    registration: Mutex<String>,
    /// The user's XMPP address (`xmpp:alice@example.org`) announced in
    /// `Call-Info` (REQ-2): from the config, or set by a rule.
    impp: Mutex<Option<String>>,
    /// What the doors answered, dropped or refused before rsipstack saw it.
    screened: Arc<Counters>,
    /// Every ICMP report, re-sent by [`Agent::on_unreachable`] for tasks
    /// that wait on an address of their own (the registration), since the
    /// calls table only knows the calls' destinations.
    pub unreachable: broadcast::Sender<Unreachable>,
}

impl Agent {
    /// Binds the transports and builds the endpoint. The returned receivers
    /// are served by [`super::incoming`], [`super::dialog_events`] and
    /// [`super::unreachable`] (started by the plugin, so that no module
    /// of `ua/` and this one import each other).
    pub async fn start(
        host: Host,
        config: Config,
    ) -> Result<
        (
            Arc<Agent>,
            rsipstack::transaction::TransactionReceiver,
            DialogStateReceiver,
            mpsc::Receiver<Unreachable>,
        ),
        StartError,
    > {
        let cancel = CancellationToken::new();
        // A start that fails half way stops what it started (the endpoint,
        // the accept loops) and frees the ports.
        let stop_on_error = cancel.clone().drop_guard();
        let (transports, opened) = crate::transport::open::open(&config, &cancel).await?;
        let listening = opened.listening.clone();
        let own = opened.own.clone();
        let screened = opened.counters.clone();
        let endpoint = EndpointBuilder::new()
            .with_user_agent(concat!("Tandem/", env!("CARGO_PKG_VERSION")))
            .with_transport_layer(transports)
            .with_inspector(Box::new(Wire { own: own.clone() }))
            .with_cancel_token(cancel.clone())
            .build();
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|_| StartError::NoAddress)?;
        let (inner, unreachable_rx) = opened.serve(endpoint).await;
        let addrs = inner.get_addrs();
        let addr = addrs.first().cloned().ok_or(StartError::NoAddress)?;

        let dialogs = Arc::new(DialogLayer::new(inner.clone()));
        let (states, state_rx) = dialogs.new_dialog_state_channel();
        let user = rsipstack::sip::Auth {
            user: config.user.clone(),
            password: None,
        };
        // One Contact per socket of ours (both families of each transport
        // with a dual-stack `listen`), UDP first.
        let contacts: Vec<(OwnAddress, Uri)> = own
            .0
            .iter()
            .map(|a| {
                let params = match a.transport {
                    Transport::Udp => vec![],
                    other => vec![Param::Transport(other)],
                };
                let uri = Uri {
                    scheme: Some(Scheme::Sip),
                    auth: Some(user.clone()),
                    host_with_port: a.advertised.into(),
                    params,
                    ..Default::default()
                };
                (a.clone(), uri)
            })
            .collect();
        if contacts.is_empty() {
            return Err(StartError::NoAddress);
        }
        let identity = if config.domain.is_empty() {
            contacts[0].1.clone()
        } else {
            Uri {
                scheme: Some(rsipstack::sip::Scheme::Sip),
                auth: Some(user),
                host_with_port: config.domain.as_str().try_into().unwrap_or(addr.addr),
                ..Default::default()
            }
        };
        let credential = config.registrar.as_ref().map(|_| Credential {
            username: config.user.clone(),
            password: config.password.clone(),
            realm: None,
            auth_username: config.auth_username.clone(),
        });
        let registrar = config
            .registrar
            .as_deref()
            .and_then(|r| Some((r, crate::uri::parse_target(r).ok()?)));
        let password_scope = registrar
            .as_ref()
            .map(|(written, uri)| PasswordScope::new(uri, written, &config.domain));
        let gate = Arc::new(Gate::new(
            config.accept_from()?,
            registrar.map(|(_, uri)| uri),
        ));
        tandem_sdk::tokio::spawn(gate.clone().keep_looked_up(cancel.clone()));
        let media = MediaConfig::from_config(&config)?;
        let impp = config.impp.clone();
        let message_rate = MessageRate::new(config.message_rate, config.message_burst);
        let account = match config.domain.as_str() {
            "" => config.user.clone(),
            domain => format!("{}@{domain}", config.user),
        };
        let calls_path = config
            .calls_path
            .clone()
            .or_else(|| History::default_path(&account));
        let (history, unread) = History::kept_at(calls_path);
        if let Some(e) = unread {
            log::warn!("{e}");
        }
        let history = Arc::new(history);
        tandem_sdk::tokio::spawn(history.clone().keep_saved(SAVE_EVERY, cancel.clone()));
        let (outbound, unkept) = match config.registrar {
            Some(_) => Outbound::new(config.outbound, Outbound::default_path(&account)),
            None => (Outbound::off(), None),
        };
        if let Some(problem) = unkept {
            log::warn!("{problem}");
        }
        let agent = Arc::new(Agent {
            host,
            config,
            endpoint: inner,
            dialogs,
            states,
            contacts,
            own,
            identity,
            credential,
            password_scope,
            gate,
            refusals: Refusals::default(),
            message_rate,
            completions: Completions::default(),
            public: PublicAddress::default(),
            flow_failed: Default::default(),
            outbound,
            media,
            cancel,
            listening,
            calls: Mutex::new(Calls::default()),
            sessions: Mutex::new(Sessions::default()),
            history,
            registration: Mutex::new("none".to_owned()),
            impp: Mutex::new(impp),
            screened,
            unreachable: broadcast::channel(icmp::QUEUE).0,
        });
        stop_on_error.disarm();
        Ok((agent, incoming, state_rx, unreachable_rx))
    }

    /// Our Contact for a dialog over `transport` with `peer` (the address
    /// its requests come from or go to): the listener of that transport
    /// (of the peer's family, when we listen on both: decision 0075), else
    /// the first one (a peer then answers where we listen). A
    /// listener bound to a wildcard is named by the address whose route
    /// reaches the peer (rsipstack would name the host's first interface).
    /// A peer beyond a NAT the registrar showed (`transport/public.rs`) is
    /// told the public address instead, over the transport that learned it.
    /// Through a registrar that keeps our flow (RFC 5626 outbound), the
    /// Contact carries `;ob` (§4.3), so the dialog's requests come back
    /// down that flow.
    pub fn contact_toward(&self, transport: Option<Transport>, peer: Option<IpAddr>) -> Uri {
        let transport = transport.unwrap_or(Transport::Udp);
        let chosen = self.own.toward(transport, peer);
        let (listener, uri) = self
            .contacts
            .iter()
            .find(|(a, _)| Some(a) == chosen)
            .unwrap_or(&self.contacts[0]);
        let mut uri = uri.clone();
        let public = self.public.toward(peer, self.via_registrar(peer));
        if let Some(public) = public.filter(|p| p.transport == listener.transport) {
            uri.host_with_port = SocketAddr::new(public.ip, 0).into();
            uri.host_with_port.port = public.port.map(Into::into);
        } else if listener.bound.ip().is_unspecified() {
            let port = uri.host_with_port.port;
            let route = Advertised::new(None, listener.bound.ip());
            uri.host_with_port = SocketAddr::new(route.toward(peer), 0).into();
            uri.host_with_port.port = port;
        }
        if self.outbound.in_use() && self.via_registrar(peer) {
            uri.params.push(Param::Ob);
        }
        uri
    }

    /// Whether `listen` names both families (decision 0075).
    pub fn is_dual_stack(&self) -> bool {
        self.config.listen.is_dual()
    }

    /// Our address on the `transport` socket of `peer`'s family (for a
    /// wildcard, the one whose route reaches it).
    pub fn own_toward(&self, transport: Transport, peer: Option<IpAddr>) -> Option<SocketAddr> {
        Some(self.own.toward(transport, peer)?.toward(peer))
    }

    /// The address our SDP names in a call with `media_peer` (where our
    /// RTP goes) set up through `signalling_peer`: `media_address` when
    /// set, the public address the registrar saw when the peer is beyond
    /// that NAT, else ours (toward the media peer, for a wildcard bind;
    /// of its family, with a dual-stack `listen`).
    pub fn media_address_for(
        &self,
        media_peer: Option<IpAddr>,
        signalling_peer: Option<IpAddr>,
    ) -> IpAddr {
        let public = self
            .public
            .toward(signalling_peer, self.via_registrar(signalling_peer));
        match (self.media.configured, public) {
            (Some(configured), _) => configured,
            (None, Some(public)) => public.ip,
            (None, None) => match self.config.listen.is_dual() {
                true => {
                    Advertised::new(None, self.media_bind_toward(media_peer)).toward(media_peer)
                }
                false => self.media.advertised.toward(media_peer),
            },
        }
    }

    /// Where a call's RTP binds when our SDP names `address` (or the
    /// peer is `address`): `media_bind` when set, else the `listen`
    /// address of its family (an IPv6 socket for `c=IN IP6`).
    pub fn media_bind_toward(&self, address: Option<IpAddr>) -> IpAddr {
        match self.config.listen.is_dual() {
            true => self.config.media_bind_toward(address),
            false => self.media.bind,
        }
    }

    /// The address and port our SDP names for `media` in a call whose
    /// media peer is `media_peer` (when known): what the STUN server saw
    /// the RTP socket come from, when `stun_server` is set, `media_address`
    /// is not and the peer is not on the local network; else `own` (the
    /// address worked out without STUN) and the socket's port.
    pub async fn public_media(
        &self,
        media: &PreparedMedia,
        media_peer: Option<IpAddr>,
        own: IpAddr,
    ) -> (IpAddr, u16) {
        let without = (own, media.port);
        let Some(stun) = &self.media.stun else {
            return without;
        };
        let local_peer = media_peer.is_some_and(|p| on_local_network(p.to_canonical()));
        if self.media.configured.is_some() || local_peer {
            return without;
        }
        match stun.public_media(media).await {
            Some(mapped) => (mapped.ip(), mapped.port()),
            None => without,
        }
    }

    /// Whether requests to or from `peer` pass through the registrar.
    fn via_registrar(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|p| self.gate.is_registrar(p))
    }

    /// The address our SDP names in `call`: the one chosen when it
    /// started, else toward no one in particular (the default route).
    pub fn call_media_address(&self, call: &Call) -> IpAddr {
        call.media_address
            .unwrap_or_else(|| self.media.advertised.toward(None))
    }

    /// The credential for a request to `target` (an INVITE, a MESSAGE):
    /// only when the target is the user's own SIP service, so a stranger's
    /// 401 gets no digest of the password (see `password_scope.rs`).
    pub fn credential_for(&self, target: &Uri) -> Option<Credential> {
        let scope = self.password_scope.as_ref()?;
        self.credential.clone().filter(|_| scope.covers(target))
    }

    /// Why a callee's challenge went unanswered, for the person: `None`
    /// when there is no password to withhold.
    pub fn withheld_password(&self, peer: &str) -> Option<String> {
        let scope = self.password_scope.as_ref()?;
        Some(format!(
            "{peer} asked for credentials; Tandem only sends the password to {scope}"
        ))
    }

    /// The calls, locked. Never held across an `.await`.
    pub fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sessions that are not calls, locked. Never held across an
    /// `.await`.
    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the last REGISTER was accepted.
    pub fn is_registered(&self) -> bool {
        *self.registration.lock().unwrap_or_else(|e| e.into_inner()) == "registered"
    }

    pub fn set_registration(&self, state: &str) {
        *self.registration.lock().unwrap_or_else(|e| e.into_inner()) = state.to_owned();
    }

    /// The user's XMPP address announced in `Call-Info`, if any.
    pub fn impp(&self) -> Option<String> {
        self.impp.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_impp(&self, address: Option<String>) {
        *self.impp.lock().unwrap_or_else(|e| e.into_inner()) = address;
    }

    /// The headers that say who the user is and which session this is:
    /// `Call-Info` (when an XMPP address is known) and `Session-ID`.
    pub fn identity_headers(&self, local: &str, remote: Option<&str>) -> Vec<Header> {
        let mut headers: Vec<Header> = self.impp().iter().map(|a| identity::call_info(a)).collect();
        headers.push(identity::session_id(local, remote));
        headers
    }

    /// The configured extra headers (validated at start).
    pub fn extra_headers(&self) -> Vec<Header> {
        self.config
            .extra_headers
            .iter()
            .filter_map(|line| split_header(line))
            .map(|(name, value)| Header::Other(name.to_owned(), value.to_owned()))
            .collect()
    }

    /// The calls now and the last that ended (`sip.calls`).
    pub fn call_list(&self) -> CallList {
        CallList {
            now: self.calls().infos(),
            recent: self.history.newest_first(),
        }
    }

    pub fn status(&self) -> Status {
        Status {
            listening: self.listening.clone(),
            nat: self
                .media
                .stun
                .as_ref()
                .and_then(|stun| stun.mapping().explain())
                .map(str::to_owned),
            address: self.identity.to_string(),
            registration: self
                .registration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            calls: self.calls().infos(),
            dropped_datagrams: self.screened.dropped(),
            answered_malformed: self.screened.answered(),
            dropped_tcp_messages: self.screened.dropped_tcp(),
            refused_connections: self.screened.refused(),
            answered_busy: self.refusals.busy(),
            answered_forbidden: self.refusals.forbidden(),
            answered_unavailable: self.refusals.unavailable(),
            answered_flood: self.refusals.flood(),
        }
    }
}

/// What every message passes between the sockets and rsipstack, which takes
/// a single inspector: an IPv6 sender's `received` unbracketed on the way
/// in (`transport::received`), then the digest fixes both ways
/// (`guard::digest_wire`). On the way out, a request's Via is first put
/// in the family of where it goes (`transport::family`).
struct Wire {
    own: OwnAddresses,
}

impl rsipstack::transaction::endpoint::MessageInspector for Wire {
    fn before_send(
        &self,
        msg: rsipstack::sip::SipMessage,
        dest: Option<&rsipstack::transport::SipAddr>,
    ) -> rsipstack::sip::SipMessage {
        let msg = self.own.via_for(msg, dest);
        crate::guard::digest_wire::DigestWire.before_send(msg, dest)
    }

    fn after_received(
        &self,
        msg: rsipstack::sip::SipMessage,
        from: Option<&rsipstack::transport::SipAddr>,
    ) -> rsipstack::sip::SipMessage {
        let msg = crate::transport::received::unbracket(msg);
        crate::guard::digest_wire::DigestWire.after_received(msg, from)
    }
}
