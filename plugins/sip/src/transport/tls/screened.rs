//! TLS connections read through the screen, both ways: the ones peers open
//! to us and the ones rsipstack opens to them.
//!
//! rsipstack's own TLS connection reads its socket itself: a request its
//! parser refuses closes the connection unanswered (no 400, no 501), and
//! its reader adds a Content-Length near 2^64 to the header length
//! unchecked (a panic in a debug build). The TCP door takes the read half
//! of rsipstack's connection and reads it in its place; a `TlsConnection`
//! keeps its halves private and is made only from a rustls stream of a
//! concrete type or by dialling. Its one seam is the TLS *client* connector
//! (`rsipstack::platform::tls`), which every `TlsConnection::connect`
//! consults first: what the connector returns is a [`TlsStream`] that
//! rsipstack reads chunk by chunk. The plugin registers [`Connector`](super::connector::Connector), and
//! every stream it gives rsipstack is a [`ScreenedTls`], which frames what
//! the peer sends with the TCP door's [`Framer`], screens each message
//! ([`screen::screen_message`]), answers a bad request (400/501/505, or
//! 400/513 and close where the framing is lost, RFC 3261 §18.3) itself, and
//! hands rsipstack only whole, well-formed messages.
//!
//! - **Dialled** (REGISTER, INVITE, MESSAGE to a `transport=tls` or `sips:`
//!   target): the connector dials as rsipstack would (the CAs of `settings.rs`,
//!   no client certificate, the SNI name rsipstack chose, the ring
//!   provider), with a deadline on the TCP connect and on the handshake.
//! - **Accepted** (`accept.rs`): after our handshake, the stream is handed
//!   to rsipstack through the same seam, as there is no other way to give
//!   it a stream it did not make: [`Connector::hand_over`](super::connector::Connector::hand_over) keeps it under
//!   a fresh random name, and `TlsConnection::connect` with that name as
//!   its SNI gets it back from the connector instead of a dial. The name is
//!   128 random bits used once, so a request target cannot pick up someone
//!   else's connection by naming it.
//!
//! A peer that sends and does not read is read no further while our
//! answers to it wait (as over TCP), and a write that waits longer than
//! [`WRITE_TIMEOUT`] shuts the socket down. A write that fails is not an
//! error for rsipstack (see [`ScreenedTls::send_all`]): the socket is shut
//! down, so its reader ends and it retires the connection.
//!
//! A CRLF CRLF keep-alive (RFC 5626 §4.4.1) is handed to rsipstack as its
//! own reader would see it: it answers it, and its idle timeout (which
//! hears only what it is handed) counts it, so a peer that keeps its
//! connection open with pings keeps it.
//!
//! rsipstack's stream codec frames again what we hand it, and reads
//! Content-Length only from a line whose name touches the colon: a head
//! written otherwise (`Content-Length : 5`, legal) is handed over with its
//! length rewritten ([`for_rsipstack`]), or the codec would cut the body
//! off (an INVITE without its SDP) and read it as the next message.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::platform::tls::TlsStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::transport::counters::Counters;
use crate::transport::framing::{Frame, Framer};
use crate::transport::screen::{self, Verdict};
use crate::transport::stream::{self as streams, READ_CHUNK, WRITE_TIMEOUT};

/// A keep-alive ping (RFC 5626 §4.4.1), as rsipstack's codec knows it.
const PING: &[u8] = b"\r\n\r\n";

/// A TLS session, either side.
pub trait Session: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Session for T {}

/// One TLS connection as rsipstack reads and writes it: screened reads,
/// bounded writes.
pub struct ScreenedTls {
    reading: tokio::sync::Mutex<Reading>,
    writing: tokio::sync::Mutex<WriteHalf<Box<dyn Session>>>,
    /// A second handle on the socket, to shut it down under a stuck write.
    socket: std::net::TcpStream,
    local: SocketAddr,
    pub(super) peer: SocketAddr,
    counters: Arc<Counters>,
}

struct Reading {
    half: ReadHalf<Box<dyn Session>>,
    buf: Vec<u8>,
    framer: Framer,
    /// The framing was lost and the connection closed: nothing more.
    done: bool,
}

