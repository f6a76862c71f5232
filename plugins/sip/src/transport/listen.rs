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
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio_util::sync::CancellationToken;

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
        let udp = UdpSocket::bind(addr).await.map_err(BindError::udp)?;
        if !tcp {
            return Ok((udp, None));
        }
        let port = udp.local_addr().map_err(BindError::udp)?.port();
        match bind(SocketAddr::new(addr.ip(), port)) {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(BindError::tcp(e)),
        }
    }
    Err(BindError::tcp(
        last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()),
    ))
}

/// Which half of [`bind_udp_then_tcp`] could not bind, and why.
#[derive(Debug)]
pub struct BindError {
    pub transport: &'static str,
    pub source: std::io::Error,
}

impl BindError {
    fn udp(source: std::io::Error) -> Self {
        Self {
            transport: "udp",
            source,
        }
    }

    fn tcp(source: std::io::Error) -> Self {
        Self {
            transport: "tcp",
            source,
        }
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
