//! SDP Security Descriptions (RFC 4568): the `a=crypto` line that carries
//! a suite and the master key its sender encrypts with.
//!
//! `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<base64 key‖salt>[|lifetime]`

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::key::{KEY_LEN, SALT_LEN};
use super::{MasterKey, Suite};

/// One usable `a=crypto` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: Suite,
    pub key: MasterKey,
}

impl Crypto {
    /// The attribute's value (after `a=crypto:`), or `None` when Tandem
    /// cannot use it: an unknown suite, several keys, a master key index
    /// (MKI, which would change the packet format), session parameters
    /// (RFC 4568 §6.3: `UNENCRYPTED_SRTP` and the like), or a bad key.
    pub fn parse(value: &str) -> Option<Crypto> {
        let mut parts = value.split_whitespace();
        let tag = parts.next()?.parse().ok()?;
        let suite = Suite::from_name(parts.next()?)?;
        let key_params = parts.next()?;
        if parts.next().is_some() || key_params.contains(';') {
            return None;
        }
        let inline = key_params.strip_prefix("inline:")?;
        let mut fields = inline.split('|');
        let encoded = fields.next()?;
        // A lifetime ("2^31" or a number) may follow; an MKI ("1:4") may not.
        if fields.any(|f| f.contains(':')) {
            return None;
        }
        let bytes: [u8; KEY_LEN + SALT_LEN] = STANDARD.decode(encoded).ok()?.try_into().ok()?;
        Some(Crypto {
            tag,
            suite,
            key: MasterKey::from_bytes(&bytes),
        })
    }

    /// The whole SDP line, CRLF included.
    pub fn line(&self) -> String {
        format!(
            "a=crypto:{} {} inline:{}\r\n",
            self.tag,
            self.suite.name(),
            STANDARD.encode(self.key.to_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_4568s_example_and_writes_it_back() {
        // RFC 4568 §4's example key, with a lifetime.
        let value =
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20";
        let crypto = Crypto::parse(value).unwrap();
        assert_eq!((crypto.tag, crypto.suite), (1, Suite::AesCm128HmacSha1_80));
        assert_eq!(
            crypto.line(),
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 \
             inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let key = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        for value in [
            format!("1 AES_256_CM_HMAC_SHA1_80 {key}"),
            format!("1 AES_CM_128_HMAC_SHA1_32 {key}|2^20|1:4"),
            format!("1 AES_CM_128_HMAC_SHA1_80 {key} UNENCRYPTED_SRTP"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_owned(),
            "x AES_CM_128_HMAC_SHA1_80".to_owned(),
            String::new(),
        ] {
            assert_eq!(Crypto::parse(&value), None, "{value}");
        }
        assert!(Crypto::parse(&format!("2 AES_CM_128_HMAC_SHA1_32 {key}|2^31")).is_some());
    }
}
