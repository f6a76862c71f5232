//! Commands provided by the file-transfer plugin.

use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;
use crate::CommandType;

open_enum! {
    /// Where an offer or transfer stands.
    pub enum TransferState {
        /// Waiting for the user's (or a rule's) answer.
        Offered = "offered",
        /// Being fetched from the peer's URL.
        Downloading = "downloading",
        /// Being uploaded to the user's XMPP server.
        Uploading = "uploading",
        /// Turned down; nothing was fetched.
        Rejected = "rejected",
        /// The user's file being offered to a SIP peer (a MESSAGE on its
        /// way, waiting for the peer's answer).
        Sending = "sending",
    }
}

open_enum! {
    /// Which way a transfer goes.
    pub enum Direction {
        /// From a SIP peer to the user.
        In = "in",
        /// From the user to a SIP peer.
        Out = "out",
    }
}

open_enum! {
    /// How a file reached one recipient of `file_transfer.send`.
    pub enum Delivery {
        /// Asked, not answered yet (`file_transfer.send`'s answer):
        /// `file_transfer.delivered` says how it went.
        Pending = "pending",
        /// Offered (GSMA RCS file-info or RFC 4483), which the peer took
        /// (2xx): its client fetches the file from the link.
        Offered = "offered",
        /// The peer does not take file offers (415): the link went as text.
        Link = "link",
        /// Neither reached the peer; `reason` says why.
        Failed = "failed",
    }
}

/// Accepts an offer (`file_transfer.offered`): the file is downloaded,
/// uploaded to the user's XMPP server and shared with their clients, in
/// the background; `file_transfer.completed` or `file_transfer.failed`
/// tells how it ended. Refused (`invalid_arguments`) for an id that is not
/// an offer waiting for an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Accept {
    pub id: String,
    /// The conversation thread (XEP-0201) the shared file is sent in, so
    /// it lands beside the offer (rules use one thread per SIP peer).
    pub thread: Option<String>,
}
impl CommandType for Accept {
    const NAME: &'static str = "file_transfer.accept";
    type Reply = Transfer;
}

/// Turns an offer down: nothing is fetched and the offer is forgotten
/// (`file_transfer.closed`). The peer is not told: an HTTP offer has no
/// answer in its protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reject {
    pub id: String,
}
impl CommandType for Reject {
    const NAME: &'static str = "file_transfer.reject";
    type Reply = Transfer;
}

/// Offers the user's file, already on a web server (their XMPP server's
/// upload), to SIP peers: to each a MESSAGE with GSMA RCS file-info or
/// RFC 4483 pointing at `url` (Tandem serves nothing), or the link as text
/// to a peer that answers 415. Name, size and type not given are asked of
/// the server (HEAD); with all three given, nothing is asked. Answers at
/// once, every recipient `pending` (a peer may take 32 s to answer, or
/// never): `file_transfer.delivered` says, per peer, how it went. Refused (`invalid_arguments`) when `url` is not a file (a web page, an
/// error, not http(s)), so a caller can send it as text instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Send {
    /// SIP URIs.
    pub to: Vec<String>,
    pub url: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    /// SHA-256 of the content, lower-case hex, when the user's client said
    /// it (XEP-0447): kept with the transfer for offers that carry a hash.
    pub sha256: Option<String>,
}
impl CommandType for Send {
    const NAME: &'static str = "file_transfer.send";
    type Reply = Sent;
}

/// What `file_transfer.send` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sent {
    /// This sending, as `file_transfer.delivered` names it.
    pub id: String,
    /// The file's name, as offered.
    pub name: String,
    pub size: Option<u64>,
    pub recipients: Vec<Recipient>,
}

/// One peer's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recipient {
    pub peer: String,
    pub delivery: Delivery,
    /// Why it failed, in plain words; absent otherwise.
    pub reason: Option<String>,
}

/// Stops a transfer under way (or turns down an offer still waiting): a
/// download stops and its part file is removed. Refused
/// (`invalid_arguments`) for an id that is not in `file_transfer.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cancel {
    pub id: String,
}
impl CommandType for Cancel {
    const NAME: &'static str = "file_transfer.cancel";
    type Reply = Transfer;
}

/// The offers waiting for an answer and the transfers under way.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct List {}
super::takes_no_arguments!(List);
impl CommandType for List {
    const NAME: &'static str = "file_transfer.list";
    type Reply = Transfers;
}

/// What `file_transfer.list` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Transfers {
    pub transfers: Vec<Transfer>,
}

/// One offer or transfer, as the commands answer it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Transfer {
    pub id: String,
    pub peer: String,
    pub name: String,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    pub state: TransferState,
    /// Bytes received so far.
    pub received: u64,
    pub direction: Direction,
    /// Bytes per second since the download began (downloads only).
    pub rate: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state a newer plugin adds (say `paused`) reaches an older caller
    /// as `Unknown` and goes back out unchanged.
    #[test]
    fn a_newer_state_round_trips() {
        let t: Transfer =
            serde_json::from_value(serde_json::json!({"id": "k1", "state": "paused"})).unwrap();
        assert_eq!(t.state, TransferState::Unknown("paused".into()));
        assert_eq!(serde_json::to_value(&t).unwrap()["state"], "paused");
        let t: Transfer =
            serde_json::from_value(serde_json::json!({"state": "uploading"})).unwrap();
        assert_eq!(t.state, TransferState::Uploading);
    }
}
