//! A master key and salt (RFC 3711 §8.2): 30 random bytes, from the
//! operating system's generator, that never reach a log.

use rand::TryRng;

pub const KEY_LEN: usize = 16;
pub const SALT_LEN: usize = 14;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MasterKey {
    pub(super) key: [u8; KEY_LEN],
    pub(super) salt: [u8; SALT_LEN],
}

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error("no random bytes from the operating system for an SRTP key: {0}")]
pub struct RandomError(String);

impl MasterKey {
    /// A fresh key from the OS generator (getrandom), not a user-space PRNG:
    /// a key is made once per call, so the cost does not matter.
    pub fn random() -> Result<MasterKey, RandomError> {
        let mut bytes = [0u8; KEY_LEN + SALT_LEN];
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| RandomError(e.to_string()))?;
        Ok(MasterKey::from_bytes(&bytes))
    }

    /// Key then salt, as SDES's `inline:` carries them.
    pub fn from_bytes(bytes: &[u8; KEY_LEN + SALT_LEN]) -> MasterKey {
        let mut key = [0u8; KEY_LEN];
        let mut salt = [0u8; SALT_LEN];
        key.copy_from_slice(&bytes[..KEY_LEN]);
        salt.copy_from_slice(&bytes[KEY_LEN..]);
        MasterKey { key, salt }
    }

    pub fn to_bytes(self) -> [u8; KEY_LEN + SALT_LEN] {
        let mut bytes = [0u8; KEY_LEN + SALT_LEN];
        bytes[..KEY_LEN].copy_from_slice(&self.key);
        bytes[KEY_LEN..].copy_from_slice(&self.salt);
        bytes
    }
}

/// Never the bytes: a key that reached a log would be a call overheard.
impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(hidden)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_keys_differ_and_never_print() {
        let a = MasterKey::random().unwrap();
        let b = MasterKey::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(MasterKey::from_bytes(&a.to_bytes()), a);
        assert_eq!(format!("{a:?}"), "MasterKey(hidden)");
    }
}
