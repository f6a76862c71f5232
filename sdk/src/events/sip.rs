//! Events published by the SIP plugin.

use serde::{Deserialize, Serialize};

use crate::EventType;

/// Which side started the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Incoming,
    Outgoing,
}

/// An INVITE arrived and is ringing here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallIncoming {
    /// Tandem's call id (use it with `sip.answer`, `sip.hangup`, ...).
    pub call: String,
    /// The caller's SIP URI.
    pub peer: String,
    /// The caller's display name, if any.
    pub display_name: Option<String>,
}
impl EventType for CallIncoming {
    const TOPIC: &'static str = "sip.call.incoming";
}

/// The far end is ringing (outgoing call).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallRinging {
    pub call: String,
    pub peer: String,
}
impl EventType for CallRinging {
    const TOPIC: &'static str = "sip.call.ringing";
}

/// The call is up (200 OK/ACK), in either direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallAnswered {
    pub call: String,
    pub peer: String,
    pub direction: Direction,
}
impl EventType for CallAnswered {
    const TOPIC: &'static str = "sip.call.answered";
}

/// The call is over (or never started: rejected, cancelled, missed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallEnded {
    pub call: String,
    pub peer: String,
    /// `hangup`, `remote_hangup`, `rejected`, `cancelled`, `missed`, `failed`.
    pub reason: String,
    /// Seconds the call was up (0 if never answered).
    pub duration: f64,
}
impl EventType for CallEnded {
    const TOPIC: &'static str = "sip.call.ended";
}
