//! SIP over TLS (RFC 3261 §26.2, RFC 5630): the listener's identity and the
//! CAs trusted when we connect out, handed to rsipstack's rustls transport.
//!
//! rsipstack trusts nothing by default (an empty root store rejects every
//! peer), so without `ca_path` we hand it the system's bundle, as a user
//! expects of any TLS client.
//!
//! Accepting is the plugin's own (`accept.rs`, for the connection cap and
//! a handshake deadline), with [`acceptor`]; so is dialling
//! (`connector.rs` and `screened.rs`, with the settings below as rsipstack passes them
//! on). Either way the connection is then rsipstack's, read through the
//! screen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsipstack::transport::tls::TlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

use crate::config::Config;

/// Where the system's CA bundle is on Debian and most Linux systems.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why TLS cannot be set up; each names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls_certificate_file: no PEM certificate in it")]
    Certificate,
    #[error("tls_key_file: no PEM private key in it")]
    Key,
    #[error("ca_path {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("tls_certificate_file and tls_key_file: {0}")]
    Identity(String),
}

/// The acceptor for our TLS listener: our certificate chain and key, the
/// ring provider rsipstack's own listener uses (named, so that another
/// provider built into the same process cannot make the choice ambiguous),
/// no client certificates asked for.
pub fn acceptor(config: &Config) -> Result<tokio_rustls::TlsAcceptor, TlsSetupError> {
    let (Some(cert), Some(key)) = (&config.tls_certificate, &config.tls_key) else {
        return Err(TlsSetupError::Certificate);
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsSetupError::Certificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| TlsSetupError::Key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| TlsSetupError::Identity(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// The TLS settings for rsipstack: the CAs (always) and our identity (when
/// the config has one).
pub fn settings(config: &Config) -> Result<TlsConfig, TlsSetupError> {
    let identity = match (&config.tls_certificate, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .filter_map(Result::ok)
                .count();
            if certs == 0 {
                return Err(TlsSetupError::Certificate);
            }
            PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| TlsSetupError::Key)?;
            Some((cert.clone().into_bytes(), key.clone().into_bytes()))
        }
        _ => None,
    };
    let (cert, key) = identity.unzip();
    Ok(TlsConfig {
        cert,
        key,
        ca_certs: trusted(config.ca_path.as_deref())?,
        ..TlsConfig::default()
    })
}

/// The CA bundle: `ca_path`, else `SSL_CERT_FILE`, else the system's. A
/// missing system bundle is not an error (TLS calls then fail with an
/// unknown-issuer error, which names the cause); a missing `ca_path` is.
fn trusted(ca_path: Option<&Path>) -> Result<Option<Vec<u8>>, TlsSetupError> {
    let (path, chosen) = match ca_path {
        Some(path) => (path.to_path_buf(), true),
        None => match std::env::var_os("SSL_CERT_FILE") {
            Some(file) => (PathBuf::from(file), true),
            None => (PathBuf::from(SYSTEM_BUNDLE), false),
        },
    };
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(_) if !chosen => return Ok(None),
        Err(e) => {
            return Err(TlsSetupError::Ca {
                path,
                message: e.to_string(),
            })
        }
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Ca {
            path: path.clone(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::Ca {
            path,
            message: "no certificate in it".into(),
        });
    }
    Ok(Some(pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_identity_and_missing_ca_are_named() {
        let mut config = Config {
            tls_certificate: Some("not pem".into()),
            tls_key: Some("not pem".into()),
            ..Config::default()
        };
        assert!(matches!(settings(&config), Err(TlsSetupError::Certificate)));
        config.tls_certificate = None;
        config.tls_key = None;
        config.ca_path = Some("/nonexistent/ca.pem".into());
        let err = settings(&config).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    /// A self-signed certificate and its key, PEM, made by openssl.
    fn identity(dir: &Path) -> (String, String) {
        let status = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args([
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ])
            .output()
            .expect("openssl");
        assert!(status.status.success(), "{status:?}");
        let read = |name| std::fs::read_to_string(dir.join(name)).unwrap();
        (read("cert.pem"), read("key.pem"))
    }

    #[test]
    fn an_identity_becomes_an_acceptor_and_junk_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = identity(dir.path());
        let mut config = Config {
            tls_certificate: Some(cert),
            tls_key: Some(key),
            ..Config::default()
        };
        acceptor(&config).unwrap();
        config.tls_key = Some("not pem".into());
        let err = acceptor(&config).err().unwrap();
        assert!(matches!(err, TlsSetupError::Key), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.pem");
        std::fs::write(&file, "nothing here\n").unwrap();
        let config = Config {
            ca_path: Some(file),
            ..Config::default()
        };
        let err = settings(&config).unwrap_err().to_string();
        assert!(err.contains("no certificate"), "{err}");
    }
}
