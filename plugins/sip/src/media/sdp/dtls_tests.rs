//! Offer and answer with DTLS-SRTP: the profile, `a=fingerprint` and
//! `a=setup` as RFC 5763 §5 wants them, and what each setting refuses.

use super::*;
use crate::media::srtp::dtls::{local_fingerprint, Fingerprint};

/// What baresip 1.0 offers with `mediaenc=dtls_srtp` (its fingerprint
/// made up here).
fn baresip_dtls_offer() -> String {
    let hex = vec!["5A"; 32].join(":");
    format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         m=audio 10000 UDP/TLS/RTP/SAVP 0 101\r\nc=IN IP4 127.0.0.1\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fingerprint:sha-256 {hex}\r\na=setup:actpass\r\na=sendrecv\r\n"
    )
}

fn codecs() -> Preference {
    Preference::new(&[Codec::Pcmu], |_, _| {})
}

fn security(encryption: Encryption) -> Security {
    Security {
        encryption,
        key: MasterKey::random().unwrap(),
        codecs: codecs(),
    }
}

const LOCAL: (IpAddr, u16) = (IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4000);

#[test]
fn a_dtls_offer_is_answered_active_with_our_fingerprint() {
    let offer = parse(baresip_dtls_offer().as_bytes()).unwrap();
    for encryption in [
        Encryption::Sdes,
        Encryption::SdesRequired,
        Encryption::Dtls,
        Encryption::DtlsRequired,
    ] {
        let agreed = offer.negotiate(encryption, &codecs()).unwrap();
        let dtls = agreed.dtls.expect("DTLS-SRTP agreed");
        assert_eq!(dtls.role, Role::Client, "{encryption:?}");
        assert_eq!(dtls.peer, Fingerprint([0x5A; 32]));
        assert_eq!(agreed.srtp, None);
        let key = MasterKey::random().unwrap();
        let answer = answer(&offer, &agreed, 7, LOCAL, &key);
        assert!(
            answer.contains("m=audio 4000 UDP/TLS/RTP/SAVP 0 101\r\n"),
            "{answer}"
        );
        let ours = local_fingerprint().unwrap();
        assert!(answer.contains(&ours.line()), "{answer}");
        assert!(answer.contains("a=setup:active\r\n"), "{answer}");
        assert!(!answer.contains("a=crypto"), "{answer}");
    }
    // "none" refuses it, as it refuses any RTP/SAVP.
    assert!(matches!(
        offer.negotiate(Encryption::None, &codecs()),
        Err(SdpError::EncryptionRefused(_))
    ));
}

#[test]
fn our_dtls_offer_is_actpass_and_reads_back_as_the_answer_says() {
    let ip = LOCAL.0;
    for encryption in [Encryption::Dtls, Encryption::DtlsRequired] {
        let sdp = offer(1, ip, 5004, &security(encryption));
        assert!(
            sdp.contains("m=audio 5004 UDP/TLS/RTP/SAVP 0 101\r\n"),
            "{sdp}"
        );
        assert!(sdp.contains("a=setup:actpass\r\n"), "{sdp}");
        assert!(!sdp.contains("a=crypto"), "{sdp}");
        let parsed = parse(sdp.as_bytes()).unwrap();
        assert_eq!(
            parsed.media[0].dtls.fingerprint,
            Some(local_fingerprint().unwrap())
        );
        // The peer answers passive: we connect. Active: it does.
        for (setup, role) in [("passive", Role::Client), ("active", Role::Server)] {
            let answer = sdp.replace("a=setup:actpass", &format!("a=setup:{setup}"));
            let agreed = parse(answer.as_bytes())
                .unwrap()
                .negotiate(encryption, &codecs())
                .unwrap();
            assert_eq!(agreed.dtls.map(|d| d.role), Some(role));
        }
    }
    // "sdes" offers keys, not a fingerprint, as before.
    let sdes = offer(1, ip, 5004, &security(Encryption::Sdes));
    assert!(
        sdes.contains("RTP/AVP") && sdes.contains("a=crypto:1 "),
        "{sdes}"
    );
    assert!(!sdes.contains("a=fingerprint"), "{sdes}");
}

#[test]
fn dtls_required_takes_nothing_else_and_dtls_takes_sdes() {
    let plain = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n";
    let plain = parse(plain.as_bytes()).unwrap();
    assert_eq!(
        plain.negotiate(Encryption::DtlsRequired, &codecs()),
        Err(SdpError::EncryptionRequired)
    );
    assert_eq!(
        plain.negotiate(Encryption::Dtls, &codecs()).unwrap().dtls,
        None
    );
    let sdes = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
    let sdes = parse(sdes.as_bytes()).unwrap();
    assert!(matches!(
        sdes.negotiate(Encryption::DtlsRequired, &codecs()),
        Err(SdpError::EncryptionRefused(_))
    ));
    let agreed = sdes.negotiate(Encryption::Dtls, &codecs()).unwrap();
    assert_eq!(agreed.srtp.map(|k| k.tag), Some(1));
    assert_eq!(agreed.dtls, None);
}

#[test]
fn a_dtls_offer_needs_a_sha_256_fingerprint_and_no_holdconn() {
    let offer = baresip_dtls_offer();
    let sha1 = offer.replace(
        &format!("sha-256 {}", vec!["5A"; 32].join(":")),
        "sha-1 5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A",
    );
    let none = offer.replace("a=fingerprint:", "a=x-fingerprint:");
    let held = offer.replace("a=setup:actpass", "a=setup:holdconn");
    for sdp in [sha1, none, held] {
        let err = parse(sdp.as_bytes())
            .unwrap()
            .negotiate(Encryption::Sdes, &codecs())
            .unwrap_err();
        assert!(matches!(err, SdpError::EncryptionRefused(_)), "{sdp}");
        assert!(err.to_string().contains("DTLS-SRTP"), "{err}");
    }
    // A session-level fingerprint serves the media; no a=setup is active.
    let session_level = offer
        .replace("a=setup:actpass\r\n", "")
        .replace(
            "t=0 0\r\n",
            &format!(
                "t=0 0\r\na=fingerprint:sha-256 {}\r\n",
                vec!["11"; 32].join(":")
            ),
        )
        .replace(
            &format!(
                "a=fingerprint:sha-256 {}\r\na=sendrecv",
                vec!["5A"; 32].join(":")
            ),
            "a=sendrecv",
        );
    let agreed = parse(session_level.as_bytes())
        .unwrap()
        .negotiate(Encryption::Sdes, &codecs())
        .unwrap()
        .dtls
        .unwrap();
    assert_eq!(
        (agreed.peer, agreed.role),
        (Fingerprint([0x11; 32]), Role::Server)
    );
}