/// What to do after one frame.
enum Next {
    /// Hand these bytes (one whole message) to rsipstack.
    Hand(Vec<u8>),
    /// Look at the next frame.
    Go,
    /// The connection is over; why, for the log.
    End(String),
}

impl ScreenedTls {
    /// `tcp` is the socket under `session` (a clone of its handle).
    pub fn new(
        session: Box<dyn Session>,
        tcp: std::net::TcpStream,
        local: SocketAddr,
        peer: SocketAddr,
        counters: Arc<Counters>,
    ) -> ScreenedTls {
        let (half, writer) = tokio::io::split(session);
        ScreenedTls {
            reading: tokio::sync::Mutex::new(Reading {
                half,
                buf: Vec::new(),
                framer: Framer::default(),
                done: false,
            }),
            writing: tokio::sync::Mutex::new(writer),
            socket: tcp,
            local,
            peer,
            counters,
        }
    }

    /// The next whole message for rsipstack; empty at the end of the
    /// connection (rsipstack's "peer closed").
    async fn next_message(&self) -> std::io::Result<Vec<u8>> {
        let mut reading = self.reading.lock().await;
        let reading = &mut *reading;
        if reading.done {
            return Ok(Vec::new());
        }
        loop {
            loop {
                let next = match reading.framer.next(&reading.buf) {
                    Frame::Incomplete => break,
                    Frame::Ping => {
                        // rsipstack answers it; answered here instead, it
                        // would never reach rsipstack's idle timer, which
                        // would close a connection kept open by pings.
                        reading.buf.drain(..4);
                        Next::Hand(PING.to_vec())
                    }
                    Frame::Skip(n) => {
                        reading.buf.drain(..n);
                        Next::Go
                    }
                    Frame::Message(len) => {
                        let message: Vec<u8> = reading.buf.drain(..len).collect();
                        self.judge(message).await
                    }
                    Frame::Lost(lost) => {
                        reading.done = true;
                        let answer = streams::answer_for(&reading.buf, lost);
                        let why = lost.why();
                        if let Some((code, bytes)) = answer {
                            streams::log_lost_answered(&self.counters, "tls", self.peer, code, why);
                            if self.write(&bytes).await.is_ok() {
                                self.close().await;
                                streams::linger(&mut reading.half).await;
                            }
                        } else {
                            streams::log_dropped(&self.counters, "tls", self.peer, why, true);
                        }
                        Next::End(why.to_owned())
                    }
                };
                match next {
                    Next::Hand(message) => return Ok(message),
                    Next::Go => {}
                    Next::End(why) => {
                        log::debug!("TLS connection with {} closed: {why}", self.peer);
                        reading.done = true;
                        self.socket.shutdown(std::net::Shutdown::Both).ok();
                        return Ok(Vec::new());
                    }
                }
            }
            if reading.buf.is_empty() && reading.buf.capacity() > 4 * READ_CHUNK {
                reading.buf = Vec::new();
            }
            // Our answers to what was read leave before more is read (see
            // the module doc).
            if tokio::time::timeout(WRITE_TIMEOUT, self.writing.lock())
                .await
                .is_err()
            {
                reading.done = true;
                self.socket.shutdown(std::net::Shutdown::Both).ok();
                return Err(std::io::Error::other(format!(
                    "{} read nothing for {WRITE_TIMEOUT:?}",
                    self.peer
                )));
            }
            reading.buf.reserve(READ_CHUNK);
            let mut chunk = (&mut reading.half).take(READ_CHUNK as u64);
            if chunk.read_buf(&mut reading.buf).await? == 0 {
                reading.done = true;
                return Ok(Vec::new());
            }
        }
    }

