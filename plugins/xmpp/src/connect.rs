//! How the sidecar reaches its server: STARTTLS or XEP-0368 direct TLS
//! (the system's roots, or a CA file of the user's choice for self-hosted
//! servers), or plain TCP when the config says `insecure`.
//!
//! tokio-xmpp's own connectors would do, but they leave Nagle's algorithm
//! on. An XMPP stream is a chat of small writes (a presence, then a
//! stream-management `<a/>`), and with Nagle a stanza written while the
//! previous small segment is unacknowledged waits for the server's delayed
//! ACK — about 40 ms on Linux. That was the whole of the sidecar's presence
//! latency (docs/benchmarks.md), so every connection here sets
//! `TCP_NODELAY` before the first byte.
//!
//! Each connector also logs in itself (`crate::login`) before tokio-xmpp
//! sees the stream: see docs/decisions/0036-own-sasl-before-tokio-xmpp.md.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use sasl::common::ChannelBinding;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_xmpp::connect::starttls::starttls;
use tokio_xmpp::connect::tls_common::establish_tls_connection;
use tokio_xmpp::connect::{DnsConfig, ServerConnector};
use tokio_xmpp::error::{Error, ProtocolError};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts,
    XmppStreamElement,
};
use tokio_xmpp::Client;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::starttls::{Nonza, Request};

use crate::certificate::{Pin, Pinned};
use crate::config::Config;
use crate::login::{Gate, Handoff, Login, Policy, Retry};

/// Why the CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("[xmpp] ca_path {path}: {message}")]
    Read { path: String, message: String },
    #[error("[xmpp] ca_path {0}: no certificate in it")]
    Empty(String),
}

/// The certificates of a PEM file, as a root store.
pub fn roots(path: &Path) -> Result<Arc<RootCertStore>, CaError> {
    let read = |message: String| CaError::Read {
        path: path.display().to_string(),
        message,
    };
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| read(e.to_string()))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(CaError::Empty(path.display().to_string()));
    }
    Ok(Arc::new(store))
}

/// A TLS connection as tokio-xmpp gets it: logged in, handed off.
type Tls = BufStream<Handoff<TlsStream<TcpStream>>>;

/// A connection with its stream open, and its channel binding.
type Opened<S> = (PendingFeaturesRecv<BufStream<S>>, ChannelBinding);

/// STARTTLS with `roots`, or with the system's roots when `None`.
#[derive(Debug, Clone)]
pub struct StartTls {
    pub dns: DnsConfig,
    pub roots: Option<Arc<RootCertStore>>,
    /// `pin_sha256`: this certificate only, in place of any roots.
    pub pin: Option<Pin>,
    pub login: Login,
}

/// TLS from the first byte (XEP-0368), with `roots` or the system's.
#[derive(Debug, Clone)]
pub struct DirectTls {
    pub dns: DnsConfig,
    pub roots: Option<Arc<RootCertStore>>,
    pub pin: Option<Pin>,
    pub login: Login,
}

/// Plain TCP: only with `insecure = true` in the config.
#[derive(Debug, Clone)]
pub struct PlainTcp {
    pub dns: DnsConfig,
    pub login: Login,
}

/// tokio-xmpp logs in with this (on the handed-off stream, where nothing
/// reaches the server), never with the user's password.
const HANDOFF_PASSWORD: &str = "handoff";

