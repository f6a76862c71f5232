//! The plugin's TLS client connector for rsipstack: dials as rsipstack
//! would, and hands accepted streams over (see `screened.rs` for why this
//! seam, and `accept.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rsipstack::platform::tls::{TlsClientConfig, TlsConnector, TlsStream};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::screened::ScreenedTls;
use super::HANDSHAKE_TIMEOUT;
use crate::transport::counters::Counters;
use crate::transport::stream::second_handle;

/// How long a TCP connect to a TLS peer may take before the handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an SNI name handing over an accepted stream starts with.
const HANDOVER: &str = "accepted.tandem.invalid-";

/// The plugin's TLS client connector for rsipstack (see the module doc).
pub struct Connector {
    /// Accepted streams waiting for rsipstack to take them, by name.
    handed: Mutex<HashMap<String, ScreenedTls>>,
    /// The counters of the agent that started last (one per process in
    /// practice): answers and drops on dialled connections count there.
    counters: Mutex<Arc<Counters>>,
}

impl Connector {
    /// The process's connector, registered with rsipstack on first use;
    /// its counters become `counters`.
    pub fn install(counters: Arc<Counters>) -> Arc<Connector> {
        static INSTALLED: OnceLock<Arc<Connector>> = OnceLock::new();
        let connector = INSTALLED.get_or_init(|| {
            let connector = Arc::new(Connector {
                handed: Mutex::default(),
                counters: Mutex::new(counters.clone()),
            });
            rsipstack::platform::tls::set_client_connector(connector.clone());
            connector
        });
        *connector.counters.lock().unwrap_or_else(|e| e.into_inner()) = counters;
        connector.clone()
    }

    /// Keeps `stream` for rsipstack; the SNI name under which
    /// `TlsConnection::connect` gets it back.
    pub fn hand_over(&self, stream: ScreenedTls) -> String {
        let name = format!("{HANDOVER}{:032x}", rand::random::<u128>());
        self.lock().insert(name.clone(), stream);
        name
    }

    /// Forgets a handed-over stream rsipstack did not take.
    pub fn take_back(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ScreenedTls>> {
        self.handed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connects and shakes hands as rsipstack's own TLS client would.
    async fn dial(
        &self,
        config: &TlsClientConfig,
        addr: SocketAddr,
    ) -> Result<ScreenedTls, String> {
        let client = client_config(config)?;
        let name = ServerName::try_from(config.server_name.clone())
            .map_err(|_| format!("{:?} is not a name TLS can check", config.server_name))?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("no TCP connection to {addr} within {CONNECT_TIMEOUT:?}"))?
            .map_err(|e| format!("TCP connection to {addr}: {e}"))?;
        tcp.set_nodelay(true).ok();
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        let (tcp, socket) = second_handle(tcp).map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let session = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| format!("no TLS handshake with {addr} within {HANDSHAKE_TIMEOUT:?}"))?
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(ScreenedTls::new(
            Box::new(session),
            socket,
            local,
            addr,
            counters,
        ))
    }
}

#[async_trait::async_trait]
impl TlsConnector for Connector {
    async fn connect(
        &self,
        config: &TlsClientConfig,
        addr: SocketAddr,
    ) -> rsipstack::Result<Box<dyn TlsStream>> {
        if config.server_name.starts_with(HANDOVER) {
            return match self.lock().remove(&config.server_name) {
                Some(stream) => Ok(Box::new(stream)),
                None => Err(rsipstack::Error::Error(format!(
                    "no TLS connection to {addr} by that name"
                ))),
            };
        }
        match self.dial(config, addr).await {
            Ok(stream) => Ok(Box::new(stream)),
            Err(e) => Err(rsipstack::Error::Error(e)),
        }
    }
}

/// rustls's client settings from rsipstack's: the CAs given (none given:
/// none trusted, as rsipstack does), a client certificate when rsipstack
/// passes one (its `TlsConfig::client_cert`, which `tls.rs` leaves unset:
/// our listener's identity is not offered when we dial), the ring provider
/// (named, as in `tls.rs`).
fn client_config(config: &TlsClientConfig) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = &config.root_certs {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("the CA certificates: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("a CA certificate: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("our certificate: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("our key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("our certificate and key: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tls::screened::tests::pair;

    #[tokio::test]
    async fn a_handed_over_stream_is_taken_once_and_only_by_its_name() {
        let connector = Connector {
            handed: Mutex::default(),
            counters: Mutex::new(Arc::new(Counters::default())),
        };
        let (screened, _peer, _) = pair().await;
        let addr = screened.peer;
        let name = connector.hand_over(screened);
        let asking = |server_name: &str| TlsClientConfig {
            server_name: server_name.into(),
            ..TlsClientConfig::default()
        };
        let guessed = format!("{HANDOVER}{:032x}", 1u128);
        assert!(connector.connect(&asking(&guessed), addr).await.is_err());
        assert!(connector.connect(&asking(&name), addr).await.is_ok());
        assert!(
            connector.connect(&asking(&name), addr).await.is_err(),
            "once"
        );
    }
}
