//! The TLS client side shared by HTTP (`https://` downloads and uploads)
//! and the MSRP relay (`msrps://`): one set of trusted roots, and a
//! failed handshake said in words a user can act on.

use std::sync::Arc;

use tokio_rustls::rustls::{self, CertificateError, ClientConfig, Error, RootCertStore};

/// The TLS client settings: the system's trusted roots (`SSL_CERT_FILE`
/// and `SSL_CERT_DIR` are honoured, as in the XMPP plugin: that is how a
/// server with a private CA is trusted).
pub fn config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // One unreadable system certificate must not stop the others.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a handshake failed, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server's certificate is not one this machine trusts (unknown
    /// issuer, expired, for another name): what follows "its certificate".
    Untrusted(&'static str),
    /// Not TLS that answered on that port.
    NotTls,
    /// Anything else (no TLS on that port, a broken connection).
    Other(String),
}

/// A failed handshake (`e`, as tokio-rustls gives it), in plain words;
/// rustls' own text only for what has none.
pub fn failure(e: &std::io::Error) -> Failure {
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) else {
        return Failure::Other(e.to_string());
    };
    match tls {
        // BadSignature: an authority of the same name as a trusted one
        // signed it, not the trusted one (two private CAs named alike).
        Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => Failure::Untrusted("is signed by no authority this machine trusts"),
        Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => Failure::Untrusted("has expired"),
        Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => Failure::Untrusted("is not valid yet (is this machine's clock right?)"),
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Failure::Untrusted("is for another name"),
        Error::InvalidCertificate(_) => Failure::Untrusted("is not valid"),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => Failure::NotTls,
        other => Failure::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(e: Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn certificate_failures_are_said_plainly() {
        let untrusted = Failure::Untrusted("is signed by no authority this machine trusts");
        for e in [
            CertificateError::UnknownIssuer,
            CertificateError::BadSignature,
        ] {
            assert_eq!(failure(&handshake(Error::InvalidCertificate(e))), untrusted);
        }
        assert_eq!(
            failure(&handshake(Error::InvalidCertificate(
                CertificateError::Expired
            ))),
            Failure::Untrusted("has expired")
        );
        assert_eq!(
            failure(&handshake(Error::InvalidCertificate(
                CertificateError::Revoked
            ))),
            Failure::Untrusted("is not valid")
        );
        assert_eq!(
            failure(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            Failure::Other(std::io::Error::from(std::io::ErrorKind::ConnectionReset).to_string())
        );
    }
}
