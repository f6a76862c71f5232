//! Messages: chat messages and chat states received (direct or as
//! Carbons, XEP-0280) become events; messages, chat states (XEP-0085) and
//! notes to the user's own clients go out.

use std::str::FromStr;

use tandem_sdk::events::xmpp::{ChatMessage, ChatStateEvent, MessageFile};
use tokio::sync::oneshot;
use xmpp_parsers::carbons;
use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

use super::state::{Role, Session};
use crate::peers::chat_states::Decision;
use crate::xep::reply;

/// A note for the user's own clients (kept on disk while none is online:
/// `crate::spool`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    /// One id for every copy, so that a reply from any client names it.
    pub id: String,
    pub text: String,
    pub thread: Option<String>,
    /// When it was written (Unix seconds): a note that waited for a client
    /// carries it as a XEP-0203 delay, so "Incoming call" held through a
    /// reconnection shows the call's time, not the delivery's.
    #[serde(default)]
    pub at: u64,
    /// A file it shares: the body is then the file's URL.
    #[serde(default)]
    pub file: Option<crate::xep::file_sharing::SharedFile>,
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A message id unique in this process and across restarts (a random
/// per-process prefix): replies name notes by id, answers name invites.
pub fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.finish()
    });
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("tandem-{prefix:016x}-{n}")
}

impl Note {
    /// A note with a fresh id.
    pub fn new(text: String, thread: Option<String>) -> Note {
        Note {
            id: fresh_id(),
            text,
            thread,
            at: unix_now(),
            file: None,
        }
    }
}

impl Session {
    /// A note for the user: to each of their clients by full JID (the
    /// bare JID would go to the top-priority resource, which during a call
    /// is the sidecar itself). With no client online, it waits for the
    /// first one that comes, on disk; when `held_notes` wait already or
    /// the spool cannot be written, it is refused (`Err`, why), never an
    /// older note dropped: a SIP message answered 200 must reach the user.
    pub(super) async fn notify_user(&mut self, note: Note) -> Result<(), String> {
        // While offline, `own` is what was known before: held. The
        // bridge contact writes to the user's bare JID, like a contact.
        let targets: Vec<String> = match (&self.bound, &self.role) {
            (None, _) => Vec::new(),
            (Some(_), Role::Bridge { .. }) => vec![self.owner().to_string()],
            (Some(_), Role::Sidecar { .. }) => self.own.keys().cloned().collect(),
        };
        for to in &targets {
            self.notify(to, &note, false).await;
        }
        if !targets.is_empty() {
            return Ok(());
        }
        let limit = self.config.held_notes;
        if self.notes.len() >= limit {
            return Err(format!(
                "none of your XMPP clients is online and {limit} notes wait for one already ([plugins.xmpp] held_notes)"
            ));
        }
        self.notes.push_back(note);
        if let Err(e) = self.spool.save(&self.notes) {
            self.notes.pop_back();
            return Err(e.to_string());
        }
        Ok(())
    }

    /// Writes the notes waiting for a client to the spool (a failure is
    /// logged: they still wait in memory).
    pub(super) fn keep_notes(&self) {
        if let Err(e) = self.spool.save(&self.notes) {
            self.host.warn(&e.to_string());
        }
    }

    /// Sends every waiting note to `targets` and empties the spool.
    pub(super) async fn deliver_notes(&mut self, targets: &[String]) {
        if self.notes.is_empty() {
            return;
        }
        while let Some(note) = self.notes.pop_front() {
            for to in targets {
                self.notify(to, &note, true).await;
            }
        }
        self.keep_notes();
    }

    /// Sends `note` to one client; `held` when it waited for one.
    pub(super) async fn notify(&mut self, to: &str, note: &Note, held: bool) {
        let Ok(to) = Jid::from_str(to) else { return };
        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
        message.id = Some(xmpp_parsers::message::Id(note.id.clone()));
        match &note.file {
            // Clients show a file inline only when the body is its URL.
            Some(file) => {
                message.bodies.insert(Lang::new(), file.url.clone());
                message.payloads.push(crate::xep::oob::oob(&file.url));
                message
                    .payloads
                    .push(crate::xep::file_sharing::file_sharing(file));
            }
            None => {
                message.bodies.insert(Lang::new(), note.text.clone());
            }
        }
        message.thread = note
            .thread
            .clone()
            .map(|id| xmpp_parsers::message::Thread { parent: None, id });
        // Held for a client (or across a restart): say when it was written.
        if held && note.at > 0 {
            let me = self.bound.as_ref().map(|j| j.to_string());
            message
                .payloads
                .push(crate::xep::delay::element(note.at, me.as_deref()));
        }
        // Kept in the server's archive (XEP-0334), so a client that was
        // offline finds it through MAM.
        message
            .payloads
            .push(Element::builder("store", "urn:xmpp:hints").build());
        // Each client gets its own copy (above): the server must not copy
        // it again to the others as a Carbon of what the account "sent"
        // (XEP-0280 §7), or every client shows each note twice. The
        // bridge's one copy is a contact's message: Carbons are welcome.
        if let Role::Sidecar { .. } = self.role {
            message.payloads.push(xmpp_parsers::carbons::Private.into());
            message
                .payloads
                .push(Element::builder("no-copy", "urn:xmpp:hints").build());
        }
        // Clients that understand XEP-0085 show the conversation active.
        if let Role::Bridge { .. } = self.role {
            message.payloads.push(ChatState::Active.into());
        }
        self.send(message.into()).await;
    }

