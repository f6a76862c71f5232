//! AES in counter mode as SRTP uses it (RFC 3711 §4.1.1), and the key
//! derivation built on it (§4.3) with a key derivation rate of 0, which is
//! what SDES without a `KDR` parameter means: one set of session keys for
//! the whole call.

use aes::cipher::{InnerIvInit, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes128;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::key::{MasterKey, KEY_LEN, SALT_LEN};

/// AES-128 counter mode, big-endian 128-bit counter. The IV leaves the low
/// 16 bits zero, so a packet (at most 2^16 blocks) never carries into the
/// salt, exactly as AES-CM wants.
pub type Ctr = ctr::Ctr128BE<Aes128>;
type CtrCore = ctr::CtrCore<Aes128, ctr::flavors::Ctr128BE>;

pub const AUTH_KEY_LEN: usize = 20;

/// The labels of §4.3.1 (SRTP) and §4.3.2 (SRTCP).
#[derive(Debug, Clone, Copy)]
pub enum Labels {
    Rtp,
    Rtcp,
}

impl Labels {
    fn of(self) -> [u8; 3] {
        match self {
            // encryption, authentication, salt
            Labels::Rtp => [0, 1, 2],
            Labels::Rtcp => [3, 4, 5],
        }
    }
}

/// What one direction of SRTP or SRTCP works with; the AES key schedule
/// and the HMAC pads are computed once here, not per packet.
#[derive(Clone)]
pub struct SessionKeys {
    pub cipher: Aes128,
    pub salt: [u8; SALT_LEN],
    pub mac: Hmac<Sha1>,
}

impl SessionKeys {
    pub fn derive(master: &MasterKey, labels: Labels) -> SessionKeys {
        let [encryption, authentication, salting] = labels.of();
        let mut key = [0u8; KEY_LEN];
        let mut auth = [0u8; AUTH_KEY_LEN];
        let mut salt = [0u8; SALT_LEN];
        prf(master, encryption, &mut key);
        prf(master, authentication, &mut auth);
        prf(master, salting, &mut salt);
        SessionKeys {
            cipher: Aes128::new(&key.into()),
            salt,
            // HMAC takes a key of any length.
            mac: <Hmac<Sha1> as Mac>::new_from_slice(&auth).expect("HMAC takes any key length"),
        }
    }

    /// XORs the keystream for (`ssrc`, `index`) into `data` (§4.1.1):
    /// IV = salt·2^16 ⊕ SSRC·2^64 ⊕ index·2^16.
    pub fn apply_keystream(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..SALT_LEN].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= i;
        }
        // The expanded key is copied, not computed again, for each packet.
        let core = CtrCore::inner_iv_init(self.cipher.clone(), &iv.into());
        Ctr::from_core(core).apply_keystream(data);
    }
}

/// The pseudo-random function of §4.3.1: AES-CM under the master key, with
/// IV = (master salt ⊕ label·2^48)·2^16 (the index part is 0 at rate 0).
fn prf(master: &MasterKey, label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..SALT_LEN].copy_from_slice(&master.salt);
    iv[7] ^= label;
    out.fill(0);
    let mut ctr = Ctr::new(&master.key.into(), &iv.into());
    ctr.apply_keystream(out);
}

/// For tests and benches: one raw AES block, to check the key schedule.
#[cfg(test)]
fn encrypt_block(key: &[u8; 16], block: [u8; 16]) -> [u8; 16] {
    use aes::cipher::BlockEncrypt;
    let mut block = block.into();
    Aes128::new(key.into()).encrypt_block(&mut block);
    block.into()
}

#[cfg(test)]
pub(super) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 Appendix B.3.
    fn rfc_master() -> MasterKey {
        let bytes = hex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6");
        MasterKey::from_bytes(&bytes.try_into().unwrap())
    }

    #[test]
    fn key_derivation_matches_rfc_3711_b3() {
        let master = rfc_master();
        let mut key = [0u8; 16];
        prf(&master, 0, &mut key);
        assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        prf(&master, 2, &mut salt);
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        // The RFC lists 94 bytes of the authentication keystream; SHA-1 uses 20.
        let mut auth = [0u8; 94];
        prf(&master, 1, &mut auth);
        assert_eq!(
            auth.to_vec(),
            hex(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE \
                 E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25 \
                 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );
        // The derived salt is what a session then uses.
        let keys = SessionKeys::derive(&master, Labels::Rtp);
        assert_eq!(keys.salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    }

    /// RFC 3711 Appendix B.2: session key and salt given, SSRC, ROC and
    /// sequence 0; the keystream at counters 0-2 and 0xFEFF-0xFF01.
    #[test]
    fn keystream_matches_rfc_3711_b2() {
        let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
        let keys = SessionKeys {
            cipher: Aes128::new(&key.into()),
            salt: hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap(),
            mac: <Hmac<Sha1> as Mac>::new_from_slice(&[0; 20]).unwrap(),
        };
        let mut stream = vec![0u8; 16 * 0xFF02];
        keys.apply_keystream(0, 0, &mut stream);
        let block = |n: usize| stream[16 * n..16 * (n + 1)].to_vec();
        assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xFEFF), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xFF00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xFF01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
        // Counter 0 is AES of the IV itself.
        assert_eq!(
            encrypt_block(
                &key,
                hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap()
            )
            .to_vec(),
            block(0)
        );
    }
}
