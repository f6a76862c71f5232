//! Two ends of a handshake against each other: in memory, with every
//! datagram handed across, and on loopback sockets as a call runs it.

use tandem_sdk::tokio;

use super::certificate::identity;
use super::endpoint::Endpoint;
use super::*;
use crate::media::srtp::{Inbound, Outbound};

/// Hands datagrams between the two ends until neither has anything to
/// say; answers whether both finished.
fn pump(client: &mut Endpoint, server: &mut Endpoint) -> bool {
    let mut client_done = client.drive().unwrap();
    let mut server_done = false;
    for _ in 0..20 {
        let mut quiet = true;
        while let Some(datagram) = client.outgoing() {
            assert!(is_dtls(&datagram));
            server_done = server.receive(&datagram).unwrap();
            quiet = false;
        }
        while let Some(datagram) = server.outgoing() {
            client_done = client.receive(&datagram).unwrap();
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    client_done && server_done
}

#[test]
fn two_ends_agree_on_keys_each_sending_with_its_own() {
    let identity = identity().expect("libssl3 is installed here");
    let mut client = Endpoint::new(identity, Role::Client).unwrap();
    let mut server = Endpoint::new(identity, Role::Server).unwrap();
    assert!(pump(&mut client, &mut server));
    let ours = client.keys(&identity.fingerprint).unwrap();
    let theirs = server.keys(&identity.fingerprint).unwrap();
    assert_eq!(ours.suite, crate::media::srtp::Suite::AesCm128HmacSha1_80);
    assert_eq!((ours.ours, ours.theirs), (theirs.theirs, theirs.ours));
    assert_ne!(ours.ours, ours.theirs);
    // What the client protects, the server opens.
    let mut packet = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    packet.extend_from_slice(&[0xAB; 160]);
    let plain = packet.clone();
    Outbound::new(ours.suite, &ours.ours).protect_rtp(&mut packet);
    assert_ne!(packet[12..172], plain[12..]);
    let len = Inbound::new(theirs.suite, &theirs.theirs)
        .unprotect_rtp(&mut packet)
        .unwrap();
    assert_eq!(packet[..len], plain[..]);
}

#[test]
fn a_certificate_that_is_not_the_sdps_is_refused() {
    let identity = identity().unwrap();
    let mut client = Endpoint::new(identity, Role::Client).unwrap();
    let mut server = Endpoint::new(identity, Role::Server).unwrap();
    assert!(pump(&mut client, &mut server));
    let mut tampered = identity.fingerprint;
    tampered.0[7] ^= 0x01;
    assert_eq!(client.keys(&tampered), Err(DtlsError::FingerprintMismatch));
    assert_eq!(server.keys(&tampered), Err(DtlsError::FingerprintMismatch));
    assert_eq!(
        Failure::from(&DtlsError::FingerprintMismatch).to_string(),
        "the peer's certificate does not match the fingerprint in its SDP"
    );
}

#[test]
fn junk_in_a_handshake_is_an_error_not_a_panic() {
    let identity = identity().unwrap();
    let mut server = Endpoint::new(identity, Role::Server).unwrap();
    let mut junk = vec![22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40];
    junk.extend_from_slice(&[0x55; 40]);
    // OpenSSL drops a malformed record silently, or fails the handshake.
    let _ = server.receive(&junk);
    assert!(!is_dtls(&[0x80, 0]));
    assert!(!is_dtls(&[0, 1]));
    assert!(!is_dtls(&[]));
}

#[tokio::test]
async fn a_call_runs_both_components_over_loopback_sockets() {
    use tandem_sdk::tokio::net::UdpSocket;
    let bind = || async {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = rtp.local_addr().unwrap().port();
        match UdpSocket::bind(("127.0.0.1", port + 1)).await {
            Ok(rtcp) => Some((rtp, rtcp)),
            Err(_) => None,
        }
    };
    let (a, b) = loop {
        if let (Some(a), Some(b)) = (bind().await, bind().await) {
            break (a, b);
        }
    };
    let fingerprint = local_fingerprint().unwrap();
    let (a_addr, b_addr) = (a.0.local_addr().unwrap(), b.0.local_addr().unwrap());
    let (client, server) = tandem_sdk::tokio::join!(
        Association::establish(Role::Client, fingerprint, (&a.0, &a.1), b_addr),
        Association::establish(Role::Server, fingerprint, (&b.0, &b.1), a_addr),
    );
    let (client, server) = (client.unwrap(), server.unwrap());
    assert_eq!(client.rtp_keys.ours, server.rtp_keys.theirs);
    assert_eq!(client.rtcp_keys.ours, server.rtcp_keys.theirs);
    assert_ne!(client.rtp_keys.ours, client.rtcp_keys.ours);
}

#[test]
fn check_notes_only_where_openssl_is_missing_and_could_be_used() {
    use crate::config::encryption::Encryption;
    // OpenSSL is installed here: nothing to say, whatever the setting.
    for setting in [None, Some(Encryption::Dtls), Some(Encryption::None)] {
        assert_eq!(left_out(setting), None);
    }
    assert_eq!(
        Failure::from(&DtlsError::TimedOut(15)).to_string(),
        "the encryption handshake with the peer did not finish"
    );
    assert_eq!(
        Unavailable::Missing("libssl.so.3").to_string(),
        "DTLS-SRTP unavailable: libssl.so.3 not found (install libssl3)"
    );
}
