//! The TCP and TLS doors: the plugin's own accept loops, a cap on the
//! connections peers hold open to us, and the screen of `screen.rs` in
//! front of every message.
//!
//! rsipstack's listeners (`TcpListenerConnection::serve_listener` and its
//! TLS twin) accept any number of connections, each with a task and 128 KiB
//! of buffers; its TLS listener waits for a handshake for ever; and its
//! stream reader closes the connection, unanswered, on the first message
//! its parser refuses (an unknown method gets no 501, a malformed request
//! no 400). So the plugin binds and accepts itself:
//!
//! - **The cap** (`max_connections`, TCP and TLS together): a connection
//!   beyond it is closed as soon as it is accepted, counted
//!   (`refused_connections` in `sip.status`) and logged at the 1st, 2nd,
//!   4th... A slot is free again when its connection has ended: for TCP
//!   when our reader returns, for TLS when rsipstack retires the connection
//!   (it cancels the connection's token as its serve loop ends, which is
//!   what [`tls_connection`] waits for).
//! - **TCP** is read here. `TcpConnection::from_stream` makes rsipstack's
//!   connection, which writes (responses, and in-dialog requests through
//!   its flow affinity); its read half, a public field, is taken before
//!   rsipstack's serve loop is ever started (it is never started: it would
//!   read the same socket). [`Framer`] frames each message by its
//!   Content-Length (RFC 3261 §7.5, §18.3), [`screen::screen_message`]
//!   judges it as it judges a datagram, and what passes goes to
//!   `EndpointInner::on_received_message`, where rsipstack's own reader
//!   sends it through its channel. A 400/501/505 goes back on the same
//!   connection, which stays open: its framing is intact. Where the framing
//!   is lost (no Content-Length, a bad one, a message over 65,535 bytes, a
//!   header block that does not end) there is no next message to find: a
//!   request is answered 400 (513 when too large) when it can be, and the
//!   connection is closed. Junk that is not SIP closes it too. A peer
//!   that sends and does not read is read no further while the answers
//!   wait (rsipstack's writes have no deadline, and each waiting one holds
//!   a transaction): after [`WRITE_TIMEOUT`] the connection is closed, and
//!   shut down under any write still stuck on it.
//! - **TLS** is read through the same [`Framer`] and screen, from inside
//!   rsipstack's connection: after the handshake (here, bounded by
//!   [`HANDSHAKE_TIMEOUT`]) the stream is wrapped in a
//!   [`ScreenedTls`](crate::screened_tls::ScreenedTls) and handed to
//!   rsipstack through its TLS connector seam, then served by rsipstack as
//!   if its own listener had accepted it (`TransportLayer::add_connection`),
//!   seeing only whole, well-formed messages. `screened_tls.rs` says why
//!   that way and not as over TCP.
//!
//! A TCP connection read here is not in rsipstack's connection table
//! (`add_connection` would start rsipstack's reader on it): responses and
//! in-dialog requests still use it (the transaction and the dialog keep
//! the connection), but a new request to the peer's exact source address
//! and port opens a connection of its own.
//!
//! **Listening addresses.** rsipstack takes our own address for Via,
//! Record-Route and its defaults from its list of listeners, and starts
//! every listener of that list when the endpoint first runs. The TCP and
//! TLS listeners are put in the list only after that first step
//! ([`start_endpoint`]), so rsipstack knows them and never binds them.
//! That leans on rsipstack 0.7.14 starting its listeners before it first
//! waits (`EndpointInner::serve`, `serve_listens`): the unit test
//! `late_listeners_are_listed_in_order_and_never_bound_by_rsipstack` fails
//! if an upgrade changes it (rsipstack would then try to bind our ports,
//! fail with a warning, and leave them to us).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rsipstack::sip::transport::Transport;
use rsipstack::transaction::endpoint::{Endpoint, EndpointInnerRef};
use rsipstack::transport::stream::StreamConnection;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::tls::{TlsConfig, TlsConnection};
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::screen::{self, Counters, Verdict};
use crate::screened_tls::{Connector, ScreenedTls};

/// The largest message a stream may carry, header block and body:
/// rsipstack's own limit for its stream reader.
pub const MAX_MESSAGE: usize = 65_535;

