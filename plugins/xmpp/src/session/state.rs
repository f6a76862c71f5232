//! The session's state and what other tasks ask of it: the types every
//! part of the session shares and no behaviour, so the parts depend on
//! this and not on each other.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tandem_sdk::commands::xmpp::{Presence, Status};
use tandem_sdk::Host;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::rustls::RootCertStore;
use tokio_xmpp::stanzastream::StanzaToken;
use tokio_xmpp::{Client, Stanza};
use xmpp_parsers::caps::Caps;
use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;

use super::message::Note;
use crate::config::Config;
use crate::peers::adhoc_sessions::Sessions;
use crate::peers::caps::CapsCache;
use crate::peers::chat_states::ChatStates;
use crate::peers::contacts::Contacts;
use crate::xep::activity::Activity;
use crate::xep::adhoc::FormField;
use crate::xep::reach::Address;

/// What other tasks ask of the session.
pub enum Request {
    Presence(oneshot::Sender<Presence>),
    /// Answers the new presence and the one it replaced.
    SetPresence(Presence, oneshot::Sender<(Presence, Presence)>),
    SetActivity(Activity),
    /// Publish these reachability addresses (none: stop).
    SetReach(Vec<Address>),
    /// The addresses a contact published.
    ReachOf(BareJid, oneshot::Sender<Vec<Address>>),
    /// The SIP URIs in a contact's vCard (none when it cannot be had).
    VcardSip(BareJid, oneshot::Sender<Vec<Address>>),
    /// A contact's vCard came with these numbers and addresses
    /// (`vcard::entries`): for the index of who is calling.
    VcardSeen(BareJid, Vec<String>),
    /// A pre-authenticated roster link for a SIP peer (and their JID).
    PreauthOffer(String, Option<BareJid>, oneshot::Sender<String>),
    /// Ask for a contact's presence, with their link's token if any.
    AddContact(BareJid, Option<String>),
    /// Who a SIP peer is among the contacts (`xmpp.who_is`).
    WhoIs(
        tandem_sdk::commands::xmpp::WhoIs,
        oneshot::Sender<tandem_sdk::commands::xmpp::PeerIdentity>,
    ),
    /// The answer (or not) to a caps disco#info question.
    CapsAnswer {
        from: Jid,
        caps: Caps,
        answer: Result<DiscoInfoResult, String>,
    },
    /// Answers whether the note is sent or kept (else why not).
    NotifyUser(Note, oneshot::Sender<Result<(), String>>),
    /// A XEP-0184 receipt: to, id.
    SendReceipt(Jid, String),
    Status(oneshot::Sender<Status>),
    SendMessage {
        to: Jid,
        body: String,
        thread: Option<String>,
    },
    /// A XEP-0482 element to `to` in a message with this id.
    SendCallInvite {
        to: Jid,
        id: String,
        invite: crate::xep::call_invite::CallInvite,
        body: Option<String>,
        thread: Option<String>,
    },
    /// Decline a call proposed to the user (XEP-0353 `<reject>`): the
    /// session id, the XEP-0166 condition, a text.
    DeclineCall {
        id: String,
        condition: String,
        text: Option<String>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Answers whether the state went out (false: a repeat).
    SendChatState(Jid, ChatState, oneshot::Sender<Result<bool, String>>),
    /// Serve an ad-hoc command on this node.
    RegisterAdhoc(String, Registered),
    /// Send a stanza built by a helper task (an ad-hoc command's answer).
    Send(Box<Stanza>),
    /// Ask an IQ of `to` and answer its result's payload (or why not):
    /// for commands that talk to the server in several steps.
    Iq {
        to: Jid,
        request: tokio_xmpp::IqRequest,
        reply: oneshot::Sender<Result<xmpp_parsers::minidom::Element, String>>,
    },
    Stop(oneshot::Sender<()>),
    /// Try to log in now, forgetting refused logins (`xmpp.reconnect`).
    Reconnect,
    /// The other session of the pair has pre-approved this one's
    /// subscription (`pairing`): asking for it now is approved by the
    /// server without bothering the user's clients.
    PairReady,
}

/// Where the mutual subscription of the user's account and the bridge
/// contact stands, as one session sees it (`pairing`).
#[derive(Debug, Default)]
pub struct Pairing {
    /// The other session, to tell it when it may ask.
    pub other: Option<mpsc::Sender<Request>>,
    /// The counterpart's roster item: its subscription and whether ours
    /// was asked for (None: no roster yet on this connection).
    pub subscription: Option<xmpp_parsers::roster::Subscription>,
    pub asked: bool,
    /// The other session has pre-approved us.
    pub other_ready: bool,
    /// The id of the ping that follows our pre-approval, until answered.
    pub ping: Option<String>,
}

/// Which account a session is logged into, and so what it does there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The sidecar resource on the user's own account: it watches and
    /// publishes presence, serves the ad-hoc commands, and keeps the
    /// bridge contact (when there is one) on the user's roster.
    Sidecar { bridge: Option<BareJid> },
    /// The bridge contact: a second account of the user's, which writes to
    /// them as a contact would (so a client shows and alerts its notes)
    /// and whose presence is the phone's. It speaks to `owner` only.
    Bridge { owner: BareJid },
}

