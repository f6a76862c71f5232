//! Which of our addresses a peer is told (in SDP's `c=`, in a Contact).
//!
//! A socket bound to a wildcard (`0.0.0.0`, `::`) has no address a peer
//! could use, and writing loopback instead sends a peer on another host to
//! its own loopback: it then never reaches us. The right address is the
//! one the kernel would send from toward that peer, the address of the
//! interface whose route reaches it. A UDP socket "connected" to the peer
//! shows it without a packet leaving. Loopback is then only named to a
//! peer on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};

/// Stands for "anywhere" when no peer is known yet: a documentation
/// address (RFC 5737, RFC 3849) that no real peer has, so the route
/// toward it is the default route.
const ANYWHERE_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
const ANYWHERE_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

/// What a peer is told our address is, for sockets bound to one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advertised {
    /// Always this address: one configured to be advertised (a NAT's
    /// public address), or the specific address the socket is bound to.
    Fixed(IpAddr),
    /// The socket is bound to a wildcard of this family (`v6` for `::`,
    /// which also takes IPv4 on a dual-stack host): the address the route
    /// toward each peer leaves from.
    Route { v6: bool },
}

impl Advertised {
    /// For a socket bound to `bind`, with `configured` to advertise in its
    /// place when set.
    pub fn new(configured: Option<IpAddr>, bind: IpAddr) -> Advertised {
        match configured {
            Some(ip) => Advertised::Fixed(ip),
            None if bind.is_unspecified() => Advertised::Route { v6: bind.is_ipv6() },
            None => Advertised::Fixed(bind),
        }
    }

    /// Our address for `peer` (the address we will send to, when known):
    /// the fixed one, or the route's source toward the peer. With no peer,
    /// or one the socket's family cannot reach, the default route's source;
    /// loopback only when the host has no route at all.
    pub fn toward(self, peer: Option<IpAddr>) -> IpAddr {
        match self {
            Advertised::Fixed(ip) => ip,
            Advertised::Route { v6 } => {
                let peer = peer
                    .map(|p| p.to_canonical())
                    .filter(|p| v6 || p.is_ipv4())
                    .filter(|p| !p.is_unspecified());
                let anywhere = if v6 { ANYWHERE_V6 } else { ANYWHERE_V4 };
                peer.and_then(local_toward)
                    .or_else(|| local_toward(anywhere))
                    .or_else(|| v6.then(|| local_toward(ANYWHERE_V4)).flatten())
                    .unwrap_or(if v6 {
                        IpAddr::V6(Ipv6Addr::LOCALHOST)
                    } else {
                        IpAddr::V4(Ipv4Addr::LOCALHOST)
                    })
            }
        }
    }
}

/// The local address the kernel would send from toward `peer`, found by
/// connecting a UDP socket (which sends nothing); `None` when no route
/// reaches it.
pub fn local_toward(peer: IpAddr) -> Option<IpAddr> {
    let any = match peer {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind((any, 0)).ok()?;
    socket.connect((peer, 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn a_configured_address_or_a_specific_bind_is_advertised_as_is() {
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let wildcard: IpAddr = "0.0.0.0".parse().unwrap();
        // A NAT's public address, whatever the bind and the peer.
        let nat = Advertised::new(Some(public), wildcard);
        assert_eq!(nat.toward(Some(LOOPBACK)), public);
        let bound: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(Advertised::new(None, bound).toward(None), bound);
        assert_eq!(
            Advertised::new(None, wildcard),
            Advertised::Route { v6: false }
        );
    }

    #[test]
    fn a_wildcard_names_loopback_to_a_peer_on_loopback_only() {
        let route = Advertised::new(None, "0.0.0.0".parse().unwrap());
        assert_eq!(route.toward(Some(LOOPBACK)), LOOPBACK);
        assert_eq!(route.toward(Some("127.0.0.2".parse().unwrap())), LOOPBACK);
        // Toward anywhere else: the default route's source, if the host
        // has one (this one may be offline: then loopback is all it has).
        let elsewhere = route.toward(Some(ANYWHERE_V4));
        assert_eq!(elsewhere, route.toward(None), "no peer: the default route");
        match local_toward(ANYWHERE_V4) {
            Some(source) => {
                assert_eq!(elsewhere, source);
                assert!(!source.is_loopback(), "{source}");
            }
            None => assert_eq!(elsewhere, LOOPBACK),
        }
    }

    #[test]
    fn an_ipv4_wildcard_ignores_an_ipv6_peer_and_reads_mapped_addresses() {
        let route = Advertised::new(None, "0.0.0.0".parse().unwrap());
        let v6_peer: IpAddr = "::1".parse().unwrap();
        assert!(route.toward(Some(v6_peer)).is_ipv4());
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(route.toward(Some(mapped)), LOOPBACK);
        let unspecified: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(route.toward(Some(unspecified)), route.toward(None));
    }

    #[test]
    fn the_route_toward_ipv6_loopback_is_ipv6_loopback() {
        // Hosts without IPv6 have no such route; nothing to check there.
        if let Some(ip) = local_toward(IpAddr::V6(Ipv6Addr::LOCALHOST)) {
            assert_eq!(ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
            let route = Advertised::new(None, "::".parse().unwrap());
            assert_eq!(route.toward(Some(ip)), ip);
        }
    }
}