    /// A call invite or an answer to one (XEP-0482), as an event; an
    /// invite without an id cannot be answered, so it is dropped.
    fn publish_call_invite(
        &self,
        m: &Message,
        invite: &crate::xep::call_invite::CallInvite,
        via: &str,
        from_owner: bool,
    ) {
        use crate::xep::call_invite::CallInvite as Invite;
        let (id, uris, video, jingle) = match invite {
            Invite::Invite {
                video,
                external,
                jingle,
                ..
            } => match Invite::own_id(&m.payloads).or_else(|| m.id.as_ref().map(|id| id.0.clone()))
            {
                Some(id) => (id, external.clone(), *video, jingle.is_some()),
                None => return,
            },
            Invite::Accept { id, external } => {
                (id.clone(), external.iter().cloned().collect(), false, false)
            }
            Invite::Reject { id } | Invite::Retract { id } | Invite::Left { id } => {
                (id.clone(), Vec::new(), false, false)
            }
        };
        self.host.publish(&tandem_sdk::events::xmpp::CallInvite {
            from: m.from.as_ref().map(|j| j.to_string()).unwrap_or_default(),
            to: m.to.as_ref().map(|j| j.to_string()).unwrap_or_default(),
            action: invite.action().into(),
            id,
            uris,
            video,
            jingle,
            via: via.into(),
            from_own_account: from_owner,
        });
    }

    /// Sends a call invite or an answer to one; `id` is the message's
    /// (for an invite, the id its answers will name).
    pub(super) async fn send_call_invite(
        &mut self,
        to: Jid,
        id: String,
        invite: crate::xep::call_invite::CallInvite,
        body: Option<String>,
        thread: Option<String>,
    ) {
        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
        message.id = Some(xmpp_parsers::message::Id(id));
        if let Some(body) = body {
            message.bodies.insert(Lang::new(), body);
        }
        message.thread = thread.map(|id| xmpp_parsers::message::Thread { parent: None, id });
        message.payloads.push(invite.to_element());
        // Kept for a contact who is offline (XEP-0334): an invite without
        // a body would otherwise be thrown away by their server.
        message
            .payloads
            .push(Element::builder("store", "urn:xmpp:hints").build());
        self.send(message.into()).await;
    }

    pub(super) async fn send_message(&mut self, to: Jid, body: String, thread: Option<String>) {
        let mut message = Message::new_with_type(MessageType::Chat, Some(to.clone()));
        message.bodies.insert(Lang::new(), body);
        message.thread = thread.map(|id| xmpp_parsers::message::Thread { parent: None, id });
        if self.chat.decide(&to.to_bare(), &ChatState::Active) != Decision::Unsupported {
            message.payloads.push(ChatState::Active.into());
        }
        self.chat.message_sent(&to.to_bare());
        self.send(message.into()).await;
    }

    /// A XEP-0184 receipt for message `id` of `to`.
    pub(super) async fn send_receipt(&mut self, to: Jid, id: String) {
        let mut message = Message::new_with_type(MessageType::Chat, Some(to));
        message
            .payloads
            .push(xmpp_parsers::receipts::Received { id }.into());
        // For the client that sent the message only: no Carbons copies to
        // the user's other clients.
        message.payloads.push(xmpp_parsers::carbons::Private.into());
        message
            .payloads
            .push(Element::builder("no-copy", "urn:xmpp:hints").build());
        self.send(message.into()).await;
    }

    /// Answers whether the state went out (false: a repeat).
    pub(super) async fn send_chat_state(
        &mut self,
        to: Jid,
        state: ChatState,
        reply: oneshot::Sender<Result<bool, String>>,
    ) {
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

    pub(super) fn on_message(&mut self, m: Message) {
        // The bridge contact takes the user's chat only: PEP and Carbons
        // are the sidecar's to report.
        if let Role::Bridge { .. } = self.role {
            if matches!(m.type_, MessageType::Chat | MessageType::Normal) {
                self.publish_message(&m, "direct");
            }
            return;
        }
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

    pub(super) fn publish_message(&mut self, m: &Message, via: &str) {
        let from_owner = m
            .from
            .as_ref()
            .is_some_and(|f| f.to_bare() == *self.owner());
        // The bridge contact hears the user only (and, by Carbons of its
        // own account, nothing worth telling).
        if let Role::Bridge { .. } = self.role {
            if !from_owner || via != "direct" {
                return;
            }
        }
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
                state: crate::convert::chat_state_name(&state).into(),
                via: via.into(),
                from_own_account: from_owner,
            });
        }
        if let Some(invite) = crate::xep::call_invite::CallInvite::find(&m.payloads) {
            self.publish_call_invite(m, &invite, via, from_owner);
        }
        // The user's own calls in XMPP (the bridge contact hears none).
        if let (Role::Sidecar { .. }, Some(jingle)) = (
            &self.role,
            crate::xep::jingle_message::JingleMessage::find(&m.payloads),
        ) {
            self.on_jingle_message(m, &jingle);
        }
        let Some((_, body)) = m.get_best_body_cloned(vec![]) else {
            return;
        };
        let from_own_account = from_owner;
        self.host.publish(&ChatMessage {
            from,
            to,
            body: Some(reply::without_fallback(&body, &m.payloads)),
            thread: m.thread.as_ref().map(|t| t.id.clone()),
            via: via.into(),
            id: m.id.as_ref().map(|id| id.0.clone()),
            reply_to: reply::reply_to(&m.payloads),
            receipt_requested: m.payloads.iter().any(|p| p.is("request", ns::RECEIPTS)),
            from_own_account,
            file: from_owner.then(|| shared_file(&m.payloads)).flatten(),
        });
    }
}

/// The file a message shares: XEP-0447's, which says what the file is,
/// else XEP-0066's URL alone.
fn shared_file(payloads: &[Element]) -> Option<MessageFile> {
    crate::xep::file_sharing::read(payloads).or_else(|| {
        crate::xep::oob::url(payloads).map(|url| MessageFile {
            url,
            ..MessageFile::default()
        })
    })
}
