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
use super::family::{OwnAddress, OwnAddresses};
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
    #[error(
        "cannot listen on {transport} over {family} at {addr}: {source} (listen names both \
         families; each must have the port)"
    )]
    ListenFamily {
        transport: &'static str,
        family: &'static str,
        addr: std::net::SocketAddr,
        source: rsipstack::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// One of our sockets, bound to `bound` and named `named`.
fn own_address(transport: Transport, bound: std::net::SocketAddr, named: &SipAddr) -> OwnAddress {
    OwnAddress {
        transport,
        bound,
        advertised: named.get_socketaddr().unwrap_or(bound),
    }
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
    /// Every socket of ours, UDP first, each family apart (decision 0075).
    pub own: OwnAddresses,
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
    let listen = &config.listen;
    let dual = listen.is_dual();
    // How each socket is named: a dual-stack IPv6 wildcard by an IPv6
    // address (rsipstack would name it by an IPv4 one).
    let name = |bound, transport| match dual {
        true => listen::advertised_in_family(bound, transport),
        false => listen::advertised(bound, transport),
    };
    let mut listening = Vec::new();
    let mut own = Vec::new();
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
    let listen_error = |e: listen::BindError| match dual {
        true => OpenError::ListenFamily {
            transport: e.transport,
            family: e.family(),
            addr: e.addr,
            source: e.source.into(),
        },
        false => OpenError::Listen {
            transport: e.transport,
            addr: e.addr,
            source: e.source.into(),
        },
    };
    // UDP and TCP share one port (TCP follows the one UDP picked), and
    // with both families, the IPv6 sockets follow the IPv4 ones.
    let (mut udp, mut tcp_listeners) = (Vec::new(), Vec::new());
    if has("udp") {
        for family in listen::bind_families(listen, has("tcp"))
            .await
            .map_err(listen_error)?
        {
            udp.push(family.udp);
            tcp_listeners.extend(family.tcp);
        }
    }
    for transport in &config.transports {
        match transport.as_str() {
            "udp" => {
                if udp.is_empty() {
                    continue;
                }
                let sockets = std::mem::take(&mut udp);
                let bound: Vec<_> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
                let socket = ScreenedUdp::new(sockets, screened.clone(), unreachable_tx.clone());
                let conn =
                    UdpConnection::from_socket(Arc::new(socket), None, Some(cancel.child_token()))
                        .await
                        .map_err(|source| OpenError::Listen {
                            transport: "udp",
                            addr: listen.first(),
                            source,
                        })?;
                for (i, bound) in bound.into_iter().enumerate() {
                    // The first is named as rsipstack names its listener.
                    let addr = match i {
                        0 => conn.get_addr().clone(),
                        _ => name(bound, Transport::Udp),
                    };
                    listening.push(format!("udp {}", addr.addr));
                    own.push(own_address(Transport::Udp, bound, &addr));
                }
                let conn: SipConnection = conn.into();
                transports.add_transport(conn.clone());
                listeners.push(conn);
            }
            "tcp" => {
                if tcp_listeners.is_empty() {
                    for addr in listen.addrs() {
                        let listener = listen::bind_tcp(*addr, dual).map_err(|source| {
                            listen_error(listen::BindError {
                                transport: "tcp",
                                addr: *addr,
                                source,
                            })
                        })?;
                        tcp_listeners.push(listener);
                    }
                }
                for listener in std::mem::take(&mut tcp_listeners) {
                    let bound = listener.local_addr().map_err(|source| OpenError::Listen {
                        transport: "tcp",
                        addr: listen.first(),
                        source: source.into(),
                    })?;
                    let addr = name(bound, Transport::Tcp);
                    listening.push(format!("tcp {}", addr.addr));
                    let mine = own_address(Transport::Tcp, bound, &addr);
                    let advertised = mine.advertised;
                    own.push(mine);
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
            }
            "tls" => {
                // One certificate for every TLS address: read once.
                let acceptor = settings::acceptor(config)?;
                for wanted in config.tls_listen().addrs() {
                    let wanted = *wanted;
                    let listener = listen::bind_tcp(wanted, dual).map_err(|source| {
                        listen_error(listen::BindError {
                            transport: "tls",
                            addr: wanted,
                            source,
                        })
                    })?;
                    let bound = listener.local_addr().map_err(|source| OpenError::Listen {
                        transport: "tls",
                        addr: wanted,
                        source: source.into(),
                    })?;
                    let addr = name(bound, Transport::Tls);
                    listening.push(format!("tls {}", addr.addr));
                    let mine = own_address(Transport::Tls, bound, &addr);
                    let advertised = mine.advertised;
                    own.push(mine);
                    let conn = TlsListenerConnection::new(advertised, None, tls.clone())
                        .await
                        .map_err(|source| OpenError::Listen {
                            transport: "tls",
                            addr: bound,
                            source,
                        })?;
                    listeners.push(conn.into());
                    doors.push(Waiting::Tls(listener, acceptor.clone()));
                }
            }
            _ => {}
        }
    }
    // UDP first, as rsipstack's listeners are put (`Opened::serve`).
    own.sort_by_key(|a| a.transport != Transport::Udp);
    Ok((
        transports,
        Opened {
            listeners,
            doors,
            listening,
            own: OwnAddresses(own),
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