    /// One framed message: handed on, answered, or dropped.
    async fn judge(&self, message: Vec<u8>) -> Next {
        match screen::screen_message(&message) {
            Ok(Some(_)) | Err(Verdict::Pass) => Next::Hand(for_rsipstack(message)),
            Ok(None) => Next::Go,
            Err(Verdict::Answer {
                code,
                reason,
                bytes,
            }) => {
                streams::count_answered(&self.counters, "tls", self.peer, code, reason);
                match self.write(&bytes).await {
                    Ok(()) => Next::Go,
                    Err(why) => Next::End(why),
                }
            }
            Err(Verdict::Drop(why)) => {
                // Bytes that are not SIP have nothing more to say.
                let closing = why == screen::NOT_SIP;
                streams::log_dropped(&self.counters, "tls", self.peer, why, closing);
                if closing {
                    Next::End(why.to_owned())
                } else {
                    Next::Go
                }
            }
        }
    }

    /// Writes all of `bytes` within [`WRITE_TIMEOUT`], else shuts the
    /// socket down; `Err(why)` when the connection is over.
    async fn write(&self, bytes: &[u8]) -> Result<(), String> {
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            let mut writer = self.writing.lock().await;
            writer.write_all(bytes).await?;
            writer.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot write: {e}")),
            Err(_) => {
                self.socket.shutdown(std::net::Shutdown::Both).ok();
                Err(format!("{} read nothing for {WRITE_TIMEOUT:?}", self.peer))
            }
        }
    }

    /// close_notify and FIN, or, when a write is stuck, a shutdown under it.
    async fn close(&self) {
        let closed = tokio::time::timeout(WRITE_TIMEOUT, async {
            self.writing.lock().await.shutdown().await
        })
        .await;
        if !matches!(closed, Ok(Ok(()))) {
            self.socket.shutdown(std::net::Shutdown::Both).ok();
        }
    }
}

/// `message` (one whole message, as framed by [`Framer`]) as rsipstack's
/// stream codec will frame it: untouched when the codec reads the same
/// length, else with its Content-Length line (and any folded
/// continuation) replaced by one in the codec's form.
fn for_rsipstack(message: Vec<u8>) -> Vec<u8> {
    let Some(end) = message.windows(4).position(|w| w == b"\r\n\r\n") else {
        return message;
    };
    let body = end + 4;
    let length = message.len() - body;
    if codec_length(&message[..end]) == Some(length) {
        return message;
    }
    let mut rewritten = Vec::with_capacity(message.len() + 24);
    let mut in_length = false;
    for (n, line) in message[..end].split(|&b| b == b'\n').enumerate() {
        let folded = line.starts_with(b" ") || line.starts_with(b"\t");
        if n > 0 && !folded {
            in_length = is_length_field(line);
        }
        if n == 0 || !in_length {
            rewritten.extend_from_slice(line);
            rewritten.push(b'\n');
        }
    }
    rewritten.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
    rewritten.extend_from_slice(&message[body..]);
    rewritten
}

/// Whether a header line is Content-Length (or its compact `l`), whatever
/// the white space before the colon (RFC 3261 §7.3.1).
fn is_length_field(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = line[..colon].trim_ascii();
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
}

/// The length rsipstack 0.7.14's codec reads from a header block: the
/// first line whose name, up to the colon, is Content-Length or `l`, its
/// value trimmed; 0 when there is none. `None` when that value does not
/// parse (the codec would close the connection).
fn codec_length(head: &[u8]) -> Option<usize> {
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            return std::str::from_utf8(&line[colon + 1..])
                .ok()?
                .trim()
                .parse()
                .ok();
        }
    }
    Some(0)
}

#[async_trait::async_trait]
impl TlsStream for ScreenedTls {
    async fn recv(&self) -> rsipstack::Result<Vec<u8>> {
        self.next_message()
            .await
            .map_err(|e| rsipstack::Error::Error(e.to_string()))
    }

    /// Never an error: rsipstack 0.7.14's adapter for this trait
    /// (`TokioSeamStream`) keeps a failed send's finished future and polls
    /// it again on the connection's next write, which panics ("`async fn`
    /// resumed after completion") under the lock its reader shares; the
    /// serve loop then panics too, and the connection is never retired (nor
    /// its slot under `max_connections` freed). A failed write shuts the
    /// socket down instead, so that rsipstack's reader ends and retires the
    /// connection; a request whose write failed then ends by its timer.
    async fn send_all(&self, data: Vec<u8>) -> rsipstack::Result<()> {
        if let Err(why) = self.write(&data).await {
            log::debug!("TLS connection with {}: {why}", self.peer);
            self.socket.shutdown(std::net::Shutdown::Both).ok();
        }
        Ok(())
    }