/// One ad-hoc command the sidecar serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub name: String,
    /// The bus command run on execute, with `{node, from, fields}`; its
    /// answer's `text` becomes the note.
    pub handler: String,
    /// Asked first, as a form; none means the command runs at once.
    pub fields: Vec<FormField>,
    /// The bus command that gives the form each time (a switch's state),
    /// in place of `fields`.
    pub form: Option<String>,
}

/// The ad-hoc commands by node, in a stable order for listing.
#[derive(Debug, Default)]
pub struct Registry(BTreeMap<String, Registered>);

impl Registry {
    pub fn register(&mut self, node: &str, command: Registered) {
        self.0.insert(node.to_owned(), command);
    }
    pub fn get(&self, node: &str) -> Option<&Registered> {
        self.0.get(node)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Registered)> {
        self.0.iter()
    }
}

/// Everything the session task owns.
pub struct Session {
    pub(super) client: Client,
    pub(super) config: Config,
    /// From `ca_path`, when set.
    pub(super) roots: Option<Arc<RootCertStore>>,
    /// When the next login may be tried (issue 19), shared by the clients.
    pub(super) gate: Arc<crate::login::Gate>,
    /// Down since this long ago (None: online); a client that does not come
    /// back in time is replaced.
    pub(super) down_since: Option<Instant>,
    /// Replacements of the client in a row, for the back-off.
    pub(super) replaced: u32,
    pub(super) liveness: (mpsc::Sender<bool>, mpsc::Receiver<bool>),
    /// To ourselves, for helper tasks.
    pub(super) requests: mpsc::Sender<Request>,
    pub(super) adhoc: Registry,
    /// Multi-step ad-hoc commands waiting for their form.
    pub(super) adhoc_sessions: Sessions,
    pub(super) chat: ChatStates,
    /// The user's XMPP calls (XEP-0353) seen go by.
    pub(super) calls: crate::peers::jingle_calls::Calls,
    pub(super) host: Host,
    /// The account logged into.
    pub(super) account: BareJid,
    pub(super) role: Role,
    pub(super) pairing: Pairing,
    pub(super) name: String,
    pub(super) presence: Presence,
    pub(super) activity: Option<Activity>,
    /// Our reachability addresses (XEP-0152), in presence and PEP.
    pub(super) reach: Vec<Address>,
    /// The roster, and what is kept of the contacts on it (presence,
    /// addresses); strangers' stanzas are published, not remembered.
    pub(super) contacts: Contacts,
    /// The roster links given out (XEP-0379), until used or expired.
    pub(super) preauth: crate::peers::preauth::Tokens,
    /// The id of the roster query of this connection, until answered.
    pub(super) roster_query: Option<String>,
    /// The contacts' vCards being fetched after the roster (`vcards`).
    pub(super) vcard_walk: Option<tokio::task::JoinHandle<()>>,
    /// What contacts' clients support (XEP-0115).
    pub(super) caps: CapsCache,
    /// Caps questions to send, found while handling a presence.
    pub(super) caps_to_ask: Vec<(Jid, Caps, DiscoInfoQuery)>,
    pub(super) bound: Option<Jid>,
    /// The user's other clients, by full JID (only the user's own server
    /// can send presence from the account).
    pub(super) own: BTreeMap<String, Presence>,
    pub(super) offline: VecDeque<Stanza>,
    /// Messages sent but not yet acknowledged by the server (XEP-0198): sent
    /// again if the next connection is a new session (a resumed one gets
    /// them from tokio-xmpp). Only kept when the server offers XEP-0198.
    pub(super) unacked: Vec<(Message, StanzaToken)>,
    /// Whether this connection's server offers XEP-0198.
    pub(super) stream_management: bool,
    /// Notifications waiting for one of the user's clients to come online.
    pub(super) notes: VecDeque<Note>,
    /// Where `notes` also wait, across restarts.
    pub(super) spool: crate::spool::Spool,
    pub(super) connects: u64,
}
