//! Events of the file-transfer plugin: files offered to the user, and how
//! each transfer ended.

use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;
use crate::EventType;

open_enum! {
    /// Why an offer closed without a transfer.
    pub enum CloseReason {
        /// Someone ran `file_transfer.reject`.
        Rejected = "rejected",
        /// Nobody answered in time.
        Expired = "expired",
        /// Someone ran `file_transfer.cancel` (before or during the
        /// download); nothing half-written is left.
        Cancelled = "cancelled",
    }
}

/// A peer offers the user a file (so far: a SIP peer's MESSAGE pointing at
/// an HTTP URL, GSMA RCS file-info or RFC 4483 `message/external-body`).
/// Nothing is fetched until someone runs `file_transfer.accept {id}`: a
/// stranger's offer costs the user no bandwidth and no disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Offered {
    /// The offer's id, for `file_transfer.accept` and `file_transfer.reject`.
    pub id: String,
    /// Who offers it: a SIP URI.
    pub peer: String,
    /// Their display name, when they gave one ("Bob").
    pub peer_name: Option<String>,
    /// Whether the peer's identity is vouched for (it came through the
    /// user's SIP service), as `sip.message`'s `vouched`.
    pub vouched: bool,
    /// The file name, sanitised: safe to show and to save under.
    pub name: String,
    /// The size the peer announced, in bytes; absent when it did not say.
    pub size: Option<u64>,
    /// The media type the peer announced (`image/jpeg`), when it did.
    pub media_type: Option<String>,
    /// Where the file is; shown so a rule can decide by host.
    pub url: Option<String>,
    /// `rcs` (GSMA file-info) or `external-body` (RFC 4483).
    pub via: String,
    /// Seconds until the offer is forgotten (for one inside a call, the
    /// few seconds the peer's re-INVITE can be held).
    pub expires_in: u64,
    /// The SIP plugin's id of the call with the peer this offer came in,
    /// when it came inside one that is up (a stream added to the call,
    /// decision 0072): the user is on the phone with them, and the offer
    /// waits only `expires_in` seconds. Absent for any other offer.
    pub call: Option<String>,
}
impl EventType for Offered {
    const TOPIC: &'static str = "file_transfer.offered";
}

/// An accepted file reached the user's clients: downloaded, uploaded to
/// their XMPP server (XEP-0363) and shared with them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Completed {
    pub id: String,
    pub peer: String,
    pub name: String,
    /// Bytes received (and uploaded).
    pub size: u64,
    pub media_type: Option<String>,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Where the user's clients download it (the upload slot's GET URL).
    pub url: String,
    /// The copy kept on this machine, when one is kept.
    pub path: Option<String>,
}
impl EventType for Completed {
    const TOPIC: &'static str = "file_transfer.completed";
}

/// An accepted file did not reach the user; nothing half-written is left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failed {
    pub id: String,
    pub peer: String,
    pub name: String,
    /// Why, in plain words for the user ("the link has expired or the
    /// file was removed (HTTP 404)").
    pub reason: String,
}
impl EventType for Failed {
    const TOPIC: &'static str = "file_transfer.failed";
}

/// An offer was turned down (`file_transfer.reject`), expired unanswered,
/// or a transfer was cancelled (`file_transfer.cancel`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Closed {
    pub id: String,
    pub peer: String,
    pub name: String,
    pub reason: CloseReason,
}
impl EventType for Closed {
    const TOPIC: &'static str = "file_transfer.closed";
}

/// How the user's file reached one peer of a `file_transfer.send`: one
/// event per recipient, as each answers (the command answered at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Delivered {
    /// The sending's id (`file_transfer.send`'s answer).
    pub id: String,
    pub peer: String,
    pub name: String,
    /// `offered`, `link` or `failed` (never `pending`).
    pub delivery: crate::commands::file_transfer::Delivery,
    /// Why it failed, in plain words; absent otherwise.
    pub reason: Option<String>,
}
impl EventType for Delivered {
    const TOPIC: &'static str = "file_transfer.delivered";
}
