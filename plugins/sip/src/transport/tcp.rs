//! The TCP door: the plugin's own accept loop and reader.
//!
//! rsipstack's listener (`TcpListenerConnection::serve_listener`) accepts
//! any number of connections, each with a task and 128 KiB of buffers, and
//! its stream reader closes the connection, unanswered, on the first
//! message its parser refuses (an unknown method gets no 501, a malformed
//! request no 400). So the plugin binds, accepts (under the cap of
//! `connections.rs`) and reads itself.
//!
//! Each connection is read here. `TcpConnection::from_stream` makes rsipstack's
//! connection, which writes (responses, and in-dialog requests through
//! its flow affinity); its read half, a public field, is taken before
//! rsipstack's serve loop is ever started (it is never started: it would
//! read the same socket). [`Framer`] frames each message by its
//! Content-Length (RFC 3261 §7.5, §18.3), [`screen::screen_message`]
//! judges it as it judges a datagram, and what passes goes to
//! `EndpointInner::on_received_message`, where rsipstack's own reader
//! sends it through its channel. A 400/501/505 goes back on the same
//! connection, which stays open: its framing is intact. Where the framing
//! is lost (no Content-Length, a bad one, a message over 65,535 bytes, a
//! header block that does not end) there is no next message to find: a
//! request is answered 400 (513 when too large) when it can be, and the
//! connection is closed. Junk that is not SIP closes it too. A peer
//! that sends and does not read is read no further while the answers
//! wait (rsipstack's writes have no deadline, and each waiting one holds
//! a transaction): after [`WRITE_TIMEOUT`] the connection is closed, and
//! shut down under any write still stuck on it.
//!
//! A TCP connection read here is not in rsipstack's connection table
//! (`add_connection` would start rsipstack's reader on it): responses and
//! in-dialog requests still use it (the transaction and the dialog keep
//! the connection), but a new request to the peer's exact source address
//! and port opens a connection of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::transport::Transport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::stream::StreamConnection;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use super::framing::{Frame, Framer, Lost};
use super::screen::{self, Verdict};
use super::stream::{
    accept_loop, answer_for, count_answered, linger, log_dropped, log_lost_answered, second_handle,
    Door, READ_CHUNK, WRITE_TIMEOUT,
};

/// The TCP door: accepts, then reads each connection (see the module doc).
pub async fn serve_tcp(
    listener: TcpListener,
    local: SipAddr,
    endpoint: EndpointInnerRef,
    door: Door,
) {
    let shared = door.clone();
    accept_loop(listener, door, "TCP", move |stream, peer, slot| {
        let (local, endpoint, door) = (local.clone(), endpoint.clone(), shared.clone());
        tandem_sdk::tokio::spawn(async move {
            tcp_connection(stream, peer, local, endpoint, door).await;
            drop(slot);
        });
    })
    .await;
}

/// One TCP connection: read, framed and screened here until it ends, then
/// closed.
async fn tcp_connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: SipAddr,
    endpoint: EndpointInnerRef,
    door: Door,
) {
    let token = door.cancel.child_token();
    let (stream, socket) = match second_handle(stream) {
        Ok(handles) => handles,
        Err(e) => {
            log::debug!("TCP connection from {peer}: {e}");
            return;
        }
    };
    let connection = match TcpConnection::from_stream(stream, local, Some(token.clone())) {
        Ok(connection) => connection,
        Err(e) => {
            log::debug!("TCP connection from {peer}: {e}");
            return;
        }
    };
    let Some(reader) = connection.inner.read_half.lock().await.take() else {
        return;
    };
    let idle = match endpoint.transport_layer.stream_idle_timeout() {
        // rsipstack's "no timeout".
        Duration::ZERO => Duration::from_secs(u32::MAX.into()),
        idle => idle,
    };
    let reading = TcpReader {
        connection: connection.clone(),
        sip: SipConnection::Tcp(connection.clone()),
        peer,
        endpoint,
        counters: door.counters,
        token: token.clone(),
        idle,
    };
    let why = reading.run(reader).await;
    log::debug!("TCP connection from {peer} closed: {why}");
    // Flow affinity must not pick it any more (rsipstack retires its own
    // connections the same way), and the peer hears the FIN now, whoever
    // still holds the write half.
    token.cancel();
    let closed = tokio::time::timeout(WRITE_TIMEOUT, connection.close()).await;
    if !matches!(closed, Ok(Ok(()))) {
        // A write is stuck on a peer that does not read (the FIN waits
        // behind it): shut the socket down under it, so that the write
        // fails and the socket is freed, rather than outlive its slot.
        socket.shutdown(std::net::Shutdown::Both).ok();
    }
}

/// The reading side of one TCP connection.
struct TcpReader {
    connection: TcpConnection,
    sip: SipConnection,
    peer: SocketAddr,
    endpoint: EndpointInnerRef,
    counters: Arc<Counters>,
    token: CancellationToken,
    idle: Duration,
}

