//! STARTTLS trusting a CA file of the user's choice (`ca_path`), for
//! self-hosted servers with their own CA. tokio-xmpp's own connector only
//! trusts the system's roots, so this one does the `<starttls/>` exchange
//! itself and then TLS with a root store built from the file.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use sasl::common::ChannelBinding;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_xmpp::connect::{DnsConfig, ServerConnector};
use tokio_xmpp::error::{Error, ProtocolError};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts,
    XmppStreamElement,
};
use xmpp_parsers::starttls::{Nonza, Request};

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

#[derive(Debug, Clone)]
pub struct CustomCaStartTls {
    pub dns: DnsConfig,
    pub roots: Arc<RootCertStore>,
}

fn header(jid: &Jid) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(Cow::Borrowed(jid.domain().as_str())),
        from: None,
        id: None,
    }
}

impl ServerConnector for CustomCaStartTls {
    type Stream = BufStream<tokio_rustls::client::TlsStream<TcpStream>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), Error> {
        let tcp = self.dns.resolve().await?;
        let plain = initiate_stream(BufStream::new(tcp), ns, header(jid), timeouts).await?;
        let (features, mut plain) = plain.recv_features::<FallibleStreamElement>().await?;
        if !features.can_starttls() {
            return Err(Error::Protocol(ProtocolError::NoTls));
        }
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
                None | Some(Err(ReadError::StreamFooterReceived)) => {
                    return Err(Error::Disconnected)
                }
            }
        }
        let tcp = plain.into_inner().into_inner();
        let config = ClientConfig::builder()
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        let name = ServerName::try_from(jid.domain().as_str().to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        // No channel binding: SASL falls back to the non-PLUS mechanisms.
        let secure = initiate_stream(BufStream::new(tls), ns, header(jid), timeouts).await?;
        Ok((secure, ChannelBinding::None))
    }
}
