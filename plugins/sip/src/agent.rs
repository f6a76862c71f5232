//! The user agent: one rsipstack endpoint with its transports and dialog
//! layer, Tandem's calls, and the tasks that serve them.

use std::sync::{Arc, Mutex, MutexGuard};

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogStateReceiver, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::{Header, Uri};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use tandem_sdk::commands::sip::Status;
use tandem_sdk::Host;
use tokio_util::sync::CancellationToken;

use crate::calls::Calls;
use crate::config::{split_header, Config};
use crate::media::MediaConfig;

/// Methods we answer; sent in Allow.
pub const ALLOWED: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO";
/// Bodies we take; sent in Accept.
pub const ACCEPTED: &str = "application/sdp, text/plain, application/im-iscomposing+xml";

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {transport} {addr}: {source}")]
    Listen {
        transport: &'static str,
        addr: std::net::SocketAddr,
        source: rsipstack::Error,
    },
    #[error("the SIP stack has no local address")]
    NoAddress,
    #[error(transparent)]
    Media(#[from] crate::media::MediaSetupError),
}

pub struct Agent {
    pub host: Host,
    pub config: Config,
    pub endpoint: EndpointInnerRef,
    pub dialogs: Arc<DialogLayer>,
    pub states: DialogStateSender,
    /// Our Contact (where peers reach us).
    pub contact: Uri,
    /// Our From URI.
    pub identity: Uri,
    pub credential: Option<Credential>,
    pub media: MediaConfig,
    pub cancel: CancellationToken,
    pub listening: Vec<String>,
    calls: Mutex<Calls>,
    registration: Mutex<String>,
}

impl Agent {
    /// Binds the transports and builds the endpoint. The returned receivers
    /// are served by [`crate::incoming`] and [`crate::dialog_events`].
    pub async fn start(
        host: Host,
        config: Config,
    ) -> Result<
        (
            Arc<Agent>,
            rsipstack::transaction::TransactionReceiver,
            DialogStateReceiver,
        ),
        StartError,
    > {
        let cancel = CancellationToken::new();
        let transports = TransportLayer::new(cancel.clone());
        let mut listen = config.listen;
        let mut listening = Vec::new();
        for transport in &config.transports {
            match transport.as_str() {
                "udp" => {
                    let conn =
                        UdpConnection::create_connection(listen, None, Some(cancel.child_token()))
                            .await
                            .map_err(|source| StartError::Listen {
                                transport: "udp",
                                addr: listen,
                                source,
                            })?;
                    let addr = conn.get_addr().clone();
                    // TCP follows on the same port when UDP picked one.
                    if let Ok(port) = addr.addr.port.map(u16::from).ok_or(()) {
                        listen.set_port(port);
                    }
                    listening.push(format!("udp {}", addr.addr));
                    transports.add_transport(conn.into());
                }
                "tcp" => {
                    let conn =
                        TcpListenerConnection::new(listen, None)
                            .await
                            .map_err(|source| StartError::Listen {
                                transport: "tcp",
                                addr: listen,
                                source,
                            })?;
                    listening.push(format!("tcp {}", conn.get_addr().addr));
                    transports.add_transport(conn.into());
                }
                _ => {}
            }
        }
        let endpoint = EndpointBuilder::new()
            .with_user_agent(concat!("Tandem/", env!("CARGO_PKG_VERSION")))
            .with_transport_layer(transports)
            .with_cancel_token(cancel.clone())
            .build();
        let addr = endpoint
            .get_addrs()
            .first()
            .cloned()
            .ok_or(StartError::NoAddress)?;
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|_| StartError::NoAddress)?;
        let inner = endpoint.inner.clone();
        let serve_cancel = cancel.clone();
        tandem_sdk::tokio::spawn(async move {
            tandem_sdk::tokio::select! {
                _ = endpoint.serve() => {}
                _ = serve_cancel.cancelled() => {}
            }
        });

        let dialogs = Arc::new(DialogLayer::new(inner.clone()));
        let (states, state_rx) = dialogs.new_dialog_state_channel();
        let user = rsipstack::sip::Auth {
            user: config.user.clone(),
            password: None,
        };
        let contact = Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(user.clone()),
            host_with_port: addr.addr.clone(),
            ..Default::default()
        };
        let identity = if config.domain.is_empty() {
            contact.clone()
        } else {
            Uri {
                scheme: Some(rsipstack::sip::Scheme::Sip),
                auth: Some(user),
                host_with_port: config.domain.as_str().try_into().unwrap_or(addr.addr),
                ..Default::default()
            }
        };
        let credential = config.registrar.as_ref().map(|_| Credential {
            username: config.user.clone(),
            password: config.password.clone(),
            realm: None,
            auth_username: config.auth_username.clone(),
        });
        let media = MediaConfig::from_config(&config)?;
        let agent = Arc::new(Agent {
            host,
            config,
            endpoint: inner,
            dialogs,
            states,
            contact,
            identity,
            credential,
            media,
            cancel,
            listening,
            calls: Mutex::new(Calls::default()),
            registration: Mutex::new("none".to_owned()),
        });
        Ok((agent, incoming, state_rx))
    }

    /// The calls, locked. Never held across an `.await`.
    pub fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_registration(&self, state: &str) {
        *self.registration.lock().unwrap_or_else(|e| e.into_inner()) = state.to_owned();
    }

    /// The configured extra headers (validated at start).
    pub fn extra_headers(&self) -> Vec<Header> {
        self.config
            .extra_headers
            .iter()
            .filter_map(|line| split_header(line))
            .map(|(name, value)| Header::Other(name.to_owned(), value.to_owned()))
            .collect()
    }

    pub fn status(&self) -> Status {
        Status {
            listening: self.listening.clone(),
            registration: self
                .registration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            calls: self.calls().infos(),
            dropped_datagrams: 0,
        }
    }
}
