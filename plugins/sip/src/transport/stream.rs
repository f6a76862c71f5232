//! What the TCP and TLS doors share: the accept loop under the cap, the
//! deadlines on a peer that does not read, and the answers and log lines
//! for a message the screen or the framing refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::connections::{Connections, Full, Slot};
use super::counters::Counters;
use super::framing::{Lost, MAX_MESSAGE};
use super::screen::{self, Verdict};
use tandem_sdk::util::worth_logging;

/// How long writing one answer, closing, or the answers to what was read
/// (before reading more) may wait for a peer that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How much is read at a time; what an idle connection's buffer shrinks
/// back to.
pub const READ_CHUNK: usize = 4096;

/// After an answer, before closing, what the peer still sends is read and
/// thrown away for this long (or this much), so that closing with unread
/// bytes (a TCP reset) does not destroy the answer on its way.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 * MAX_MESSAGE;

/// Out of file descriptors, `accept` fails at once, again and again: the
/// loop waits this long before the next try.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What every accept loop and connection shares.
#[derive(Clone)]
pub struct Door {
    pub connections: Arc<Connections>,
    pub counters: Arc<Counters>,
    /// The agent's: accept loops end with it, connections close.
    pub cancel: CancellationToken,
}

/// Accepts until cancelled, handing each connection under the cap to
/// `serve` and closing the others at once.
pub async fn accept_loop(
    listener: TcpListener,
    door: Door,
    what: &'static str,
    mut serve: impl FnMut(TcpStream, SocketAddr, Slot),
) {
    let mut errors = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = door.cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => match door.connections.take(peer.ip()) {
                Ok(slot) => serve(stream, peer, slot),
                Err(full) => {
                    drop(stream);
                    let n = door.counters.count_refused();
                    let why = match full {
                        Full::All(max) => format!("{max} connections are open (max_connections"),
                        Full::Source(max) => format!(
                            "{max} connections from that address are open \
                             (max_connections_per_source"
                        ),
                    };
                    if worth_logging(n) {
                        log::warn!(
                            "closed a {what} connection from {peer} at once: {why}; \
                             {n} refused so far, see sip.status)"
                        );
                    } else {
                        log::debug!("closed a {what} connection from {peer} at once: {why})");
                    }
                }
            },
            Err(e) => {
                errors += 1;
                if worth_logging(errors) {
                    log::warn!("cannot accept a {what} connection: {e} ({errors} so far)");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// The stream, and a second handle on its socket for a door to shut it
/// down with: rsipstack's connection keeps its halves to
/// itself.
pub fn second_handle(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let stream = stream.into_std()?;
    let socket = stream.try_clone()?;
    Ok((TcpStream::from_std(stream)?, socket))
}

/// The answer to a request whose framing is lost, when one can be sent:
/// its code and bytes. `buf` starts with the request.
pub fn answer_for(buf: &[u8], lost: Lost) -> Option<(u16, Vec<u8>)> {
    let (head, code, reason) = match lost {
        Lost::NoLength(head) => (head, 400, "Missing Content-Length header field"),
        Lost::BadLength(head) => (head, 400, "Bad Content-Length header field"),
        Lost::TooLarge(head) => (head, 513, "Message Too Large"),
        Lost::Endless | Lost::NotText => return None,
    };
    match screen::answer(&buf[..head], code, reason) {
        Verdict::Answer { code, bytes, .. } => Some((code, bytes)),
        _ => None,
    }
}

/// Counts an answer to a bad request on a connection that stays open
/// (logged at debug only: `answered_malformed` in `sip.status` counts them).
pub fn count_answered(
    counters: &Counters,
    transport: &str,
    peer: SocketAddr,
    code: u16,
    reason: &str,
) {
    counters.count_answered();
    log::debug!("answered a bad request from {transport} {peer} with {code} {reason}");
}

/// Counts and logs (the 1st, 2nd, 4th... at info) an answer after which
/// the connection closes. `transport` is "tcp" or "tls".
pub fn log_lost_answered(
    counters: &Counters,
    transport: &str,
    peer: SocketAddr,
    code: u16,
    why: &str,
) {
    // Answers count with the datagrams'.
    let n = counters.count_answered();
    if worth_logging(n) {
        log::info!(
            "answered a request from {transport} {peer} with {code} and closed the \
             connection: {why} ({n} bad requests answered so far, see sip.status)"
        );
    } else {
        log::debug!("answered {transport} {peer} with {code} and closed the connection: {why}");
    }
}

/// Counts and logs (the 1st, 2nd, 4th... at info) a stream message dropped
/// unanswered.
pub fn log_dropped(
    counters: &Counters,
    transport: &str,
    peer: SocketAddr,
    why: &str,
    closing: bool,
) {
    let n = counters.count_dropped_tcp();
    let closed = if closing {
        "; closed the connection"
    } else {
        ""
    };
    let transport = transport.to_uppercase();
    if worth_logging(n) {
        log::info!(
            "dropped a {transport} message from {peer}: {why}{closed} ({n} so far, see sip.status)"
        );
    } else {
        log::debug!("dropped a {transport} message from {peer}: {why}{closed}");
    }
}

/// Reads and throws away what comes, for [`LINGER`] or [`LINGER_BYTES`]
/// at most, or until the peer closes.
pub async fn linger(reader: &mut (impl AsyncRead + Unpin)) {
    let mut left = LINGER_BYTES;
    let mut sink = vec![0u8; READ_CHUNK];
    let drain = async {
        while left > 0 {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    tokio::time::timeout(LINGER, drain).await.ok();
}
