//! Events of SIP sessions that are not calls (see
//! [`crate::commands::sip_session`]).

use serde::{Deserialize, Serialize};

use crate::events::sip::EndReason;
use crate::EventType;

/// The peer answered our [`crate::commands::sip_session::Offer`] with 200
/// OK (the ACK is sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answered {
    pub session: String,
    /// The answer's SDP, byte for byte.
    pub sdp: String,
}
impl EventType for Answered {
    const TOPIC: &'static str = "sip.session.answered";
}

/// A session ended, either way and at any stage: refused (`rejected`,
/// with the peer's `code`), given up while unanswered (`cancelled`,
/// `missed`), hung up (`hangup` by us, `remote_hangup` by the peer) or
/// failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ended {
    pub session: String,
    pub reason: EndReason,
    /// The SIP status code when it was refused or failed.
    pub code: Option<u16>,
}
impl EventType for Ended {
    const TOPIC: &'static str = "sip.session.ended";
}