impl TcpReader {
    /// Reads until the connection ends; why it did, for the debug log.
    async fn run(&self, mut reader: impl AsyncRead + Unpin) -> String {
        let mut buf: Vec<u8> = Vec::new();
        let mut framer = Framer::default();
        loop {
            loop {
                match framer.next(&buf) {
                    Frame::Incomplete => break,
                    Frame::Ping => {
                        buf.drain(..4);
                        if let Err(why) = self.write(b"\r\n").await {
                            return why;
                        }
                    }
                    Frame::Skip(n) => {
                        buf.drain(..n);
                    }
                    Frame::Message(len) => {
                        let closing = self.deliver(&buf[..len]).await;
                        buf.drain(..len);
                        if let Some(why) = closing {
                            return why;
                        }
                    }
                    Frame::Lost(lost) => return self.lost(&buf, lost, &mut reader).await,
                }
            }
            // An idle connection keeps no large buffer.
            if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
                buf = Vec::new();
            }
            // The answers to what was read leave before more is read.
            // rsipstack's writes wait for ever, each holding its
            // transaction: a peer that sends and never reads would
            // otherwise pile up a transaction for every request, without
            // bound (all writes go through the one write lock, so it is
            // free once they are done).
            let written = tokio::select! {
                _ = self.token.cancelled() => return "closed by Tandem".into(),
                lock = tokio::time::timeout(
                    WRITE_TIMEOUT,
                    self.connection.inner.write_half.lock(),
                ) => lock.is_ok(),
            };
            if !written {
                return format!("the peer read nothing for {WRITE_TIMEOUT:?}");
            }
            // A chunk at most, so that little is read between two checks.
            buf.reserve(READ_CHUNK);
            let mut chunk = (&mut reader).take(READ_CHUNK as u64);
            let read = tokio::select! {
                _ = self.token.cancelled() => return "closed by Tandem".into(),
                read = tokio::time::timeout(self.idle, chunk.read_buf(&mut buf)) => read,
            };
            match read {
                Err(_) => return format!("nothing from the peer for {:?}", self.idle),
                Ok(Ok(0)) => return "closed by the peer".into(),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return e.to_string(),
            }
        }
    }

    /// One framed message: answered, dropped or handed to rsipstack.
    /// `Some(why)` when the connection must close.
    async fn deliver(&self, bytes: &[u8]) -> Option<String> {
        match screen::screen_message(bytes) {
            Ok(None) => None,
            Ok(Some(message)) => {
                let message =
                    match SipConnection::update_msg_received(message, self.peer, Transport::Tcp) {
                        Ok(message) => message,
                        Err(e) => {
                            log::debug!("a message from tcp {}: {e}", self.peer);
                            return None;
                        }
                    };
                let from = self.connection.inner.remote_addr.clone();
                // rsipstack answers a retransmission (or a CANCEL) here, on
                // this connection, with a write that has no deadline.
                let handed = self
                    .endpoint
                    .on_received_message(message, self.sip.clone(), &from);
                match tokio::time::timeout(WRITE_TIMEOUT, handed).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => {
                        log::debug!("rsipstack refused a message from tcp {}: {e}", self.peer);
                        None
                    }
                    Err(_) => Some(format!("the peer read nothing for {WRITE_TIMEOUT:?}")),
                }
            }
            Err(Verdict::Answer {
                code,
                reason,
                bytes,
            }) => {
                count_answered(&self.counters, "tcp", self.peer, code, reason);
                self.write(&bytes).await.err()
            }
            Err(Verdict::Drop(why)) => {
                // Bytes that are not SIP have nothing more to say.
                let closing = why == screen::NOT_SIP;
                self.dropped(why, closing);
                closing.then(|| why.to_owned())
            }
            Err(Verdict::Pass) => None,
        }
    }

    /// The framing is lost: answer the request when it can be answered,
    /// then close.
    async fn lost(&self, buf: &[u8], lost: Lost, reader: &mut (impl AsyncRead + Unpin)) -> String {
        let why = lost.why();
        match answer_for(buf, lost) {
            Some((code, bytes)) => {
                log_lost_answered(&self.counters, "tcp", self.peer, code, why);
                if self.write(&bytes).await.is_ok() {
                    // FIN after the answer; what the peer still sends is
                    // read and thrown away for a moment, so that no reset
                    // overtakes the answer.
                    tokio::time::timeout(WRITE_TIMEOUT, self.connection.close())
                        .await
                        .ok();
                    linger(reader).await;
                }
            }
            None => log_dropped(&self.counters, "tcp", self.peer, why, true),
        }
        why.to_owned()
    }

    /// Counts and logs a drop.
    fn dropped(&self, why: &str, closing: bool) {
        log_dropped(&self.counters, "tcp", self.peer, why, closing);
    }

    /// Writes `bytes`, bounded in time; `Err(why)` when the connection must
    /// close.
    async fn write(&self, bytes: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.connection.send_raw(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot write: {e}")),
            Err(_) => Err(format!("the peer read nothing for {WRITE_TIMEOUT:?}")),
        }
    }
}
