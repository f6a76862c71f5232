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