/// How long a TLS peer has to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The open TCP and TLS connections, against `max_connections` in all and
/// `max_connections_per_source` from one address: without the second, one
/// peer trickling a byte every few minutes on each could hold every place.
#[derive(Debug)]
pub struct Connections {
    open: AtomicUsize,
    max: usize,
    per_source: usize,
    by_source: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// Why a connection got no place.
#[derive(Debug, PartialEq, Eq)]
enum Full {
    All(usize),
    Source(usize),
}

impl Connections {
    pub fn new(max: usize, per_source: usize) -> Arc<Connections> {
        Arc::new(Connections {
            open: AtomicUsize::new(0),
            max,
            per_source,
            by_source: Default::default(),
        })
    }

    /// A slot for one more connection from `source`, unless `max` are open
    /// or `per_source` from that address.
    fn take(self: &Arc<Self>, source: IpAddr) -> Result<Slot, Full> {
        let source = source.to_canonical();
        let mut by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let from_source = by_source.entry(source).or_insert(0);
        if *from_source >= self.per_source {
            return Err(Full::Source(self.per_source));
        }
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map_err(|_| Full::All(self.max))?;
        *from_source += 1;
        Ok(Slot(self.clone(), source))
    }
}

/// One open connection's place under the caps, given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Connections>, IpAddr);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        let mut by_source = self.0.by_source.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_source.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                by_source.remove(&self.1);
            }
        }
    }
}

/// What every accept loop and connection shares.
#[derive(Clone)]
pub struct Door {
    pub connections: Arc<Connections>,
    pub counters: Arc<Counters>,
    /// The agent's: accept loops end with it, connections close.
    pub cancel: CancellationToken,
}

/// A listening socket as rsipstack's listeners make theirs (address reuse,
/// a backlog of 128).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// The address we advertise for a socket bound to `bound`: an unspecified
/// one (`0.0.0.0`) becomes the host's first address, as rsipstack does for
/// its UDP socket.
pub fn advertised(bound: SocketAddr, transport: Transport) -> SipAddr {
    SipAddr {
        r#type: Some(transport),
        addr: SipConnection::resolve_bind_address(bound).into(),
    }
}

