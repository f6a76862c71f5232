//! The TLS door: the plugin's own accept loop and handshake.
//!
//! rsipstack's TLS listener accepts any number of connections and waits for
//! a handshake for ever. So the plugin accepts (under the cap of
//! `connections.rs`) and shakes hands itself:
//!
//! after the handshake (bounded by [`HANDSHAKE_TIMEOUT`]) the stream is
//! wrapped in a [`ScreenedTls`], which frames and screens what the peer
//! sends as the TCP door does, and handed to rsipstack through its TLS
//! connector seam ([`Connector::hand_over`]); rsipstack then serves it as if
//! its own listener had accepted it (`TransportLayer::add_connection`),
//! seeing only whole, well-formed messages. `screened.rs` says why that
//! way and not as over TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::sip::transport::Transport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tls::{TlsConfig, TlsConnection};
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::net::{TcpListener, TcpStream};

use super::connector::Connector;
use super::screened::ScreenedTls;
use super::HANDSHAKE_TIMEOUT;
use crate::transport::stream::{accept_loop, second_handle, Door};

/// The TLS door: accepts, shakes hands, and gives each connection to
/// rsipstack through the screen (see `screened.rs`).
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    connector: Arc<Connector>,
    endpoint: EndpointInnerRef,
    door: Door,
) {
    let shared = door.clone();
    accept_loop(listener, door, "TLS", move |stream, peer, slot| {
        let (acceptor, connector) = (acceptor.clone(), connector.clone());
        let (endpoint, door) = (endpoint.clone(), shared.clone());
        tandem_sdk::tokio::spawn(async move {
            tls_connection(stream, peer, acceptor, connector, endpoint, door).await;
            drop(slot);
        });
    })
    .await;
}

/// One TLS connection, until rsipstack is done with it.
async fn tls_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    connector: Arc<Connector>,
    endpoint: EndpointInnerRef,
    door: Door,
) {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(e) => {
            log::debug!("TLS connection from {peer}: {e}");
            return;
        }
    };
    let (stream, socket) = match second_handle(stream) {
        Ok(handles) => handles,
        Err(e) => {
            log::debug!("TLS connection from {peer}: {e}");
            return;
        }
    };
    let handshake = tokio::select! {
        _ = door.cancel.cancelled() => return,
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => done,
    };
    let session = match handshake {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            log::debug!("TLS handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            log::debug!("no TLS handshake from {peer} within {HANDSHAKE_TIMEOUT:?}: closed");
            return;
        }
    };
    let screened = ScreenedTls::new(Box::new(session), socket, local, peer, door.counters);
    let name = connector.hand_over(screened);
    let token = door.cancel.child_token();
    let remote = SipAddr {
        r#type: Some(Transport::Tls),
        addr: peer.into(),
    };
    let naming = TlsConfig {
        sni_hostname: Some(name.clone()),
        ..TlsConfig::default()
    };
    let connection =
        match TlsConnection::connect(&remote, Some(&naming), None, Some(token.clone())).await {
            Ok(connection) => connection,
            Err(e) => {
                connector.take_back(&name);
                log::warn!("TLS connection from {peer} not handed to rsipstack: {e}");
                return;
            }
        };
    endpoint
        .transport_layer
        .add_connection(SipConnection::Tls(connection));
    // rsipstack cancels the token when the connection is gone (its serve
    // loop ended: closed, idle, or the screen ended it).
    token.cancelled().await;
}
