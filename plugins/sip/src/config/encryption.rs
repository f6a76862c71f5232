//! Whether a call's media is encrypted (`media_encryption`): never, SRTP
//! with SDES keys when the peer takes it, or SRTP or no call.

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
}
