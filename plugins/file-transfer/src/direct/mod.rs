//! Files over MSRP in SIP sessions of their own (RFC 4975, RFC 5547, page
//! mode): the SIP plugin signals and carries the SDP as text
//! (`sip.take_session`, `sip.session.*`), this plugin reads and writes
//! that SDP and carries the bytes itself (docs/decisions/0066).
//!
//! Its own folder, between the MSRP protocol (`msrp/`, which knows
//! nothing of SIP or of offers) and the plugin's offers and transfers:
//! `take` (an incoming session becomes an offer in the one table of
//! offers), `receive` (an accepted one: answer, connect, receive),
//! `send` (the user's file to a peer), `address` (which address to write in our
//! SDP), `relayed` (through the MSRP relay, when one is set), `error` (what
//! failed, in plain words).

pub mod address;
pub mod error;
pub mod receive;
pub mod relayed;
pub mod send;
pub mod take;

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_sdk::commands::sip_session::End;
use tandem_sdk::Host;

/// A fresh random token of `len` letters and digits: MSRP session ids
/// (RFC 4975 §14.1 wants them unguessable: they are all that ties a
/// connection to its session) and RFC 5547 transfer ids.
pub fn token(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        // RandomState is seeded from the OS once per process, then varied
        // per instance: hashing a counter through a fresh one each time
        // gives 64 unpredictable bits per round.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut n = h.finish();
        for _ in 0..10 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
            n /= ALPHABET.len() as u64;
        }
    }
    out
}

/// Ends `session` (BYE, CANCEL or 487, as the SIP plugin sees fit); a
/// session already over answers an error, which changes nothing.
pub async fn end(host: &Host, session: &str) {
    let _ = host
        .call(&End {
            session: session.to_owned(),
        })
        .await;
}

/// SHA-1 of the file at `path`, lower-case hex: RFC 5547 offers carry
/// `sha-1` (its examples, and the MSRP stacks that follow them), so ours
/// carry it beside SHA-256, and a peer's is checked when it is the only
/// one offered. A second read of a file just written (from the page
/// cache), off the async threads.
pub async fn sha1_of(path: &Path) -> std::io::Result<String> {
    use sha1::{Digest, Sha1};
    use std::io::Read;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha1::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(crate::fetched::hex(&hasher.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit_tests {
    #[test]
    fn tokens_are_fresh_and_of_their_length() {
        let a = super::token(16);
        let b = super::token(16);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn sha1_is_the_rfc_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            super::sha1_of(&path).await.unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
