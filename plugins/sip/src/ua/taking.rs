//! A MESSAGE outside any dialog is answered 200 only once the relay to the
//! user has it safely (sent on, or waiting on disk): the SIP plugin offers
//! it with `sip.take_message` and answers what the relay says. A relay
//! that refuses (its spool is full or cannot be written) or does not
//! answer in time makes a `503 Service Unavailable` with `Retry-After`, so
//! the sender tries again later instead of taking a 200 for a message that
//! went nowhere (RFC 3428 §7: a 2xx says the message was accepted).

use std::time::Duration;

use tandem_sdk::commands::sip::TakeMessage;
use tandem_sdk::events::sip::Message;
use tandem_sdk::{CommandType, ErrorKind, Host, Payload};

/// How long the relay may take. Below the sender's Timer F (32 s), and
/// long enough for a spool write on a slow disk; a UDP sender retransmits
/// meanwhile and the transaction absorbs the copies.
const RELAY_TIMEOUT: Duration = Duration::from_secs(8);

/// What the `Retry-After` of a refused MESSAGE says, in seconds: a spool
/// that is full empties when one of the user's clients comes online.
pub const RETRY_AFTER_SECS: u32 = 30;

/// What became of a MESSAGE offered to the relay.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// The relay has it, or does not relay its type: answer 200.
    Kept,
    /// Nothing relays SIP messages (no rule provides the command): answer
    /// 200, as an event for whoever listens.
    NoRelay,
    /// The relay could not keep it, and why: answer 503 + Retry-After.
    Refused(String),
    /// The user switched the relay off (`rules off`): they do not take SIP
    /// messages now, so the sender learns it was not delivered (480),
    /// rather than being told to try again (503) for as long as it is off.
    SwitchedOff(String),
}

/// Offers `message` to the relay and waits for its answer.
pub async fn offer(host: &Host, message: &Message) -> Taken {
    let Ok(args) = Payload::encode(&TakeMessage(message.clone())) else {
        return Taken::NoRelay;
    };
    match host.call_raw(TakeMessage::NAME, args, RELAY_TIMEOUT).await {
        Ok(_) => Taken::Kept,
        Err(e) if e.kind == ErrorKind::UnknownCommand => Taken::NoRelay,
        Err(e) if e.kind == ErrorKind::SwitchedOff => Taken::SwitchedOff(e.message),
        Err(e) => Taken::Refused(e.message),
    }
}