    async fn shutdown(&self) -> rsipstack::Result<()> {
        self.close().await;
        Ok(())
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::transport::tls::connector::Connector;
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};

    const OPTIONS: &str = "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bK1\r\n\
        From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n\
        Call-ID: abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    /// A screened stream over plain TCP (the screen does not care what
    /// carries the bytes), and the peer's end.
    pub(crate) async fn pair() -> (ScreenedTls, TcpStream, Arc<Counters>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, from) = listener.accept().await.unwrap();
        let local = ours.local_addr().unwrap();
        let (ours, socket) = streams::second_handle(ours).unwrap();
        let counters = Arc::new(Counters::default());
        let screened = ScreenedTls::new(Box::new(ours), socket, local, from, counters.clone());
        (screened, peer, counters)
    }

    async fn read_some(peer: &mut TcpStream) -> String {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), peer.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn only_whole_good_messages_reach_rsipstack_and_bad_ones_are_answered() {
        let (screened, mut peer, counters) = pair().await;
        let frobnicate = OPTIONS
            .replace("OPTIONS sip:", "FROBNICATE sip:")
            .replace("1 OPTIONS", "1 FROBNICATE");
        // A ping, a bad request, and a good one cut in two.
        let (head, tail) = OPTIONS.split_at(40);
        peer.write_all(format!("\r\n\r\n{frobnicate}{head}").as_bytes())
            .await
            .unwrap();
        // The ping is rsipstack's to answer (and to count as a sign of life).
        let ping = tokio::time::timeout(Duration::from_secs(5), screened.recv()).await;
        assert_eq!(ping.expect("the ping").unwrap(), PING);
        let reading = tokio::spawn(async move {
            let got = screened.recv().await.unwrap();
            (screened, got)
        });
        let answers = read_some(&mut peer).await;
        assert!(
            answers.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{answers:?}"
        );
        peer.write_all(tail.as_bytes()).await.unwrap();
        let (screened, got) = reading.await.unwrap();
        assert_eq!(got, OPTIONS.as_bytes());
        assert_eq!(counters.answered(), 1);
        // The peer closes: the end, as rsipstack expects it.
        drop(peer);
        assert!(screened.recv().await.unwrap().is_empty());
    }

    /// What rsipstack's codec makes of `bytes`: the messages' bodies, and
    /// whether bytes are left over.
    fn as_codec_reads(bytes: &[u8]) -> (Vec<Vec<u8>>, bool) {
        use rsipstack::transport::stream::{SipCodec, SipCodecType};
        use tokio_util::codec::Decoder;
        let mut codec = SipCodec::new();
        let mut buf = bytes::BytesMut::from(bytes);
        let mut bodies = Vec::new();
        while let Ok(Some(SipCodecType::Message(message))) = codec.decode(&mut buf) {
            bodies.push(match message {
                rsipstack::sip::SipMessage::Request(request) => request.body,
                rsipstack::sip::SipMessage::Response(response) => response.body,
            });
        }
        (bodies, !buf.is_empty())
    }

    #[test]
    fn a_length_written_with_space_before_the_colon_keeps_its_body() {
        let spaced = OPTIONS.replace("Content-Length: 0", "Content-Length : 5") + "hello";
        // Handed as it came, rsipstack's codec cut the body off.
        let (bodies, left) = as_codec_reads(spaced.as_bytes());
        assert!(bodies == [b"".to_vec()] && left, "{bodies:?}");
        let handed = for_rsipstack(spaced.into_bytes());
        assert_eq!(as_codec_reads(&handed), (vec![b"hello".to_vec()], false));
        // Folded, and compact.
        let folded = OPTIONS.replace("Content-Length: 0", "l\t:\r\n 5") + "hello";
        let handed = for_rsipstack(folded.into_bytes());
        assert_eq!(as_codec_reads(&handed), (vec![b"hello".to_vec()], false));
        let text = String::from_utf8(handed).unwrap();
        assert!(
            text.contains("Max-Forwards: 70\r\nContent-Length: 5\r\n\r\nhello"),
            "{text:?}"
        );
        // What the codec reads right is handed untouched.
        let plain = OPTIONS.replace("Content-Length: 0", "content-length:5") + "hello";
        assert_eq!(for_rsipstack(plain.clone().into_bytes()), plain.as_bytes());
    }

    #[tokio::test]
    async fn a_length_near_2_to_the_64_is_answered_and_ends_the_connection() {
        let (screened, mut peer, _) = pair().await;
        let endless = OPTIONS.replace("Content-Length: 0", "Content-Length: 18446744073709551615");
        peer.write_all(endless.as_bytes()).await.unwrap();
        let got = tokio::spawn(async move { screened.recv().await.unwrap() });
        let answer = read_some(&mut peer).await;
        assert!(
            answer.starts_with("SIP/2.0 513 Message Too Large\r\n"),
            "{answer:?}"
        );
        drop(peer);
        assert!(got.await.unwrap().is_empty(), "nothing for rsipstack");
    }

    #[tokio::test]
    async fn pings_reach_rsipstack_whose_idle_timeout_hears_only_what_it_reads() {
        use rsipstack::transport::{SipConnection, TransportLayer};
        // Answered here, pings never reached rsipstack, whose idle timeout
        // closed a connection its peer kept open with them.
        let (connection, mut peer) = handed_to_rsipstack().await;
        let layer = TransportLayer::new(tokio_util::sync::CancellationToken::new());
        layer.set_stream_idle_timeout(Duration::from_millis(900));
        let retired = connection.cancel_token().unwrap();
        layer.add_connection(SipConnection::Tls(connection));
        for _ in 0..10 {
            peer.write_all(PING).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert!(!retired.is_cancelled(), "closed as idle while pinged");
        let pongs = read_some(&mut peer).await;
        assert!(pongs.starts_with("\r\n"), "{pongs:?}");
        assert!(pongs.bytes().all(|b| b == b'\r' || b == b'\n'));
    }

    #[tokio::test]
    async fn a_failed_write_does_not_break_the_next_one() {
        use rsipstack::transport::stream::StreamConnection;
        // rsipstack's seam adapter polls a failed send's finished future
        // again on the next write: a panic, before send_all stopped failing.
        let (connection, peer) = handed_to_rsipstack().await;
        peer.set_zero_linger().unwrap();
        drop(peer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut results = Vec::new();
        for n in 0..3 {
            let connection = connection.clone();
            let sent = tokio::spawn(async move {
                connection
                    .send_raw(b"OPTIONS")
                    .await
                    .map_err(|e| e.to_string())
            });
            results.push(sent.await.unwrap_or_else(|e| panic!("write {n}: {e}")));
        }
        // The failure shuts the socket down, for rsipstack's reader to see.
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    /// A stream given to rsipstack as the TLS door gives it: through the
    /// connector, registered process-wide as the agent does.
    async fn handed_to_rsipstack() -> (rsipstack::transport::tls::TlsConnection, TcpStream) {
        use rsipstack::sip::transport::Transport;
        use rsipstack::transport::tls::{TlsConfig, TlsConnection};
        use rsipstack::transport::SipAddr;
        let connector = Connector::install(Arc::new(Counters::default()));
        let (screened, peer, _) = pair().await;
        let remote = SipAddr {
            r#type: Some(Transport::Tls),
            addr: screened.peer.into(),
        };
        let naming = TlsConfig {
            sni_hostname: Some(connector.hand_over(screened)),
            ..TlsConfig::default()
        };
        let token = tokio_util::sync::CancellationToken::new();
        let connection = TlsConnection::connect(&remote, Some(&naming), None, Some(token))
            .await
            .unwrap();
        (connection, peer)
    }
}
