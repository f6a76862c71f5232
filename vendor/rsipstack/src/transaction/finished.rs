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
    /// A server INVITE transaction whose final response was ACKed, by that
    /// response's status class. RFC 6026 §7.1 / RFC 3261 §17.2.1: a copy
    /// of the INVITE after the ACK is absorbed, never answered (the 2xx is
    /// resent by the UAS core only until the ACK), so no response is kept:
    /// `bytes` holds only its To header field's value, for the 200 to a
    /// CANCEL arriving after the final response (RFC 3261 §9.2). The entry
    /// itself must stay: without it the copy would start a new transaction.
    Acked(StatusCodeKind),
}

/// The last message of a finished transaction, serialized.
#[derive(Clone, Debug)]
pub struct FinishedMessage {
    kind: FinishedKind,
    /// `SipMessage::to_bytes` (for `Acked`, the To header field's value),
    /// in an allocation of exactly its length; `Arc` so that `RwMap::get`'s
    /// clone does not copy it.
    bytes: Arc<[u8]>,
}

impl FinishedMessage {
    pub fn kind(&self) -> FinishedKind {
        self.kind
    }

    /// The status class when a response is kept, or was ACKed.
    pub fn status_kind(&self) -> Option<StatusCodeKind> {
        match self.kind {
            FinishedKind::Response(kind) | FinishedKind::Acked(kind) => Some(kind),
            _ => None,
        }
    }

    /// Whether a copy of the request is absorbed unanswered.
    pub fn is_acked(&self) -> bool {
        matches!(self.kind, FinishedKind::Acked(_))
    }

    /// A server INVITE's final response, once ACKed: its status class and
    /// To header field only.
    pub fn acked(resp: &crate::sip::Response) -> Self {
        use crate::sip::prelude::HeadersExt;
        let to = resp.to_header().map(|to| to.value()).unwrap_or_default();
        FinishedMessage {
            kind: FinishedKind::Acked(resp.status_code.kind()),
            bytes: Arc::from(to.as_bytes()),
        }
    }

    /// This entry once the ACK has come: `None` when there is nothing to
    /// shrink (already ACKed, or not a server INVITE's final response).
    pub fn into_acked(&self) -> Option<Self> {
        match (self.kind, self.message()) {
            (FinishedKind::Response(kind), Ok(SipMessage::Response(resp)))
                if kind != StatusCodeKind::Provisional =>
            {
                Some(FinishedMessage::acked(&resp))
            }
            _ => None,
        }
    }

    /// The To header field kept by an `Acked` entry.
    pub fn acked_to(&self) -> Option<crate::sip::headers::To> {
        self.is_acked()
            .then(|| crate::sip::headers::To::new(String::from_utf8_lossy(&self.bytes)))
    }

    pub fn is_ack(&self) -> bool {
        self.kind == FinishedKind::Ack
    }

    /// The wire bytes, as they were when the transaction finished.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message parsed back, for the paths that send it again; an
    /// `Acked` entry keeps none.
    pub fn message(&self) -> Result<SipMessage> {
        if self.is_acked() {
            return Err(crate::Error::Error("an ACKed INVITE keeps no response".into()));
        }
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