/// A client for `config` (STARTTLS with the system's roots or `roots`
/// from `ca_path`, direct TLS, or plain TCP when `insecure`), logging in
/// through `gate`; clients made before it retire.
pub fn new_client(config: &Config, roots: Option<Arc<RootCertStore>>, gate: &Arc<Gate>) -> Client {
    let account = BareJid::from_str(&config.jid).expect("checked in Session::new");
    let full = account
        .with_resource_str(&config.resource)
        .expect("checked in Session::new");
    let dns = match (&config.host, config.direct_tls) {
        (Some(host), _) => DnsConfig::no_srv(host, config.port()),
        (None, false) => DnsConfig::srv_default_client(account.domain().as_str()),
        (None, true) => DnsConfig::srv_xmpps(account.domain().as_str()),
    };
    let login = Login {
        username: account.node().map(|n| n.to_string()).unwrap_or_default(),
        password: config.password.clone(),
        policy: Policy::parse(&config.sasl).expect("checked in Session::new"),
        gate: gate.clone(),
        generation: gate.new_generation(),
        create_account: config.create_account,
    };
    let timeouts = Timeouts::default();
    let pin = config
        .pin_sha256
        .as_deref()
        .map(|p| p.parse().expect("checked in Session::new"));
    if config.insecure {
        Client::new_with_connector(full, HANDOFF_PASSWORD, PlainTcp { dns, login }, timeouts)
    } else if config.direct_tls {
        let connector = DirectTls {
            dns,
            roots,
            pin,
            login,
        };
        Client::new_with_connector(full, HANDOFF_PASSWORD, connector, timeouts)
    } else {
        let connector = StartTls {
            dns,
            roots,
            pin,
            login,
        };
        Client::new_with_connector(full, HANDOFF_PASSWORD, connector, timeouts)
    }
}

/// The gate's retry policy from the config.
pub fn retry(config: &Config) -> Retry {
    Retry {
        auth_tries: config.auth_tries.max(1),
        auth_wait: Duration::from_secs(config.auth_retry_seconds),
        base: Duration::from_secs(config.reconnect_base_seconds.max(1)),
        max: Duration::from_secs(config.reconnect_max_seconds.max(1)),
    }
}

fn header(jid: &Jid) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(Cow::Borrowed(jid.domain().as_str())),
        from: None,
        id: None,
    }
}

/// Resolves, connects with Nagle's algorithm off (see the module doc) and
/// opens the stream.
async fn open(
    dns: &DnsConfig,
    jid: &Jid,
    ns: &'static str,
    timeouts: Timeouts,
) -> Result<PendingFeaturesRecv<BufStream<TcpStream>>, Error> {
    let tcp = dns.resolve().await?;
    tcp.set_nodelay(true)?;
    Ok(initiate_stream(BufStream::new(tcp), ns, header(jid), timeouts).await?)
}

impl ServerConnector for PlainTcp {
    type Stream = BufStream<Handoff<TcpStream>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), Error> {
        let stream = self
            .login
            .attempt(jid, ns, timeouts, || async {
                let stream = open(&self.dns, jid, ns, timeouts).await?;
                Ok((stream, ChannelBinding::None))
            })
            .await?;
        Ok((stream, ChannelBinding::None))
    }
}

/// The TLS connectors: open and secure the connection (`secure`), then log
/// in (`crate::login`); tokio-xmpp gets the handed-off stream.
macro_rules! tls_connector {
    ($connector:ty) => {
        impl ServerConnector for $connector {
            type Stream = Tls;

            async fn connect(
                &self,
                jid: &Jid,
                ns: &'static str,
                timeouts: Timeouts,
            ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), Error> {
                let stream = self
                    .login
                    .attempt(jid, ns, timeouts, || self.secure(jid, ns, timeouts))
                    .await?;
                Ok((stream, ChannelBinding::None))
            }
        }
    };
}

tls_connector!(StartTls);
tls_connector!(DirectTls);

