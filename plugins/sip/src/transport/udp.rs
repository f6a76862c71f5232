//! The UDP door: the socket handed to rsipstack, which screens every
//! datagram (`screen.rs`) before the stack parses it and reads the ICMP
//! errors the kernel keeps for it (`icmp.rs`).
//!
//! With a dual-stack `listen` (decision 0075) the door holds one socket per
//! family and rsipstack sees one: rsipstack sends every UDP request from
//! its first UDP listener whatever the destination, so a second listener
//! would never carry an IPv6 request. Here a datagram leaves by the socket
//! of its destination's family, and both are read (whichever is ready:
//! tokio's `select!` picks at random, so a flood on one family does not
//! keep the other unread).

use std::net::SocketAddr;
use std::sync::Arc;

use tandem_sdk::tokio::sync::mpsc;

use super::counters::Counters;
use super::icmp::{self, Unreachable};
use super::lenient;
use super::screen::{screen, Verdict};
use tandem_sdk::util::worth_logging;

/// The socket handed to rsipstack: it screens before the stack parses.
/// rsipstack's address whitelist is checked after `recv_from` returns, so a
/// whitelist, if Tandem ever sets one, must be checked here too: the screen
/// answers before rsipstack sees the datagram.
pub struct ScreenedUdp {
    /// One socket per family we listen on, the first the default.
    sockets: Vec<tokio::net::UdpSocket>,
    /// Which of them is IPv6, read once (not a system call per datagram).
    v6: Vec<bool>,
    /// Where the second socket's datagrams are read (see `receive`).
    scratch: tandem_sdk::tokio::sync::Mutex<Vec<u8>>,
    counters: Arc<Counters>,
    /// ICMP errors about our datagrams, for the user agent (`icmp.rs`).
    unreachable: mpsc::Sender<Unreachable>,
}

impl ScreenedUdp {
    /// Screens `sockets` (already bound: see `listen::bind_families`; at
    /// least one, and one per family).
    pub fn new(
        sockets: Vec<tokio::net::UdpSocket>,
        counters: Arc<Counters>,
        unreachable: mpsc::Sender<Unreachable>,
    ) -> Self {
        let v6: Vec<bool> = sockets
            .iter()
            .map(|s| s.local_addr().is_ok_and(|a| a.is_ipv6()))
            .collect();
        for (socket, v6) in sockets.iter().zip(&v6) {
            if let Err(e) = icmp::enable(socket, *v6) {
                log::info!("calls to a closed UDP port will fail only after 32 s: {e}");
            }
        }
        Self {
            sockets,
            v6,
            scratch: Default::default(),
            counters,
            unreachable,
        }
    }

    /// The socket a datagram to `to` leaves by: the one of its family
    /// (an IPv4-mapped address is IPv6 to the kernel: it goes by the IPv6
    /// socket, as it did when there was one socket), else the first.
    fn toward(&self, to: SocketAddr) -> &tokio::net::UdpSocket {
        if self.sockets.len() == 1 {
            return &self.sockets[0];
        }
        let index = self.v6.iter().position(|v6| *v6 == to.is_ipv6());
        &self.sockets[index.unwrap_or(0)]
    }

    /// The next datagram on any of the sockets, with the index of the one
    /// it came by (its error too: the ICMP queue is per socket). Through
    /// tokio's `recv_from` on each: it alone also wakes on the socket's
    /// error (`Interest::ERROR`), which is how an ICMP report is heard
    /// (`poll_recv_from` waits for data only). The second socket reads
    /// into a buffer of its own, copied over when it wins.
    async fn receive(
        &self,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr, usize), (std::io::Error, usize)> {
        let first = &self.sockets[0];
        let Some(second) = self.sockets.get(1) else {
            return first
                .recv_from(buf)
                .await
                .map(|(len, from)| (len, from, 0))
                .map_err(|e| (e, 0));
        };
        let mut scratch = self.scratch.lock().await;
        scratch.resize(buf.len(), 0);
        tokio::select! {
            received = first.recv_from(buf) => {
                received.map(|(len, from)| (len, from, 0)).map_err(|e| (e, 0))
            }
            received = second.recv_from(&mut scratch[..]) => match received {
                Ok((len, from)) => {
                    buf[..len].copy_from_slice(&scratch[..len]);
                    Ok((len, from, 1))
                }
                Err(e) => Err((e, 1)),
            },
        }
    }

