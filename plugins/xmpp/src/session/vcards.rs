//! The roster contacts' vCards, fetched in the background once the roster
//! comes on each connection, so the first call from an address or number
//! a contact's vCard lists is recognised (the index of who is calling,
//! `peers::bindings`) without a call by JID having fetched it first.
//!
//! Paced: one contact at a time (its two questions, vCard4 and
//! vcard-temp, then its answers or their timeout), [`PACE`] apart, and at
//! most [`MAX_CONTACTS`]: a roster of 5,000 takes minutes instead of
//! sending 10,000 IQs at once to the user's server. A new roster (a new
//! connection) starts the walk again; the old one stops.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use xmpp_parsers::jid::BareJid;

use super::state::{Request, Role, Session};

/// Between two contacts: at most 10 contacts (20 IQs) a second.
const PACE: Duration = Duration::from_millis(100);
/// Contacts walked at most on a connection.
pub const MAX_CONTACTS: usize = 5000;

impl Session {
    /// Starts fetching the roster contacts' vCards (the sidecar only: the
    /// bridge contact's roster is the user), stopping a walk under way.
    pub(super) fn fetch_vcards(&mut self) {
        if let Some(walk) = self.vcard_walk.take() {
            walk.abort();
        }
        if !matches!(self.role, Role::Sidecar { .. }) {
            return;
        }
        let mut jids = self.contacts.roster_jids();
        jids.truncate(MAX_CONTACTS);
        if jids.is_empty() {
            return;
        }
        self.host
            .debug(&format!("fetching {} contacts' vCards", jids.len()));
        self.vcard_walk = Some(tokio::spawn(walk(jids, self.requests.clone())));
    }
}

/// Asks the session for each contact's vCard in turn (the session indexes
/// what comes, `Request::VcardSeen`), waiting for each answer and
/// [`PACE`]; ends when the session does.
async fn walk(jids: Vec<BareJid>, session: mpsc::Sender<Request>) {
    for jid in jids {
        let (reply, answer) = oneshot::channel();
        if session.send(Request::VcardSip(jid, reply)).await.is_err() {
            return;
        }
        let _ = answer.await;
        tokio::time::sleep(PACE).await;
    }
}
