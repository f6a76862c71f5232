//! TANDEM PATCH (whole file): what a finished transaction keeps for
//! Timer J / Timer L / Timer D (RFC 3261 17.2.2, RFC 6026) until its
//! `TimerCleanup`, in a compact form.
//!
//! Upstream 0.7.14 keeps a parsed clone of the last message (a `SipMessage`
//! of dozens of small allocations, ≈ 1.2 KB for a 200 with SDP) for 64·T1
//! after every transaction. A UAS at 1,000 calls/s holds 64,000 of them.
//! Here the message is kept as its wire bytes in one allocation, with the
//! few facts the endpoint's lookups need without parsing (is it a response,
//! its status class, is it an ACK); it is parsed back only on the rare path
//! that sends it again (a retransmitted request or final response, or a
//! CANCEL answered after the final response).

use crate::sip::{Method, SipMessage, StatusCodeKind};
use crate::Result;
use alloc::sync::Arc;

/// What kind of message a finished transaction keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishedKind {
    /// A server transaction's last response, by status class.
    Response(StatusCodeKind),
    /// A client INVITE transaction's ACK (to a non-2xx, or the placeholder
    /// or real ACK to a 2xx).
    Ack,
    /// Any other request.
    Request,
}

/// The last message of a finished transaction, serialized.
#[derive(Clone, Debug)]
pub struct FinishedMessage {
    kind: FinishedKind,
    /// `SipMessage::to_bytes`, in an allocation of exactly its length;
    /// `Arc` so that `RwMap::get`'s clone does not copy it.
    bytes: Arc<[u8]>,
}

impl FinishedMessage {
    pub fn kind(&self) -> FinishedKind {
        self.kind
    }

    /// The status class when a response is kept.
    pub fn status_kind(&self) -> Option<StatusCodeKind> {
        match self.kind {
            FinishedKind::Response(kind) => Some(kind),
            _ => None,
        }
    }

    pub fn is_ack(&self) -> bool {
        self.kind == FinishedKind::Ack
    }

    /// The wire bytes, as they were when the transaction finished.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message parsed back, for the paths that send it again.
    pub fn message(&self) -> Result<SipMessage> {
        Ok(SipMessage::try_from(&self.bytes[..])?)
    }
}

impl From<&SipMessage> for FinishedMessage {
    fn from(msg: &SipMessage) -> Self {
        let kind = match msg {
            SipMessage::Response(resp) => FinishedKind::Response(resp.status_code.kind()),
            SipMessage::Request(req) if req.method == Method::Ack => FinishedKind::Ack,
            SipMessage::Request(_) => FinishedKind::Request,
        };
        FinishedMessage {
            kind,
            bytes: Arc::from(msg.to_bytes()),
        }
    }
}

impl From<SipMessage> for FinishedMessage {
    fn from(msg: SipMessage) -> Self {
        FinishedMessage::from(&msg)
    }
}

impl From<crate::sip::Request> for FinishedMessage {
    fn from(req: crate::sip::Request) -> Self {
        FinishedMessage::from(SipMessage::Request(req))
    }
}

impl From<crate::sip::Response> for FinishedMessage {
    fn from(resp: crate::sip::Response) -> Self {
        FinishedMessage::from(SipMessage::Response(resp))
    }
}
