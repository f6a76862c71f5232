//! Events published by the SIP plugin.

use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;
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
    /// Where the INVITE came from, `ip:port` (`[v6]:port`): unlike the
    /// From header, which anyone writes as they like, the sender's own
    /// address (forgeable only over UDP from networks that allow it).
    pub source: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
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
    pub reason: EndReason,
    /// Seconds the call was up (0 if never answered).
    pub duration: f64,
    /// The SIP status code when the call failed or was rejected.
    pub code: Option<u16>,
    /// What the media path saw during the call.
    pub media: MediaStats,
}

open_enum! {
    /// Why a call ended (`sip.call.ended`'s `reason`).
    pub enum EndReason {
        /// We hung up (`sip.hangup`).
        Hangup = "hangup",
        /// The peer hung up.
        RemoteHangup = "remote_hangup",
        /// The call was refused (by us or by the peer).
        Rejected = "rejected",
        /// The caller gave up while it rang.
        Cancelled = "cancelled",
        /// Nobody answered an incoming call in time.
        Missed = "missed",
        /// Signalling or the network failed.
        Failed = "failed",
    }
}

/// Per-call RTP statistics (RFC 3550 counters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaStats {
    /// `PCMU` or `PCMA`; empty when no media was set up.
    pub codec: String,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1), milliseconds.
    pub jitter_ms: f64,
    /// RFC 4733 digits received, in order.
    pub dtmf_received: String,
}

/// The call was put on hold or taken off hold (re-INVITE, either side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallHeld {
    pub call: String,
    pub peer: String,
    pub held: bool,
    /// `local` when we put it on hold, `remote` when the peer did.
    pub by: String,
}
impl EventType for CallHeld {
    const TOPIC: &'static str = "sip.call.held";
}

/// A DTMF digit arrived (RFC 4733 telephone-event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dtmf {
    pub call: String,
    pub digit: String,
}
impl EventType for Dtmf {
    const TOPIC: &'static str = "sip.dtmf";
}

/// The registration changed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Registration {
    pub state: RegistrationState,
    /// The registrar URI.
    pub registrar: String,
    /// The last SIP status code, if a response came.
    pub code: Option<u16>,
    /// Why it failed, for a person.
    pub reason: Option<String>,
    /// Seconds the registrar granted.
    pub expires: Option<u32>,
    /// Seconds until the next attempt after a failure.
    pub retry_in: Option<f64>,
}
impl EventType for Registration {
    const TOPIC: &'static str = "sip.registration";
}

open_enum! {
    /// Where a registration stands (`sip.registration`'s `state`).
    pub enum RegistrationState {
        Registering = "registering",
        Registered = "registered",
        Failed = "failed",
        Unregistered = "unregistered",
    }
}

/// A SIP MESSAGE (RFC 3428) arrived. The content type is kept, so other
/// plugins can take what is theirs (`application/im-iscomposing+xml`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    pub from: String,
    pub to: String,
    pub content_type: String,
    pub body: String,
    /// Where the MESSAGE came from, `ip:port` (see [`CallIncoming::source`]).
    pub source: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
}
impl EventType for Message {
    const TOPIC: &'static str = "sip.message";
}
impl EventType for CallEnded {
    const TOPIC: &'static str = "sip.call.ended";
}