/// Runs the endpoint: its first step starts the listeners rsipstack has in
/// its list (UDP: rsipstack reads the screened socket); then the list is
/// made `listeners`, in the order given, before anything else runs. See the
/// module's doc.
pub async fn start_endpoint(
    endpoint: Endpoint,
    listeners: Vec<SipConnection>,
    cancel: CancellationToken,
) {
    let inner = endpoint.inner.clone();
    let mut serve = Box::pin(async move { endpoint.serve().await });
    // rsipstack claims its event channel and starts its listeners before
    // it first waits (`EndpointInner::serve`, `serve_listens`).
    let first = std::future::poll_fn(|cx| Poll::Ready(serve.as_mut().poll(cx))).await;
    let layer = &inner.transport_layer;
    for served in layer.get_listen_addrs() {
        layer.del_transport(&served);
    }
    for listener in listeners {
        layer.add_transport(listener);
    }
    if first.is_pending() {
        tandem_sdk::tokio::spawn(async move {
            tokio::select! {
                _ = serve => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}

/// Accepts until cancelled, handing each connection under the cap to
/// `serve` and closing the others at once.
async fn accept_loop(
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
                    if crate::refusals::worth_logging(n) {
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
                if crate::refusals::worth_logging(errors) {
                    log::warn!("cannot accept a {what} connection: {e} ({errors} so far)");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

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

/// The TLS door: accepts, shakes hands, and gives each connection to
/// rsipstack through the screen (see `screened_tls.rs`).
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    connector: Arc<Connector>,
    endpoint: EndpointInnerRef,
    door: Door,
) {
    let shared = door.clone();
    accept_loop(listener, door, "TLS", move |stream, peer, slot| {
        let (acceptor, connector) = (acceptor.clone(), connector.clone());
        let (endpoint, door) = (endpoint.clone(), shared.clone());
        tandem_sdk::tokio::spawn(async move {
            tls_connection(stream, peer, acceptor, connector, endpoint, door).await;
            drop(slot);
        });
    })
    .await;
}

/// One TLS connection, until rsipstack is done with it.
async fn tls_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    connector: Arc<Connector>,
    endpoint: EndpointInnerRef,
    door: Door,
) {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(e) => {
            log::debug!("TLS connection from {peer}: {e}");
            return;
        }
    };
    let (stream, socket) = match second_handle(stream) {
        Ok(handles) => handles,
        Err(e) => {
            log::debug!("TLS connection from {peer}: {e}");
            return;
        }
    };
    let handshake = tokio::select! {
        _ = door.cancel.cancelled() => return,
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => done,
    };
    let session = match handshake {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            log::debug!("TLS handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            log::debug!("no TLS handshake from {peer} within {HANDSHAKE_TIMEOUT:?}: closed");
            return;
        }
    };
    let screened = ScreenedTls::new(Box::new(session), socket, local, peer, door.counters);
    let name = connector.hand_over(screened);
    let token = door.cancel.child_token();
    let remote = SipAddr {
        r#type: Some(Transport::Tls),
        addr: peer.into(),
    };
    let naming = TlsConfig {
        sni_hostname: Some(name.clone()),
        ..TlsConfig::default()
    };
    let connection =
        match TlsConnection::connect(&remote, Some(&naming), None, Some(token.clone())).await {
            Ok(connection) => connection,
            Err(e) => {
                connector.take_back(&name);
                log::warn!("TLS connection from {peer} not handed to rsipstack: {e}");
                return;
            }
        };
    endpoint
        .transport_layer
        .add_connection(SipConnection::Tls(connection));
    // rsipstack cancels the token when the connection is gone (its serve
    // loop ended: closed, idle, or the screen ended it).
    token.cancelled().await;
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

/// The stream, and a second handle on its socket for [`tcp_connection`]
/// to shut it down with: rsipstack's connection keeps its halves to
/// itself.
pub fn second_handle(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let stream = stream.into_std()?;
    let socket = stream.try_clone()?;
    Ok((TcpStream::from_std(stream)?, socket))
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
    if crate::refusals::worth_logging(n) {
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
    if crate::refusals::worth_logging(n) {
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

/// What the bytes at the head of a stream hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough yet to say.
    Incomplete,
    /// A CRLF CRLF keep-alive (RFC 5626 §4.4.1), 4 bytes: answered CRLF.
    Ping,
    /// This many bytes of CRLF before a start line (RFC 3261 §7.5), or a
    /// keep-alive's pong: skipped.
    Skip(usize),
    /// One whole message of this many bytes, header block and body.
    Message(usize),
    /// No message can be framed: the connection must close.
    Lost(Lost),
}

/// Why the framing is lost. A header block's length comes along when there
/// is one: an answer copies from it.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Lost {
    /// No end of the header block within [`MAX_MESSAGE`] bytes.
    Endless,
    /// A header line is not UTF-8, so Content-Length cannot be told.
    NotText,
    /// No Content-Length, which every message on a stream carries (RFC
    /// 3261 §18.3, §20.14).
    NoLength(usize),
    /// Content-Length is not one decimal number, or is there twice.
    BadLength(usize),
    /// The message would be over [`MAX_MESSAGE`] bytes.
    TooLarge(usize),
}

impl Lost {
    pub fn why(self) -> &'static str {
        match self {
            Lost::Endless => "no end of the header block within 65,535 bytes",
            Lost::NotText => "a header line that is not UTF-8",
            Lost::NoLength(_) => "no Content-Length on a stream",
            Lost::BadLength(_) => "a bad Content-Length",
            Lost::TooLarge(_) => "a message over 65,535 bytes",
        }
    }
}

/// Frames SIP messages in a stream by their Content-Length (RFC 3261 §7.5,
/// §18.3). Each call looks at the head of the bytes read so far; the
/// caller takes away what a [`Frame`] names before the next call. The end
/// of a header block is searched for only in the bytes not searched yet,
/// and the Content-Length read once per message, so a peer sending a byte
/// at a time costs no more than one sending all at once. Never panics,
/// whatever the bytes.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes searched for the end of the header block so far.
    searched: usize,
    /// The whole message's length, once its header block has been read.
    length: Option<usize>,
}

impl Framer {
    pub fn next(&mut self, buf: &[u8]) -> Frame {
        if let Some(length) = self.length {
            if buf.len() < length {
                return Frame::Incomplete;
            }
            *self = Framer::default();
            return Frame::Message(length);
        }
        if buf.starts_with(b"\r\n\r\n") {
            self.searched = 0;
            return Frame::Ping;
        }
        if b"\r\n\r\n".starts_with(buf) {
            return Frame::Incomplete; // perhaps the start of a ping
        }
        if buf.starts_with(b"\r\n") {
            self.searched = 0;
            return Frame::Skip(2);
        }
        let from = self.searched.saturating_sub(3).min(buf.len());
        let Some(end) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") else {
            self.searched = buf.len();
            return if buf.len() > MAX_MESSAGE {
                Frame::Lost(Lost::Endless)
            } else {
                Frame::Incomplete
            };
        };
        let head = from + end + 4;
        let length = match content_length(&buf[..head]) {
            Ok(body) => head.saturating_add(body),
            Err(lost) => return Frame::Lost(lost(head)),
        };
        if length > MAX_MESSAGE {
            return Frame::Lost(Lost::TooLarge(head));
        }
        self.length = Some(length);
        self.next(buf)
    }
}

/// The Content-Length of a header block (full or compact name, RFC 3261
/// §7.3.3), saturated when too large to count; else what is wrong.
fn content_length(head: &[u8]) -> Result<usize, fn(usize) -> Lost> {
    let Some(fields) = screen::header_fields(head) else {
        return Err(|_| Lost::NotText);
    };
    let mut lengths = fields
        .iter()
        .filter(|(name, _)| {
            name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")
        })
        .map(|(_, value)| value);
    let value = match (lengths.next(), lengths.next()) {
        (None, _) => return Err(Lost::NoLength),
        (Some(_), Some(_)) => return Err(Lost::BadLength),
        (Some(value), None) => value,
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Lost::BadLength);
    }
    Ok(value.parse().unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK1\r\n\
        From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n\
        Call-ID: abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n";

    fn with_length(length: &str, body: &str) -> Vec<u8> {
        format!("{OPTIONS}{length}\r\n\r\n{body}").into_bytes()
    }

    /// Every frame of `stream`, fed `chunk` bytes at a time, as the reader
    /// does; the bytes left over at the end.
    fn frames(stream: &[u8], chunk: usize) -> (Vec<Frame>, Vec<u8>) {
        let mut framer = Framer::default();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        for piece in stream.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let frame = framer.next(&buf);
                match &frame {
                    Frame::Incomplete => break,
                    Frame::Ping => drop(buf.drain(..4)),
                    Frame::Skip(n) | Frame::Message(n) => drop(buf.drain(..*n)),
                    Frame::Lost(_) => {
                        out.push(frame);
                        return (out, buf);
                    }
                }
                out.push(frame);
            }
        }
        (out, buf)
    }

    #[test]
    fn messages_are_framed_by_content_length_however_they_arrive() {
        let first = with_length("Content-Length: 5", "hello");
        let second = with_length("l: 0", "");
        let mut stream = b"\r\n\r\n\r\n".to_vec(); // a ping, then a stray CRLF
        stream.extend_from_slice(&first);
        stream.extend_from_slice(&second);
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            let (frames, left) = frames(&stream, chunk);
            assert_eq!(
                frames,
                [
                    Frame::Ping,
                    Frame::Skip(2),
                    Frame::Message(first.len()),
                    Frame::Message(second.len())
                ],
                "chunks of {chunk}"
            );
            assert!(left.is_empty(), "chunks of {chunk}");
        }
    }

    #[test]
    fn a_message_waits_for_its_whole_body() {
        let message = with_length("Content-Length: 10", "0123456789");
        let mut framer = Framer::default();
        assert_eq!(
            framer.next(&message[..message.len() - 1]),
            Frame::Incomplete
        );
        assert_eq!(framer.next(&message), Frame::Message(message.len()));
        assert_eq!(framer.next(b""), Frame::Incomplete);
    }

    #[test]
    fn a_missing_or_bad_content_length_loses_the_framing() {
        let head = |m: &[u8]| m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let missing = format!("{OPTIONS}\r\n").into_bytes();
        assert_eq!(
            Framer::default().next(&missing),
            Frame::Lost(Lost::NoLength(missing.len()))
        );
        for bad in [
            "Content-Length: lots",
            "Content-Length: -1",
            "Content-Length: +5",
            "Content-Length: 1 2",
            "Content-Length:",
            "Content-Length: 0\r\nl: 0",
        ] {
            let message = with_length(bad, "");
            assert_eq!(
                Framer::default().next(&message),
                Frame::Lost(Lost::BadLength(head(&message))),
                "{bad}"
            );
        }
        let mut not_text = OPTIONS.as_bytes().to_vec();
        not_text.extend_from_slice(b"X-Junk: \xff\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            Framer::default().next(&not_text),
            Frame::Lost(Lost::NotText)
        );
    }

    #[test]
    fn too_large_is_lost_without_overflow() {
        let head = |m: &[u8]| m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for length in [
            "Content-Length: 65536",
            // rsipstack 0.7.14's own reader overflows on this one.
            "Content-Length: 18446744073709551615",
            "Content-Length: 99999999999999999999999999",
        ] {
            let message = with_length(length, "");
            assert_eq!(
                Framer::default().next(&message),
                Frame::Lost(Lost::TooLarge(head(&message))),
                "{length}"
            );
        }
        let endless = vec![b'A'; MAX_MESSAGE + 1];
        assert_eq!(Framer::default().next(&endless), Frame::Lost(Lost::Endless));
        assert_eq!(
            Framer::default().next(&endless[..MAX_MESSAGE]),
            Frame::Incomplete
        );
    }

    #[test]
    fn any_bytes_in_any_chunks_end_in_frames_never_a_panic() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let alphabet = b"\r\n:l Content-Length0123456789ABC";
        let good = with_length("Content-Length: 3", "abc");
        for _ in 0..2000 {
            let mut stream: Vec<u8> = (0..rng.random_range(0..400))
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let at = rng.random_range(0..=stream.len());
            stream.splice(at..at, good.iter().copied());
            let (frames, left) = frames(&stream, rng.random_range(1..50));
            let framed: usize = frames
                .iter()
                .map(|f| match f {
                    Frame::Ping => 4,
                    Frame::Skip(n) | Frame::Message(n) => *n,
                    _ => 0,
                })
                .sum();
            if !matches!(frames.last(), Some(Frame::Lost(_))) {
                assert_eq!(framed + left.len(), stream.len());
            }
        }
    }

    /// rsipstack starts the listeners in its list in its first step; the
    /// TCP one listed after that step is known (for Via) but never bound:
    /// were it bound, rsipstack's own accept loop would serve it, uncapped.
    #[tokio::test]
    async fn late_listeners_are_listed_in_order_and_never_bound_by_rsipstack() {
        use rsipstack::transport::tcp_listener::TcpListenerConnection;
        use rsipstack::transport::udp::UdpConnection;
        use rsipstack::transport::TransportLayer;
        let cancel = CancellationToken::new();
        let layer = TransportLayer::new(cancel.clone());
        let udp = UdpConnection::create_connection(
            "127.0.0.1:0".parse().unwrap(),
            None,
            Some(cancel.child_token()),
        )
        .await
        .unwrap();
        let udp: SipConnection = udp.into();
        layer.add_transport(udp.clone());
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let tcp = TcpListenerConnection::new(free, None).await.unwrap();
        let endpoint = rsipstack::EndpointBuilder::new()
            .with_transport_layer(layer)
            .with_cancel_token(cancel.clone())
            .build();
        let inner = endpoint.inner.clone();
        start_endpoint(endpoint, vec![tcp.into(), udp.clone()], cancel.clone()).await;
        let listed = inner.transport_layer.get_listen_addrs();
        let types: Vec<_> = listed.iter().map(|a| a.r#type).collect();
        assert_eq!(types, [Some(Transport::Tcp), Some(Transport::Udp)]);
        assert_eq!(&listed[1], udp.get_addr());
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::net::TcpListener::bind(free).expect("rsipstack bound the late TCP listener");
        cancel.cancel();
    }

    #[test]
    fn the_cap_gives_slots_back() {
        let connections = Connections::new(2, 2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let one = connections.take(ip).unwrap();
        let two = connections.take(ip).unwrap();
        assert_eq!(connections.take(ip).unwrap_err(), Full::Source(2));
        assert_eq!(connections.open.load(Ordering::Acquire), 2);
        drop(one);
        let three = connections.take(ip).unwrap();
        drop((two, three));
        assert_eq!(connections.open.load(Ordering::Acquire), 0);
        assert!(connections.by_source.lock().unwrap().is_empty());
    }

    #[test]
    fn one_source_cannot_take_every_place() {
        let connections = Connections::new(3, 2);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        );
        let _a1 = connections.take(a).unwrap();
        // The same address written as IPv4-mapped IPv6 is the same source.
        let _a2 = connections.take(b).unwrap();
        assert_eq!(connections.take(a).unwrap_err(), Full::Source(2));
        let _c1 = connections.take(c).unwrap();
        assert_eq!(connections.take(c).unwrap_err(), Full::All(3));
        // A refusal for the total leaves the source's count as it was.
        drop(_a1);
        let _c2 = connections.take(c).unwrap();
        assert_eq!(connections.by_source.lock().unwrap()[&c], 2);
    }
}
