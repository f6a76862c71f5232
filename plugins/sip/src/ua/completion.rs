//! Seeing an INVITE refused outside a dialog through to its transaction's
//! end (docs/decisions/0045-refused-invite-transactions.md).
//!
//! rsipstack's server transaction keeps RFC 3261 §17.2.1's timers (G: the
//! final response again over UDP at T1, 2·T1... up to T2; H: give up on
//! the ACK after 64·T1; I: absorb retransmitted ACKs for T4) as events in
//! the transaction's own queue, which only [`Transaction::receive`] reads.
//! A transaction answered and then dropped sends its final response once,
//! never again, and never hears its ACK: a 488 lost on the way leaves the
//! caller retrying until its own Timer B. A call's dialog reads the queue
//! for the INVITEs that rang; this module does it for those refused at
//! once (403, 486, 488, 400, and RFC 3261 §8.2's 415, 416, 420).

use std::sync::atomic::{AtomicU64, Ordering};

use rsipstack::sip::{Method, SipMessage, StatusCodeKind};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::TransactionType;
use tandem_sdk::tokio;
use tandem_sdk::util::worth_logging;
use tokio_util::sync::CancellationToken;

/// How a refused INVITE's transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The caller's ACK came (then Timer I absorbed its retransmissions).
    Acknowledged,
    /// No ACK came before Timer H: the caller is gone, or every copy of
    /// the final response was lost.
    NoAck,
    /// The plugin stopped first.
    Stopped,
}

/// The refused INVITEs whose transactions are still open, and how many
/// ended without an ACK; for the log, since a caller that never ACKs is
/// worth knowing about but can come as a flood.
#[derive(Debug, Default)]
pub struct Completions {
    open: AtomicU64,
    unacknowledged: AtomicU64,
}

impl Completions {
    /// Whether `tx` is a server INVITE transaction that a final non-2xx
    /// response left waiting for its ACK (RFC 3261's "Completed" state):
    /// the only kind that needs driving after the answer.
    pub fn needs_driving(tx: &Transaction) -> bool {
        tx.transaction_type == TransactionType::ServerInvite
            && tx.last_response.as_ref().is_some_and(|r| {
                !matches!(
                    r.status_code.kind(),
                    StatusCodeKind::Provisional | StatusCodeKind::Successful
                )
            })
    }

    /// Reads `tx`'s queue until the transaction ends, so its timers act:
    /// Timer G retransmits the final response over UDP, the ACK or Timer H
    /// ends it. Returns how it ended.
    pub async fn drive(&self, mut tx: Transaction, cancel: &CancellationToken) -> Ending {
        self.open.fetch_add(1, Ordering::Relaxed);
        let mut acknowledged = false;
        let ending = loop {
            tokio::select! {
                message = tx.receive() => match message {
                    Some(SipMessage::Request(r)) if r.method == Method::Ack => acknowledged = true,
                    Some(_) => {}
                    None if acknowledged => break Ending::Acknowledged,
                    None => break Ending::NoAck,
                },
                () = cancel.cancelled() => break Ending::Stopped,
            }
        };
        let open = self.open.fetch_sub(1, Ordering::Relaxed) - 1;
        let status = tx.last_response.as_ref().map(|r| r.status_code.clone());
        let status = status.map_or_else(String::new, |s| s.to_string());
        let call = call_id(&tx.original);
        if ending == Ending::NoAck {
            let n = self.unacknowledged.fetch_add(1, Ordering::Relaxed) + 1;
            if worth_logging(n) {
                log::info!(
                    "no ACK for the {status} refusing INVITE {call}: its transaction ended at \
                     Timer H ({n} so far; {open} refused INVITEs still wait for theirs)"
                );
            }
        } else {
            log::debug!("the {status} refusing INVITE {call}: {ending:?}; {open} still open");
        }
        ending
    }
}

/// The request's Call-ID, for the log.
fn call_id(request: &rsipstack::sip::Request) -> String {
    use rsipstack::sip::prelude::HeadersExt;
    request
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}
