//! Our listening addresses, as rsipstack must know them.
//!
//! rsipstack takes our own address for Via, Record-Route and its defaults
//! from its list of listeners, and starts every listener of that list when
//! the endpoint first runs. The TCP and TLS listeners are put in the list
//! only after that first step ([`start_endpoint`]), so rsipstack knows them
//! and never binds them. That leans on rsipstack 0.7.14 starting its
//! listeners before it first waits (`EndpointInner::serve`,
//! `serve_listens`): the unit test
//! `late_listeners_are_listed_in_order_and_never_bound_by_rsipstack` fails
//! if an upgrade changes it (rsipstack would then try to bind our ports,
//! fail with a warning, and leave them to us).

use std::future::Future;
use std::net::SocketAddr;
use std::task::Poll;

use rsipstack::sip::transport::Transport;
use rsipstack::transaction::endpoint::Endpoint;
use rsipstack::transport::{SipAddr, SipConnection};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::route::Advertised;
use crate::config::listen::{family, Listen};

/// A listening socket as rsipstack's listeners make theirs (address reuse,
/// a backlog of 128).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    bind_tcp(addr, false)
}

/// [`bind`], IPv6-only when `v6_only` (a dual-stack `listen`'s IPv6
/// socket, beside the IPv4 one on the same port: without it a wildcard
/// `[::]` would take IPv4 too, as mapped addresses, and clash with
/// `0.0.0.0`).
pub fn bind_tcp(addr: SocketAddr, v6_only: bool) -> std::io::Result<TcpListener> {
    if v6_only && addr.is_ipv6() {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_only_v6(true)?;
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(128)?;
        return TcpListener::from_std(socket.into());
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// A UDP socket on `addr`, IPv6-only when `v6_only` (see [`bind_tcp`]).
async fn bind_udp(addr: SocketAddr, v6_only: bool) -> std::io::Result<UdpSocket> {
    if v6_only && addr.is_ipv6() {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_only_v6(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        return UdpSocket::from_std(socket.into());
    }
    UdpSocket::bind(addr).await
}

/// How many ports [`bind_udp_then_tcp`] tries before it gives up.
const PAIR_ATTEMPTS: usize = 16;

/// A UDP socket and, when `tcp`, a TCP listener on the same port. With
/// port 0 the UDP socket picks one and TCP follows; that port may already
/// be held for TCP (a connection's local port is drawn from the same
/// range, so a busy machine hits it now and then: a start that failed
/// "cannot listen on tcp … address in use" one time in a few hundred),
/// so the pair is tried again on a new port. A port that was asked for is
/// tried once: its error is the user's to see.
pub async fn bind_udp_then_tcp(
    addr: SocketAddr,
    tcp: bool,
) -> Result<(UdpSocket, Option<TcpListener>), BindError> {
    let attempts = if addr.port() == 0 { PAIR_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        match bind_pair(addr, tcp, false).await {
            Err(e) if e.transport == "tcp" && e.in_use() => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| BindError::tcp(addr, std::io::ErrorKind::AddrInUse.into())))
}

/// One try of [`bind_udp_then_tcp`]: UDP on `addr`, TCP on the port it got.
async fn bind_pair(
    addr: SocketAddr,
    tcp: bool,
    v6_only: bool,
) -> Result<(UdpSocket, Option<TcpListener>), BindError> {
    let udp = bind_udp(addr, v6_only)
        .await
        .map_err(|e| BindError::udp(addr, e))?;
    let port = udp
        .local_addr()
        .map_err(|e| BindError::udp(addr, e))?
        .port();
    if !tcp {
        return Ok((udp, None));
    }
    let at = SocketAddr::new(addr.ip(), port);
    let listener = bind_tcp(at, v6_only).map_err(|e| BindError::tcp(at, e))?;
    Ok((udp, Some(listener)))
}

/// One family's SIP sockets: UDP and, when asked, TCP on one port.
pub struct Family {
    pub udp: UdpSocket,
    pub tcp: Option<TcpListener>,
}

/// UDP (and TCP, when `tcp`) on every address of `listen`, all on one
/// port where one was left to us: the IPv4 address picks it (port 0) and
/// the IPv6 one follows, IPv6-only (see [`bind_tcp`]); if that port is
/// taken on IPv6, the set is tried again on a new one. A port the user
/// named is tried once, and its error names the family that could not
/// have it. One address binds exactly as [`bind_udp_then_tcp`] always did.
pub async fn bind_families(listen: &Listen, tcp: bool) -> Result<Vec<Family>, BindError> {
    if !listen.is_dual() {
        let (udp, tcp) = bind_udp_then_tcp(listen.first(), tcp).await?;
        return Ok(vec![Family { udp, tcp }]);
    }
    let chosen = listen.first().port() == 0;
    let attempts = if chosen { PAIR_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let (udp, listener) = bind_udp_then_tcp(listen.first(), tcp).await?;
        let port = udp
            .local_addr()
            .map_err(|e| BindError::udp(listen.first(), e))?
            .port();
        let mut bound = vec![Family { udp, tcp: listener }];
        let mut failed = None;
        for addr in &listen.addrs()[1..] {
            let follows = addr.port() == 0 || addr.port() == listen.first().port();
            let addr = match follows {
                true => SocketAddr::new(addr.ip(), port),
                false => *addr,
            };
            match bind_pair(addr, tcp, true).await {
                Ok((udp, tcp)) => bound.push(Family { udp, tcp }),
                Err(e) => {
                    failed = Some((e, follows && chosen));
                    break;
                }
            }
        }
        match failed {
            None => return Ok(bound),
            Some((e, true)) if e.in_use() => last = Some(e),
            Some((e, _)) => return Err(e),
        }
    }
    Err(last
        .unwrap_or_else(|| BindError::udp(listen.addrs()[1], std::io::ErrorKind::AddrInUse.into())))
}

/// Which socket could not bind, where, and why.
#[derive(Debug)]
pub struct BindError {
    pub transport: &'static str,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

impl BindError {
    fn udp(addr: SocketAddr, source: std::io::Error) -> Self {
        Self {
            transport: "udp",
            addr,
            source,
        }
    }

    fn tcp(addr: SocketAddr, source: std::io::Error) -> Self {
        Self {
            transport: "tcp",
            addr,
            source,
        }
    }

    fn in_use(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AddrInUse
    }

    /// `IPv4` or `IPv6`: the family that could not have the port.
    pub fn family(&self) -> &'static str {
        family(self.addr.ip())
    }
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

/// [`advertised`] for a socket of a dual-stack `listen`: rsipstack names
/// any wildcard, `[::]` too, by the host's first IPv4 address, so the IPv6
/// socket's wildcard is named by the IPv6 address of the default route
/// (each peer is then told the one whose route reaches it).
pub fn advertised_in_family(bound: SocketAddr, transport: Transport) -> SipAddr {
    let resolved = SipConnection::resolve_bind_address(bound);
    let addr = match resolved.is_ipv6() == bound.is_ipv6() {
        true => resolved,
        false => SocketAddr::new(Advertised::new(None, bound.ip()).toward(None), bound.port()),
    };
    SipAddr {
        r#type: Some(transport),
        addr: addr.into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

    /// Port 0: UDP and TCP end on one port, whichever the kernel gave.
    #[tokio::test]
    async fn any_port_gives_udp_and_tcp_the_same_one() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (udp, tcp) = bind_udp_then_tcp(any, true).await.unwrap();
        let port = udp.local_addr().unwrap().port();
        assert_eq!(tcp.unwrap().local_addr().unwrap().port(), port);
    }

    /// Both families on one port: the IPv4 sockets pick it, the IPv6 ones
    /// follow, and neither takes the other's traffic.
    #[tokio::test]
    async fn both_families_get_one_port_each_on_its_own_sockets() {
        let listen = Listen::both(vec![
            "[::1]:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        ])
        .unwrap();
        let bound = bind_families(&listen, true).await.unwrap();
        let addrs: Vec<SocketAddr> = bound.iter().map(|f| f.udp.local_addr().unwrap()).collect();
        assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{addrs:?}");
        assert_eq!(addrs[0].port(), addrs[1].port());
        for family in &bound {
            let tcp = family.tcp.as_ref().unwrap().local_addr().unwrap();
            assert_eq!(tcp, family.udp.local_addr().unwrap());
        }
    }

    /// A port named by the user and held on IPv6 only: said, naming IPv6.
    #[tokio::test]
    async fn a_port_asked_for_and_taken_on_one_family_is_refused_naming_it() {
        let (_held, port) = std::iter::repeat_with(|| {
            let held = std::net::UdpSocket::bind("[::1]:0").unwrap();
            let port = held.local_addr().unwrap().port();
            (held, port)
        })
        .find(|(_, port)| std::net::UdpSocket::bind(("127.0.0.1", *port)).is_ok())
        .unwrap();
        let listen = Listen::both(vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::new("::1".parse().unwrap(), port),
        ])
        .unwrap();
        let error = bind_families(&listen, false).await.err().unwrap();
        assert_eq!(error.family(), "IPv6");
        assert_eq!(error.transport, "udp");
        assert_eq!(error.source.kind(), std::io::ErrorKind::AddrInUse);
    }

    /// A port asked for, held for TCP by another program: said, naming
    /// TCP, without trying another port.
    #[tokio::test]
    async fn a_port_asked_for_and_taken_for_tcp_is_refused_naming_tcp() {
        // A TCP port whose UDP twin is free (the first, nearly always).
        let (_held, addr) = std::iter::repeat_with(|| {
            let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = held.local_addr().unwrap();
            (held, addr)
        })
        .find(|(_, addr)| std::net::UdpSocket::bind(addr).is_ok())
        .unwrap();
        let error = bind_udp_then_tcp(addr, true).await.unwrap_err();
        assert_eq!(error.transport, "tcp");
        assert_eq!(error.source.kind(), std::io::ErrorKind::AddrInUse);
    }
}
