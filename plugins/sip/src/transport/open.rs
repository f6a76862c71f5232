//! Opening the doors at start: each transport `transports` names bound
//! (UDP through the screened socket, TCP and TLS through the plugin's own
//! listeners), then, once the endpoint is built on the transport layer,
//! the endpoint run with its listeners in order and the stream doors
//! served.

use std::sync::Arc;

use rsipstack::sip::transport::Transport;
use rsipstack::transaction::endpoint::{Endpoint, EndpointInnerRef};
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::tls::TlsListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportLayer};
use tandem_sdk::tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connections::Connections;
use super::counters::Counters;
use super::icmp::{self, Unreachable};
use super::stream::Door;
use super::tls::connector::Connector;
use super::tls::settings::{self, TlsSetupError};
use super::udp::ScreenedUdp;
use super::{listen, tcp, tls};
use crate::config::Config;

/// Why the doors could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot listen on {transport} {addr}: {source}")]
    Listen {
        transport: &'static str,
        addr: std::net::SocketAddr,
        source: rsipstack::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// A TCP or TLS listener bound at start, served once the endpoint is.
enum Waiting {
    Tcp(tokio::net::TcpListener, SipAddr),
    Tls(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
}

/// The doors bound, waiting for the endpoint ([`Opened::serve`]).
pub struct Opened {
    /// Every listener (UDP first, below: the first is rsipstack's default
    /// address); rsipstack serves the UDP ones, the plugin the others
    /// (`tcp.rs`, `tls/accept.rs`).
    listeners: Vec<SipConnection>,
    doors: Vec<Waiting>,
    /// `udp 127.0.0.1:5060`, ... for the log and `sip.status`.
    pub listening: Vec<String>,
    /// What the doors answered, dropped or refused before rsipstack saw it.
    pub counters: Arc<Counters>,
    /// The UDP door's ICMP reports, for the user agent.
    unreachable: mpsc::Receiver<Unreachable>,
    connector: Arc<Connector>,
    max_connections: usize,
    max_connections_per_source: usize,
    cancel: CancellationToken,
}

/// Binds what `config.transports` names onto a new transport layer, for
/// the endpoint to be built on. `cancel` stops it all (the accept loops,
/// the sockets).
pub async fn open(
    config: &Config,
    cancel: &CancellationToken,
) -> Result<(TransportLayer, Opened), OpenError> {
    let transports = TransportLayer::new(cancel.clone());
    let tls = settings::settings(config)?;
    transports.set_tls_config(tls.clone());
    let listen = config.listen;
    let mut listening = Vec::new();
    let screened = Arc::new(Counters::default());
    // Every TLS connection, dialled or accepted, is read through the
    // screen (`transport/tls/screened.rs`).
    let connector = Connector::install(screened.clone());
    let (unreachable_tx, unreachable_rx) = mpsc::channel(icmp::QUEUE);
    // Every listener (UDP first, below: the first is rsipstack's
    // default address); rsipstack serves the UDP ones, the plugin the
    // others (`transport/tcp.rs`, `transport/tls/accept.rs`).
    let mut listeners: Vec<SipConnection> = Vec::new();
    let mut doors = Vec::new();
    let has = |name: &str| config.transports.iter().any(|t| t == name);
    // UDP and TCP share one port (TCP follows the one UDP picked).
    let (mut udp, mut tcp_listener) = (None, None);
    if has("udp") {
        let (socket, listener) = listen::bind_udp_then_tcp(listen, has("tcp"))
            .await
            .map_err(|e| OpenError::Listen {
                transport: e.transport,
                addr: listen,
                source: e.source.into(),
            })?;
        udp = Some(socket);
        tcp_listener = listener;
    }
    for transport in &config.transports {
        match transport.as_str() {
            "udp" => {
                let Some(socket) = udp.take() else { continue };
                let socket = ScreenedUdp::new(socket, screened.clone(), unreachable_tx.clone());
                let conn =
                    UdpConnection::from_socket(Arc::new(socket), None, Some(cancel.child_token()))
                        .await
                        .map_err(|source| OpenError::Listen {
                            transport: "udp",
                            addr: listen,
                            source,
                        })?;
                let addr = conn.get_addr().clone();
                listening.push(format!("udp {}", addr.addr));
                let conn: SipConnection = conn.into();
                transports.add_transport(conn.clone());
                listeners.push(conn);
            }
            "tcp" => {
                let listen_error = |source: std::io::Error| OpenError::Listen {
                    transport: "tcp",
                    addr: listen,
                    source: source.into(),
                };
                let listener = match tcp_listener.take() {
                    Some(listener) => listener,
                    None => listen::bind(listen).map_err(listen_error)?,
                };
                let bound = listener.local_addr().map_err(listen_error)?;
                let addr = listen::advertised(bound, Transport::Tcp);
                listening.push(format!("tcp {}", addr.addr));
                let advertised = addr.get_socketaddr().unwrap_or(bound);
                let conn =
                    TcpListenerConnection::new(advertised, None)
                        .await
                        .map_err(|source| OpenError::Listen {
                            transport: "tcp",
                            addr: bound,
                            source,
                        })?;
                listeners.push(conn.into());
                doors.push(Waiting::Tcp(listener, addr));
            }
            "tls" => {
                let wanted = config.tls_listen();
                let listen_error = |source: std::io::Error| OpenError::Listen {
                    transport: "tls",
                    addr: wanted,
                    source: source.into(),
                };
                let acceptor = settings::acceptor(config)?;
                let listener = listen::bind(wanted).map_err(listen_error)?;
                let bound = listener.local_addr().map_err(listen_error)?;
                let addr = listen::advertised(bound, Transport::Tls);
                listening.push(format!("tls {}", addr.addr));
                let advertised = addr.get_socketaddr().unwrap_or(bound);
                let conn = TlsListenerConnection::new(advertised, None, tls.clone())
                    .await
                    .map_err(|source| OpenError::Listen {
                        transport: "tls",
                        addr: bound,
                        source,
                    })?;
                listeners.push(conn.into());
                doors.push(Waiting::Tls(listener, acceptor));
            }
            _ => {}
        }
    }
    Ok((
        transports,
        Opened {
            listeners,
            doors,
            listening,
            counters: screened,
            unreachable: unreachable_rx,
            connector,
            max_connections: config.max_connections,
            max_connections_per_source: config.max_connections_per_source,
            cancel: cancel.clone(),
        },
    ))
}

impl Opened {
    /// Runs `endpoint` (built on the layer [`open`] returned) with its
    /// listeners in order, and serves the TCP and TLS doors. Gives the
    /// endpoint, and the UDP door's ICMP reports for the user agent.
    pub async fn serve(
        mut self,
        endpoint: Endpoint,
    ) -> (EndpointInnerRef, mpsc::Receiver<Unreachable>) {
        let inner = endpoint.inner.clone();
        // UDP first: rsipstack puts its first listener in the Via of every
        // request that names no transport (a UDP one), so with `transports
        // = ["tcp", "udp"]` a UDP INVITE said `SIP/2.0/TCP` (RFC 3261
        // §18.1.1: the Via names the transport the request goes over), and
        // its answers came over a TCP connection, if the peer could open one.
        self.listeners
            .sort_by_key(|l| l.get_addr().r#type != Some(Transport::Udp));
        listen::start_endpoint(endpoint, self.listeners, self.cancel.clone()).await;
        let door = Door {
            connections: Connections::new(self.max_connections, self.max_connections_per_source),
            counters: self.counters.clone(),
            cancel: self.cancel.clone(),
        };
        for waiting in self.doors {
            let (endpoint, door) = (inner.clone(), door.clone());
            match waiting {
                Waiting::Tcp(listener, addr) => {
                    tandem_sdk::tokio::spawn(tcp::serve_tcp(listener, addr, endpoint, door));
                }
                Waiting::Tls(listener, acceptor) => {
                    tandem_sdk::tokio::spawn(tls::accept::serve_tls(
                        listener,
                        acceptor,
                        self.connector.clone(),
                        endpoint,
                        door,
                    ));
                }
            }
        }
        (inner, self.unreachable)
    }
}
