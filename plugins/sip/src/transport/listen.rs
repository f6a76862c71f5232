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
use tokio::net::{TcpListener, TcpSocket};
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
}
