//! The UDP door: the socket handed to rsipstack, which screens every
//! datagram (`screen.rs`) before the stack parses it and reads the ICMP
//! errors the kernel keeps for it (`icmp.rs`).
//!
//! With a dual-stack `listen` (decision 0075) the door holds one socket per
//! family and rsipstack sees one: rsipstack sends every UDP request from
//! its first UDP listener whatever the destination, so a second listener
//! would never carry an IPv6 request. Here a datagram leaves by the socket
//! of its destination's family, and both are read.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

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
    /// Which socket is read first next time, so a flood on one family
    /// cannot keep the other unread.
    next: AtomicUsize,
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
        for socket in &sockets {
            let v6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
            if let Err(e) = icmp::enable(socket, v6) {
                log::info!("calls to a closed UDP port will fail only after 32 s: {e}");
            }
        }
        Self {
            sockets,
            next: AtomicUsize::new(0),
            counters,
            unreachable,
        }
    }

    /// The socket a datagram to `to` leaves by: the one of its family
    /// (an IPv4-mapped address is IPv6 to the kernel: it goes by the IPv6
    /// socket, as it did when there was one socket), else the first.
    fn toward(&self, to: SocketAddr) -> &tokio::net::UdpSocket {
        self.sockets
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv6() == to.is_ipv6()))
            .unwrap_or(&self.sockets[0])
    }

    /// The next datagram on any of the sockets, with the index of the one
    /// it came by (its error too: the ICMP queue is per socket).
    async fn receive(
        &self,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr, usize), (std::io::Error, usize)> {
        let count = self.sockets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        std::future::poll_fn(|cx| {
            for i in (start..count).chain(0..start) {
                let mut read = tokio::io::ReadBuf::new(&mut *buf);
                match self.sockets[i].poll_recv_from(cx, &mut read) {
                    Poll::Ready(Ok(from)) => {
                        return Poll::Ready(Ok((read.filled().len(), from, i)))
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err((e, i))),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
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
