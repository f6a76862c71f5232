//! The address the registrar saw us at (RFC 3581: `received` and `rport`
//! in the Via of its answers), when it is not one of ours: a NAT sits
//! between, and peers beyond it must be told that address, not ours.
//!
//! rsipstack learns it for the REGISTER's own Contact. A call's Contact
//! and SDP need it too: through a plain proxy, a Contact naming the private
//! address leaves the proxy unable to deliver the ACK or the BYE (the 200
//! is resent until Timer H), and an SDP naming it gets no audio in.
//! Peers on our own side of the NAT (the local network) still get our
//! address.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Mutex;

use rsipstack::sip::transport::Transport;

/// Our address as the registrar saw it, from the flow it registered over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub ip: IpAddr,
    /// The NAT's port for that flow; for UDP, the one our SIP socket maps to.
    pub port: Option<u16>,
    pub transport: Transport,
}

/// What the last successful REGISTER taught, if it showed a NAT.
#[derive(Debug, Default)]
pub struct PublicAddress(Mutex<Option<Seen>>);

impl PublicAddress {
    /// Takes what the registrar saw: kept only when it is not an address of
    /// this host (then nothing is translated and our own address is right).
    /// Returns whether it changed.
    pub fn learn(&self, seen: Option<Seen>) -> bool {
        let seen = seen.filter(|s| !is_ours(s.ip));
        let mut learned = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let changed = *learned != seen;
        *learned = seen;
        changed
    }

    /// The public address to tell `peer` about, if there is one and the
    /// peer is beyond the NAT: the registrar itself (`via_registrar`, a
    /// proxy that relays for us), or any address outside the local network.
    pub fn toward(&self, peer: Option<IpAddr>, via_registrar: bool) -> Option<Seen> {
        let learned = (*self.0.lock().unwrap_or_else(|e| e.into_inner()))?;
        let beyond = via_registrar || peer.is_some_and(|p| !on_local_network(p.to_canonical()));
        beyond.then_some(learned)
    }
}

/// Whether `ip` is an address of this host (it can be bound).
pub fn is_ours(ip: IpAddr) -> bool {
    UdpSocket::bind((ip, 0)).is_ok()
}

/// Whether `ip` is on this side of a home NAT: loopback, RFC 1918 and
/// RFC 6598 (carrier-grade NAT) ranges, link-local, IPv6 unique local.
pub fn on_local_network(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let shared = Ipv4Addr::new(100, 64, 0, 0);
            let in_shared = u32::from(v4) & 0xffc0_0000 == u32::from(shared);
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || in_shared
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ip: &str) -> Option<Seen> {
        Some(Seen {
            ip: ip.parse().unwrap(),
            port: Some(40000),
            transport: Transport::Udp,
        })
    }

    #[test]
    fn an_address_of_this_host_teaches_nothing() {
        let public = PublicAddress::default();
        assert!(!public.learn(seen("127.0.0.1")), "loopback is ours");
        assert_eq!(public.toward(None, true), None);
        assert!(public.learn(seen("198.51.100.77")));
        assert!(!public.learn(seen("198.51.100.77")), "unchanged");
        assert!(public.learn(None), "forgotten");
        assert_eq!(public.toward(None, true), None);
    }

    #[test]
    fn the_public_address_goes_beyond_the_local_network_only() {
        let public = PublicAddress::default();
        public.learn(seen("198.51.100.77"));
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            public.toward(ip("192.168.1.20"), true),
            seen("198.51.100.77")
        );
        assert_eq!(
            public.toward(ip("203.0.113.9"), false),
            seen("198.51.100.77")
        );
        assert_eq!(public.toward(ip("192.168.1.20"), false), None, "a LAN peer");
        assert_eq!(public.toward(ip("::ffff:10.0.0.1"), false), None);
        assert_eq!(public.toward(None, false), None);
    }

    #[test]
    fn local_networks_are_the_ones_a_home_nat_hides() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::2",
            "fe80::1",
        ] {
            assert!(on_local_network(local.parse().unwrap()), "{local}");
        }
        for public in ["198.51.100.1", "8.8.8.8", "100.128.0.1", "2001:db8::1"] {
            assert!(!on_local_network(public.parse().unwrap()), "{public}");
        }
    }
}
