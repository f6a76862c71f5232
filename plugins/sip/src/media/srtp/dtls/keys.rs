//! The SRTP keys a DTLS handshake yields (RFC 5764 §4.2): 60 bytes from
//! the exporter, laid out as client key, server key, client salt, server
//! salt; the client sends with the client's, the server with the server's.

use super::attributes::Role;
use crate::media::srtp::key::{KEY_LEN, SALT_LEN};
use crate::media::srtp::{MasterKey, Suite};

/// Two keys and two salts.
pub const MATERIAL_LEN: usize = 2 * (KEY_LEN + SALT_LEN);

/// A component's SRTP: the suite, the key we send with, the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: Suite,
    pub ours: MasterKey,
    pub theirs: MasterKey,
}

pub fn split(suite: Suite, material: &[u8; MATERIAL_LEN], role: Role) -> SrtpKeys {
    let (keys, salts) = material.split_at(2 * KEY_LEN);
    let master = |n: usize| {
        let mut bytes = [0u8; KEY_LEN + SALT_LEN];
        bytes[..KEY_LEN].copy_from_slice(&keys[n * KEY_LEN..(n + 1) * KEY_LEN]);
        bytes[KEY_LEN..].copy_from_slice(&salts[n * SALT_LEN..(n + 1) * SALT_LEN]);
        MasterKey::from_bytes(&bytes)
    };
    let (client, server) = (master(0), master(1));
    let (ours, theirs) = match role {
        Role::Client => (client, server),
        Role::Server => (server, client),
    };
    SrtpKeys {
        suite,
        ours,
        theirs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_material_splits_as_rfc_5764_lays_it_out() {
        let material: [u8; MATERIAL_LEN] = std::array::from_fn(|i| i as u8);
        let suite = Suite::AesCm128HmacSha1_80;
        let client = split(suite, &material, Role::Client);
        let bytes = client.ours.to_bytes();
        // client_write_SRTP_master_key = bytes 0..16, its salt 32..46.
        assert_eq!(bytes[..16], material[..16]);
        assert_eq!(bytes[16..], material[32..46]);
        // server_write_SRTP_master_key = bytes 16..32, its salt 46..60.
        let theirs = client.theirs.to_bytes();
        assert_eq!(theirs[..16], material[16..32]);
        assert_eq!(theirs[16..], material[46..60]);
        let server = split(suite, &material, Role::Server);
        assert_eq!((server.ours, server.theirs), (client.theirs, client.ours));
    }
}
