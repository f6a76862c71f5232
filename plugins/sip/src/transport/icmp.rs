//! ICMP errors on the UDP socket: a call to a port where nothing listens
//! fails at once instead of after Timer B.
//!
//! An INVITE over UDP to a closed port is answered by the peer's kernel
//! with ICMP "port unreachable". RFC 3261 §8.1.3.1 and §18.4 want such a
//! transport error treated as a 503 from that destination, but an
//! unconnected UDP socket does not hear ICMP at all unless `IP_RECVERR`
//! is set, so rsipstack retransmitted for 32 s and reported a 408. With
//! `IP_RECVERR` (ip(7)), the kernel keeps each error on the socket's error
//! queue with the destination of the datagram that caused it; the UDP
//! door ([`super::udp::ScreenedUdp`]) reads that queue when a receive
//! fails, and the user agent (`ua/unreachable.rs`) ends the outgoing calls still waiting for a first
//! answer from that exact address. A REGISTER or MESSAGE to a closed port
//! is the same case (Timer F instead of Timer B): the user agent passes every
//! report on to whatever [`Watch`]es that address too (`registration.rs`,
//! `message.rs` in `ua/`), which ends the request waiting on it.
//!
//! The kernel only delivers an ICMP error to the socket whose own datagram
//! it quotes (addresses and ports checked), so an off-path sender has to
//! guess the destination and our port to end a call this way.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use tandem_sdk::tokio;
use tokio::sync::broadcast::{self, error::RecvError};

/// One datagram of ours that the network refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// Where the datagram was going.
    pub destination: SocketAddr,
    /// What the kernel made of the ICMP message (ECONNREFUSED for "port
    /// unreachable", EHOSTUNREACH, ENETUNREACH...).
    pub error: i32,
}

impl Unreachable {
    /// Whether the refused datagram was going to `destination` (address and
    /// port; an IPv4-mapped IPv6 address is its IPv4 one).
    pub fn concerns(&self, destination: SocketAddr) -> bool {
        canonical(self.destination) == canonical(destination)
    }

    pub fn reason(&self) -> String {
        let text = io::Error::from_raw_os_error(self.error);
        format!("{} answered ICMP: {text}", self.destination.ip())
    }
}

/// Reports waiting for the agent; beyond this many, more are dropped (a
/// flood of ICMP must not grow memory).
pub const QUEUE: usize = 64;