impl StartTls {
    async fn secure(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<Opened<TlsStream<TcpStream>>, Error> {
        let handshake = |trust: Option<ClientConfig>| async move {
            let plain = open(&self.dns, jid, ns, timeouts).await?;
            let (features, plain) = plain.recv_features::<FallibleStreamElement>().await?;
            if !features.can_starttls() {
                return Err(Error::Protocol(ProtocolError::NoTls));
            }
            match trust {
                None => Ok(starttls(plain, jid.domain().as_str()).await?),
                Some(config) => starttls_with(plain, jid, config).await,
            }
        };
        let trust = trusting(self.pin, &self.roots);
        let (tls, binding) = noting_certificate(&self.login.gate, jid, trust, handshake).await?;
        let secure = initiate_stream(BufStream::new(tls), ns, header(jid), timeouts).await?;
        Ok((secure, binding))
    }
}

impl DirectTls {
    async fn secure(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<Opened<TlsStream<TcpStream>>, Error> {
        let handshake = |trust: Option<ClientConfig>| async move {
            let tcp = self.dns.resolve().await?;
            tcp.set_nodelay(true)?;
            match trust {
                None => Ok(establish_tls_connection(tcp, jid.domain().as_str()).await?),
                Some(config) => tls_with(tcp, jid, config).await,
            }
        };
        let trust = trusting(self.pin, &self.roots);
        let (tls, binding) = noting_certificate(&self.login.gate, jid, trust, handshake).await?;
        let secure = initiate_stream(BufStream::new(tls), ns, header(jid), timeouts).await?;
        Ok((secure, binding))
    }
}

/// A TLS session and its channel binding.
type Secured = (TlsStream<TcpStream>, ChannelBinding);

/// Runs `handshake` with `trust` and notes the certificate the server
/// showed in the gate, for `xmpp.status` and `tandem check --connect`. A
/// certificate refused is read by a second handshake that takes it and
/// ends there (`certificate::reader`): a failed handshake gives none back.
async fn noting_certificate<F, Fut>(
    gate: &Gate,
    jid: &Jid,
    trust: Option<ClientConfig>,
    handshake: F,
) -> Result<Secured, Error>
where
    F: Fn(Option<ClientConfig>) -> Fut,
    Fut: std::future::Future<Output = Result<Secured, Error>>,
{
    match handshake(trust).await {
        Ok((tls, binding)) => {
            let shown = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
            gate.saw_certificate(shown.map(crate::certificate::fingerprint));
            Ok((tls, binding))
        }
        Err(e) => {
            if crate::certificate::refusal(&e, jid.domain().as_str()).is_some() {
                let config = ClientConfig::builder()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(crate::certificate::reader()))
                    .with_no_client_auth();
                if let Err(refused) = handshake(Some(config)).await {
                    gate.saw_certificate(crate::certificate::shown(&refused));
                }
            }
            Err(e)
        }
    }
}

/// The TLS settings that trust the pinned certificate, or `roots`; None
/// for the system's roots (tokio-xmpp's own TLS then).
fn trusting(pin: Option<Pin>, roots: &Option<Arc<RootCertStore>>) -> Option<ClientConfig> {
    let builder = ClientConfig::builder();
    let config = match (pin, roots) {
        (Some(pin), _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned::new(pin))),
        (None, Some(roots)) => builder.with_root_certificates(roots.clone()),
        (None, None) => return None,
    };
    Some(config.with_no_client_auth())
}

/// The `<starttls/>` exchange, then TLS with `config`.
async fn starttls_with(
    mut plain: tokio_xmpp::xmlstream::XmppStream<BufStream<TcpStream>>,
    jid: &Jid,
    config: ClientConfig,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, ChannelBinding), Error> {
    plain
        .send(&XmppStreamElement::Starttls(Nonza::Request(Request)))
        .await?;
    loop {
        match plain
            .next()
            .await
            .map(|v| v.and_then(|v| v.into_read_error()))
        {
            Some(Ok(XmppStreamElement::Starttls(Nonza::Proceed(_)))) => break,
            Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e).into())
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => return Err(Error::Disconnected),
        }
    }
    tls_with(plain.into_inner().into_inner(), jid, config).await
}

/// A TLS client handshake on `tcp` with `config`.
async fn tls_with(
    tcp: TcpStream,
    jid: &Jid,
    config: ClientConfig,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, ChannelBinding), Error> {
    let name = ServerName::try_from(jid.domain().as_str().to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    // RFC 9266 tls-exporter, as tokio-xmpp does, so SCRAM-*-PLUS works
    // with a custom CA too (used only when the server names it: see
    // `login::mechanism`); TLS 1.2 has no exporter binding here.
    let (_, connection) = tls.get_ref();
    let binding = match connection.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => connection
            .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
            .map(ChannelBinding::TlsExporter)
            .unwrap_or(ChannelBinding::None),
        _ => ChannelBinding::None,
    };
    Ok((tls, binding))
}