    /// A failed receive: the kernel has an ICMP error for us. Its queue
    /// says which datagram; the agent is told (a full queue drops the
    /// report: the call then ends by Timer B). `false` when the error is
    /// something else, for rsipstack to see.
    fn on_receive_error(&self, socket: usize, error: &std::io::Error) -> bool {
        let reports = icmp::take(&self.sockets[socket]);
        let icmp = matches!(
            error.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
        );
        if reports.is_empty() && !icmp {
            return false;
        }
        for report in reports {
            let _ = self.unreachable.try_send(report);
        }
        true
    }

    fn drop_one(&self, from: SocketAddr, why: &str) {
        let n = self.counters.count_dropped();
        if worth_logging(n) {
            log::info!("dropped a datagram from {from}: {why} ({n} so far, see sip.status)");
        } else {
            log::debug!("dropped a datagram from {from}: {why}");
        }
    }
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for ScreenedUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from, socket) = match self.receive(buf).await {
                Ok(received) => received,
                Err((e, socket)) if self.on_receive_error(socket, &e) => continue,
                Err((e, _)) => return Err(e.into()),
            };
            // A datagram that fills the buffer may have been cut short.
            if len >= buf.len() {
                self.drop_one(from, "too large");
                continue;
            }
            // rsipstack parses `buf` again after us: a rewrite goes there.
            let len = match lenient::rewrite(&buf[..len], Some(from)) {
                Some(rewritten) if rewritten.len() < buf.len() => {
                    buf[..rewritten.len()].copy_from_slice(&rewritten);
                    rewritten.len()
                }
                _ => len,
            };
            match screen(&buf[..len]) {
                Verdict::Pass => return Ok((len, from)),
                Verdict::Drop(why) => self.drop_one(from, why),
                Verdict::Answer {
                    code,
                    reason,
                    bytes,
                } => {
                    self.counters.count_answered();
                    log::debug!("answered a bad request from {from} with {code} {reason}");
                    if let Err(e) = self.sockets[socket].send_to(&bytes, from).await {
                        log::debug!("could not answer {from}: {e}");
                    }
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        // A From tag the pre-pass gave an RFC 2543 peer never goes back.
        match lenient::strip_added_tags(buf) {
            Some(stripped) => {
                self.toward(addr).send_to(&stripped, addr).await?;
                Ok(buf.len())
            }
            None => Ok(self.toward(addr).send_to(buf, addr).await?),
        }
    }

    /// The first socket's: rsipstack names its UDP listener by it (the
    /// Via of a request to the other family is put right on its way out,
    /// `transport/family.rs`).
    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.sockets[0].local_addr()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::platform::net::UdpSocket as _;

    const OPTIONS: &str = "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\n\
        To: <sip:alice@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
        Content-Length: 0\r\n\r\n";

    /// Both families through one door: each datagram is read whichever
    /// socket it came to, and an answer leaves by the socket of its
    /// destination's family.
    #[tokio::test]
    async fn one_door_reads_both_families_and_answers_each_from_its_own() {
        let v4 = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let Ok(v6) = tokio::net::UdpSocket::bind("[::1]:0").await else {
            return; // no IPv6 on this host: nothing to check
        };
        let ours = [v4.local_addr().unwrap(), v6.local_addr().unwrap()];
        let (tx, mut reports) = mpsc::channel(1);
        let door = ScreenedUdp::new(vec![v4, v6], Arc::default(), tx);
        assert_eq!(
            door.local_addr().unwrap(),
            ours[0],
            "the first names the door"
        );
        for (peer, to) in [("127.0.0.1:0", ours[0]), ("[::1]:0", ours[1])] {
            let peer = std::net::UdpSocket::bind(peer).unwrap();
            peer.send_to(OPTIONS.as_bytes(), to).unwrap();
            let mut buf = [0u8; 2048];
            let (len, from) = door.recv_from(&mut buf).await.unwrap();
            assert_eq!((len, from), (OPTIONS.len(), peer.local_addr().unwrap()));
            door.send_to(b"answer", from).await.unwrap();
            let (_, answered_from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!(answered_from, to, "answered by the socket it came to");
        }
        // A datagram to a closed IPv6 port: the ICMP error on the second
        // socket is heard while the door reads, and reported.
        for closed in ["127.0.0.1:0", "[::1]:0"] {
            let closed = std::net::UdpSocket::bind(closed)
                .unwrap()
                .local_addr()
                .unwrap();
            door.send_to(OPTIONS.as_bytes(), closed).await.unwrap();
            let mut buf = [0u8; 2048];
            let report = tokio::select! {
                report = reports.recv() => report.unwrap(),
                _ = door.recv_from(&mut buf) => panic!("nothing should arrive"),
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                    panic!("no ICMP report for {closed}")
                }
            };
            assert_eq!(report.destination, closed);
        }
    }
}
