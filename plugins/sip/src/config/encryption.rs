//! Whether a call's media is encrypted (`media_encryption`): never, SRTP
//! with SDES keys when the peer takes it, or SRTP or no call; with keys
//! agreed in DTLS instead (decision 0076), likewise.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// Plain RTP: nothing offered, an `RTP/SAVP` offer refused (488).
    None,
    /// SRTP when the peer takes it: we offer `RTP/AVP` with `a=crypto`
    /// (best effort, as baresip's `srtp` and Linphone's optional mode do),
    /// so a peer without SRTP still answers; we accept both profiles.
    Sdes,
    /// SRTP or no call: we offer `RTP/SAVP`; an offer without a usable
    /// `a=crypto` is refused with 488, an answer without one gets no media.
    SdesRequired,
    /// DTLS-SRTP offered (`UDP/TLS/RTP/SAVP` with our certificate's
    /// fingerprint); offers with DTLS, SDES or neither answered as they
    /// come. Without OpenSSL on the machine, offers as `Sdes` does.
    Dtls,
    /// DTLS-SRTP or no call: any other offer or answer is refused as
    /// `SdesRequired` refuses plain ones.
    DtlsRequired,
}

impl Encryption {
    /// The call's setting: the configured one, else SDES when the call's
    /// signalling is TLS and none otherwise. SDES keys travel in the SDP,
    /// so over UDP or TCP anyone who can read the media can read its key
    /// too: encryption there would only look safe (decision 0063).
    pub fn for_call(configured: Option<Encryption>, tls: bool) -> Encryption {
        configured.unwrap_or(if tls {
            Encryption::Sdes
        } else {
            Encryption::None
        })
    }

    pub fn offers_keys(self) -> bool {
        self != Encryption::None
    }

    /// Our offers carry a DTLS fingerprint rather than SDES keys.
    pub fn offers_dtls(self) -> bool {
        matches!(self, Encryption::Dtls | Encryption::DtlsRequired)
    }

    /// Only SRTP will do, and a plain answer ends the call.
    pub fn required(self) -> bool {
        matches!(self, Encryption::SdesRequired | Encryption::DtlsRequired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_follows_the_signalling() {
        assert_eq!(Encryption::for_call(None, true), Encryption::Sdes);
        assert_eq!(Encryption::for_call(None, false), Encryption::None);
        let required = Some(Encryption::SdesRequired);
        assert_eq!(
            Encryption::for_call(required, false),
            Encryption::SdesRequired
        );
        assert_eq!(
            Encryption::for_call(Some(Encryption::None), true),
            Encryption::None
        );
    }

    #[test]
    fn the_dtls_names_read_from_config() {
        #[derive(Deserialize)]
        struct Setting {
            media_encryption: Encryption,
        }
        for (text, want) in [
            ("dtls", Encryption::Dtls),
            ("dtls-required", Encryption::DtlsRequired),
            ("sdes-required", Encryption::SdesRequired),
        ] {
            let json = format!("{{\"media_encryption\": \"{text}\"}}");
            let read: Setting = serde_json::from_str(&json).unwrap();
            assert_eq!(read.media_encryption, want);
        }
        assert!(Encryption::Dtls.offers_dtls() && !Encryption::Sdes.offers_dtls());
        assert!(Encryption::DtlsRequired.required() && !Encryption::Dtls.required());
    }
}
