//! The server's certificate as a person deals with it: why it was refused,
//! in their words, and trusting exactly one certificate by its SHA-256
//! (`pin_sha256`), as Profanity's `/tls trust` and Gajim's "trust this
//! certificate" do for a self-hosted server's self-made one.
//!
//! rustls refuses, rightly, a certificate `prosodyctl cert generate`
//! makes (it is marked as a CA: `CaUsedAsEndEntity`); before this the
//! sidecar said so only as that internal name, in the log, while
//! `xmpp.status` said "connecting" (issue 23).

use std::str::FromStr;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    ring as provider, verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

/// A certificate's SHA-256, as `pin_sha256` gives it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pin([u8; 32]);

/// Why `pin_sha256` cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("[xmpp] pin_sha256 must be a SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256), not `{0}`")]
pub struct BadPin(pub String);

impl FromStr for Pin {
    type Err = BadPin;

    fn from_str(text: &str) -> Result<Pin, BadPin> {
        let hex: String = text.chars().filter(|c| *c != ':').collect();
        let bad = || BadPin(text.to_owned());
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Pin(bytes))
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&colons(&self.0))
    }
}

/// `AB:CD:…`, as openssl prints fingerprints.
fn colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SHA-256 of `data`, from the TLS provider already in use (no hash
/// crate for one digest).
fn sha256(data: &[u8]) -> [u8; 32] {
    let suite = provider::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .expect("a TLS 1.3 suite");
    let digest = suite.common.hash_provider.hash(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The fingerprint of a certificate, as `pin_sha256` takes it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    colons(&sha256(cert.as_ref()))
}

/// Trusts the one certificate whose SHA-256 is the pin, whoever signed
/// it and whatever it says of itself; the handshake's signatures are still
/// checked, so only the holder of its key gets through.
#[derive(Debug)]
pub struct Pinned {
    pin: Pin,
    provider: Arc<CryptoProvider>,
}

impl Pinned {
    pub fn new(pin: Pin) -> Pinned {
        Pinned {
            pin,
            provider: Arc::new(provider::default_provider()),
        }
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if sha256(end_entity.as_ref()) == self.pin.0 {
            return Ok(ServerCertVerified::assertion());
        }
        Err(Error::InvalidCertificate(CertificateError::Other(
            tokio_rustls::rustls::OtherError(Arc::new(NotPinned(fingerprint(end_entity)))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A verifier that refuses every certificate and names the one it was
/// shown ([`shown`] reads it from the error): the handshake made after a
/// refusal only to learn which certificate the server shows (for
/// `xmpp.status` and `tandem check --connect`), so it ends before
/// anything is sent. No certificate has an all-zero SHA-256.
pub fn reader() -> Pinned {
    Pinned::new(Pin([0; 32]))
}

/// The fingerprint of the certificate a [`Pinned`] refusal names: the one
/// the server showed.
pub fn shown(error: &tokio_xmpp::Error) -> Option<String> {
    match rustls_error(error)? {
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<NotPinned>().map(|n| n.0.clone())
        }
        _ => None,
    }
}

/// The pinned certificate was not the one the server showed.
#[derive(Debug, thiserror::Error)]
#[error("not the certificate pin_sha256 names: the server showed {0}")]
struct NotPinned(String);

/// Why a connection failed, in plain words, when it was the server's
/// certificate; None for any other failure.
pub fn refusal(error: &tokio_xmpp::Error, domain: &str) -> Option<String> {
    let rustls = rustls_error(error)?;
    let Error::InvalidCertificate(why) = rustls else {
        return None;
    };
    let what = match why {
        CertificateError::UnknownIssuer => {
            "is not signed by an authority this machine trusts (a self-signed certificate?)"
                .to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "is not valid yet (is this machine's clock right?)".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("is for another name than {domain}")
        }
        CertificateError::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "is a CA certificate, not a server's (as `prosodyctl cert generate` makes)".to_owned()
        }
        CertificateError::Other(other) => format!("was refused: {other}"),
        other => format!("was refused ({other:?})"),
    };
    Some(format!(
        "the server's certificate for {domain} {what}. To trust exactly this certificate, \
         set pin_sha256 in [plugins.xmpp] to its SHA-256 fingerprint (on the server: \
         openssl x509 -noout -fingerprint -sha256 -in <its certificate>), or ca_path to the \
         authority that signed it"
    ))
}

/// The rustls error inside a connection error, if there is one.
fn rustls_error(error: &tokio_xmpp::Error) -> Option<&Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = match error {
        tokio_xmpp::Error::Io(io) => io.get_ref().map(|e| e as _),
        other => std::error::Error::source(other),
    };
    while let Some(e) = source {
        if let Some(rustls) = e.downcast_ref::<Error>() {
            return Some(rustls);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            source = io.get_ref().map(|e| e as _);
            continue;
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_reads_with_or_without_colons_and_junk_is_refused() {
        let plain = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let pin: Pin = plain.parse().unwrap();
        let with_colons = colons(&pin.0);
        assert_eq!(with_colons.parse::<Pin>().unwrap(), pin);
        assert_eq!(plain.to_lowercase().parse::<Pin>().unwrap(), pin);
        assert!("E3B0".parse::<Pin>().is_err());
        assert!(plain.replace('E', "G").parse::<Pin>().is_err());
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_certificate() {
        // SHA-256 of the empty string.
        assert_eq!(
            fingerprint(&CertificateDer::from(Vec::new())),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }

    #[test]
    fn certificate_failures_are_said_plainly() {
        let wrap = |e: Error| {
            tokio_xmpp::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let said = refusal(
            &wrap(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            "example.org",
        )
        .unwrap();
        assert!(
            said.starts_with(
                "the server's certificate for example.org is not signed by an authority"
            ),
            "{said}"
        );
        assert!(said.contains("pin_sha256"), "{said}");
        let expired = refusal(
            &wrap(Error::InvalidCertificate(CertificateError::Expired)),
            "example.org",
        )
        .unwrap();
        assert!(expired.contains("has expired"), "{expired}");
        let other = tokio_xmpp::Error::Io(std::io::Error::other("connection refused"));
        assert_eq!(refusal(&other, "example.org"), None);
    }

    #[test]
    fn the_reader_refuses_and_names_the_certificate_shown() {
        let cert = CertificateDer::from(b"a certificate".to_vec());
        let name = ServerName::try_from("example.org").unwrap();
        let refused = reader()
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .err()
            .unwrap();
        let error = tokio_xmpp::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            refused,
        ));
        assert_eq!(shown(&error), Some(fingerprint(&cert)));
        let other = tokio_xmpp::Error::Io(std::io::Error::other("connection refused"));
        assert_eq!(shown(&other), None);
    }
}