/// Asks the kernel to keep ICMP errors for `socket` (IPv4 and, for an IPv6
/// socket, IPv6).
pub fn enable(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    let (level, name) = if ipv6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    // SAFETY: a plain setsockopt on a socket we own, with an int option.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Empties the socket's error queue (never blocks): every error that
/// names a destination.
pub fn take(socket: &impl AsRawFd) -> Vec<Unreachable> {
    let mut found = Vec::new();
    // A bound: the queue is limited by the receive buffer anyway.
    for _ in 0..256 {
        match take_one(socket.as_raw_fd()) {
            Some(Some(report)) => found.push(report),
            Some(None) => {}
            None => break,
        }
    }
    found
}

/// One entry of the error queue: `None` when it is empty, `Some(None)`
/// for an entry that is not an ICMP error about one of our datagrams.
fn take_one(fd: RawFd) -> Option<Option<Unreachable>> {
    // SAFETY: recvmsg into buffers that live for the call, then reading
    // the control messages the kernel wrote, within `msg_controllen`,
    // through the libc CMSG macros; the sockaddr is read as the family the
    // kernel says it wrote.
    unsafe {
        let mut name: libc::sockaddr_storage = zeroed();
        let mut quoted = [0u8; 64];
        let mut control = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: quoted.as_mut_ptr().cast(),
            iov_len: quoted.len(),
        };
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control) as _;
        if libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) < 0 {
            return None;
        }
        let mut error = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = &*cmsg;
            let ours = (header.cmsg_level == libc::SOL_IP && header.cmsg_type == libc::IP_RECVERR)
                || (header.cmsg_level == libc::SOL_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
            if ours {
                let extended = std::ptr::read_unaligned(
                    libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>(),
                );
                let from_icmp = extended.ee_origin == libc::SO_EE_ORIGIN_ICMP
                    || extended.ee_origin == libc::SO_EE_ORIGIN_ICMP6;
                // "Fragmentation needed" (ICMPv6 "packet too big") is no
                // refusal: it teaches the kernel the path's MTU, and the
                // retransmission, fragmented to fit, gets through.
                let too_big = extended.ee_errno as i32 == libc::EMSGSIZE;
                if from_icmp && !too_big {
                    error = Some(extended.ee_errno as i32);
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        let destination = socket_addr(&name);
        Some(
            error
                .zip(destination)
                .map(|(error, destination)| Unreachable { destination, error }),
        )
    }
}

fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match name.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The ICMP reports about where one request goes over UDP, from just
/// before it leaves: rsipstack's transactions never hear them, so a
/// REGISTER or MESSAGE to a port where nothing listens would wait for
/// Timer F (32 s).
pub struct Watch {
    reports: broadcast::Receiver<Unreachable>,
    watched: Option<SocketAddr>,
}

impl Watch {
    /// Hears, of the reports `reports` gets, those about `watched` (about
    /// nothing when `None`). `reports` is subscribed just before the
    /// request leaves: earlier reports are about earlier datagrams.
    pub fn new(reports: broadcast::Receiver<Unreachable>, watched: Option<SocketAddr>) -> Watch {
        Watch { reports, watched }
    }

    /// The first report about the watched address: never, when nothing is
    /// watched or the reports stop. Reports missed to a lag are lost, not an
    /// end: the request then ends by its timer, as without the watch.
    pub async fn refusal(&mut self) -> Unreachable {
        if let Some(watched) = self.watched {
            loop {
                match self.reports.recv().await {
                    Ok(report) if report.concerns(watched) => return report,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        }
        std::future::pending().await
    }
}

/// An IPv4-mapped IPv6 address as IPv4: a dual-stack socket reports
/// either form.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A "connection refused" report for `destination` (also used by the
    /// registration's tests).
    pub(crate) fn refused(destination: &str) -> Unreachable {
        Unreachable {
            destination: destination.parse().unwrap(),
            error: libc::ECONNREFUSED,
        }
    }

    #[tokio::test]
    async fn only_a_report_about_the_watched_address_ends_the_wait() {
        let (sender, reports) = broadcast::channel(8);
        let mut watch = Watch::new(reports, Some("127.0.0.1:5070".parse().unwrap()));
        sender.send(refused("127.0.0.1:5071")).unwrap();
        sender.send(refused("[::ffff:127.0.0.1]:5070")).unwrap();
        let found = tokio::time::timeout(std::time::Duration::from_secs(5), watch.refusal())
            .await
            .expect("the second report is about the watched address");
        assert_eq!(found, refused("[::ffff:127.0.0.1]:5070"));
    }

    #[tokio::test]
    async fn with_nothing_watched_or_no_sender_the_wait_never_ends() {
        let wait = std::time::Duration::from_millis(50);
        let (sender, reports) = broadcast::channel(8);
        let mut unwatched = Watch::new(reports, None);
        sender.send(refused("127.0.0.1:5070")).unwrap();
        assert!(tokio::time::timeout(wait, unwatched.refusal())
            .await
            .is_err());
        let mut watch = Watch::new(sender.subscribe(), Some("127.0.0.1:5071".parse().unwrap()));
        sender.send(refused("127.0.0.1:5070")).unwrap();
        drop(sender);
        // The report queued is about another address; then the end.
        assert!(tokio::time::timeout(wait, watch.refusal()).await.is_err());
    }

    #[tokio::test]
    async fn a_watch_hears_only_the_reports_sent_after_it_started() {
        let (sender, _kept) = broadcast::channel(8);
        sender.send(refused("127.0.0.1:5070")).unwrap();
        let mut watch = Watch::new(sender.subscribe(), Some("127.0.0.1:5070".parse().unwrap()));
        let earlier = tokio::time::timeout(std::time::Duration::from_millis(50), watch.refusal());
        assert!(earlier.await.is_err(), "a report from before is not heard");
        sender.send(refused("127.0.0.1:5070")).unwrap();
        assert_eq!(watch.refusal().await, refused("127.0.0.1:5070"));
    }

    #[test]
    fn a_datagram_to_a_closed_port_is_reported_with_its_destination() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(&socket, false).unwrap();
        // A port that was just free: bind, note it, close it.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        socket.send_to(b"INVITE", closed).unwrap();
        // The ICMP answer comes back through the loopback at once; the
        // failed receive is what tells the door to look.
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        let err = socket.recv_from(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        let reports = take(&socket);
        assert_eq!(
            reports,
            vec![Unreachable {
                destination: closed,
                error: libc::ECONNREFUSED
            }]
        );
        assert!(take(&socket).is_empty(), "the queue is emptied");
    }

    #[test]
    fn a_report_concerns_its_exact_destination_in_either_form() {
        let report = Unreachable {
            destination: "[::ffff:127.0.0.1]:5060".parse().unwrap(),
            error: libc::ECONNREFUSED,
        };
        assert!(report.concerns("127.0.0.1:5060".parse().unwrap()));
        assert!(report.concerns("[::ffff:127.0.0.1]:5060".parse().unwrap()));
        assert!(!report.concerns("127.0.0.1:5061".parse().unwrap()));
        assert!(!report.concerns("127.0.0.2:5060".parse().unwrap()));
        assert!(!report.concerns("[::1]:5060".parse().unwrap()));
    }

    #[test]
    fn fragmentation_needed_is_not_reported() {
        // Reported, it failed a call, REGISTER or MESSAGE at once as a 503
        // ("Message too long") that a fragmented retransmission would have
        // carried. Forging the ICMP message takes a raw socket (root).
        // SAFETY: a plain socket(2); the descriptor is owned at once.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        if raw < 0 {
            eprintln!("skipped: {}", io::Error::last_os_error());
            return;
        }
        // SAFETY: `raw` is a descriptor of ours, open, owned by nothing else.
        let raw = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        // Somewhere that listens (no "port unreachable" of its own), at an
        // address of its own: the kernel keeps the path MTU it learns for
        // it (10 min), which must not slow other tests' loopback traffic.
        let listening = std::net::UdpSocket::bind("127.87.6.5:0").unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(&socket, false).unwrap();
        let (from, to) = (
            socket.local_addr().unwrap(),
            listening.local_addr().unwrap(),
        );
        let payload = [b'x'; 1450];
        socket.send_to(&payload, to).unwrap();
        let icmp = fragmentation_needed(from, to, payload.len());
        let loopback = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: sendto(2) from a buffer and an address that outlive it.
        let sent = unsafe {
            libc::sendto(
                raw.as_raw_fd(),
                icmp.as_ptr().cast(),
                icmp.len(),
                0,
                (&loopback as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(sent, icmp.len() as isize, "{}", io::Error::last_os_error());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(take(&socket), vec![]);
    }

    /// ICMP "fragmentation needed" (RFC 792, RFC 1191) quoting a UDP
    /// datagram of `len` bytes from `from` to `to`.
    fn fragmentation_needed(from: SocketAddr, to: SocketAddr, len: usize) -> Vec<u8> {
        fn checksum(bytes: &[u8]) -> [u8; 2] {
            let mut sum: u32 = bytes
                .chunks(2)
                .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
                .sum();
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            (!(sum as u16)).to_be_bytes()
        }
        let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
            panic!("IPv4 only");
        };
        let udp_len = (8 + len) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend((20 + udp_len).to_be_bytes());
        ip.extend([0, 1, 0x40, 0, 64, 17, 0, 0]);
        ip.extend(from.ip().octets());
        ip.extend(to.ip().octets());
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum);
        let mut icmp = vec![3, 4, 0, 0, 0, 0];
        icmp.extend(1400u16.to_be_bytes());
        icmp.extend(ip);
        icmp.extend(from.port().to_be_bytes());
        icmp.extend(to.port().to_be_bytes());
        icmp.extend(udp_len.to_be_bytes());
        icmp.extend([0, 0]);
        let sum = checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum);
        icmp
    }

    #[test]
    fn without_recverr_nothing_is_reported() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        socket.send_to(b"INVITE", closed).unwrap();
        socket.set_nonblocking(true).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut buf = [0u8; 16];
        let err = socket.recv_from(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        assert!(take(&socket).is_empty());
    }
}
