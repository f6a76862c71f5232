//! The UDP door: the socket handed to rsipstack, which screens every
//! datagram (`screen.rs`) before the stack parses it and reads the ICMP
//! errors the kernel keeps for it (`icmp.rs`).

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
    socket: tokio::net::UdpSocket,
    counters: Arc<Counters>,
    /// ICMP errors about our datagrams, for the user agent (`icmp.rs`).
    unreachable: mpsc::Sender<Unreachable>,
}

impl ScreenedUdp {
    /// Screens `socket` (already bound: see `listen::bind_udp_then_tcp`).
    pub fn new(
        socket: tokio::net::UdpSocket,
        counters: Arc<Counters>,
        unreachable: mpsc::Sender<Unreachable>,
    ) -> Self {
        let v6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
        if let Err(e) = icmp::enable(&socket, v6) {
            log::info!("calls to a closed UDP port will fail only after 32 s: {e}");
        }
        Self {
            socket,
            counters,
            unreachable,
        }
    }

    /// A failed receive: the kernel has an ICMP error for us. Its queue
    /// says which datagram; the agent is told (a full queue drops the
    /// report: the call then ends by Timer B). `false` when the error is
    /// something else, for rsipstack to see.
    fn on_receive_error(&self, error: &std::io::Error) -> bool {
        let reports = icmp::take(&self.socket);
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
            let (len, from) = match self.socket.recv_from(buf).await {
                Ok(received) => received,
                Err(e) if self.on_receive_error(&e) => continue,
                Err(e) => return Err(e.into()),
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
                    if let Err(e) = self.socket.send_to(&bytes, from).await {
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
                self.socket.send_to(&stripped, addr).await?;
                Ok(buf.len())
            }
            None => Ok(self.socket.send_to(buf, addr).await?),
        }
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}
