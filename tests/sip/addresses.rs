//! The addresses Tandem gives peers: in SDP (where RTP must be sent) and
//! in Contact (where requests in the dialog go). A wildcard listener names
//! the interface that reaches the peer, never loopback to a peer elsewhere;
//! `media_address` is written in SDP without being bound.

use crate::{scenario, AUTO_ANSWER};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

/// sipp (`addresses_uac.xml`) calls Tandem at `target` from `local`, its
/// media at `sink`, for `millis`; returns the addresses the 200 OK gave:
/// SDP `c=`, SDP `o=`, and the Contact's host.
fn addresses_given(
    local: IpAddr,
    target: SocketAddr,
    sink: &UdpSocket,
    millis: u32,
) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let (local, target) = (local.to_string(), target.to_string());
    let sink = sink.local_addr().unwrap().port().to_string();
    let millis = millis.to_string();
    let scenario = scenario("addresses_uac.xml");
    let args = [
        "-sf",
        &scenario,
        "-m",
        "1",
        "-i",
        &local,
        "-p",
        &port,
        "-key",
        "rtp_sink",
        &sink,
        "-d",
        &millis,
        "-trace_logs",
        &target,
    ];
    // sipp's -i 127.0.0.1 (in every command) is overridden by this one.
    sipp::run_ok(&args, dir.path());
    let log = logs(dir.path());
    let line = log
        .lines()
        .find(|l| l.starts_with("addresses "))
        .unwrap_or_else(|| panic!("sipp logged no addresses: {log}"));
    (
        field(line, "media").to_owned(),
        field(line, "origin").to_owned(),
        field(line, "contact").to_owned(),
    )
}

/// sipp's `-trace_logs` files in `dir`.
fn logs(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_logs.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

/// This host's address on its default route, if it has one that is not
/// loopback (a documentation address stands for "anywhere"; nothing is
/// sent to it).
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("198.51.100.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

fn rtp_sink(ip: IpAddr) -> UdpSocket {
    let sink = UdpSocket::bind((ip, 0)).unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sink
}

/// With `listen = "0.0.0.0:…"`, the README's own example, a peer is told
/// the address of the interface that reaches it: loopback to a peer on
/// loopback, the host's own address to a peer that came to it (it used to
/// be loopback in SDP for everyone, and the host's first interface in
/// Contact).
#[test]
fn a_wildcard_listener_names_the_interface_that_reaches_the_peer() {
    let env = [(
        "TANDEM_PLUGINS__SIP__LISTEN".to_owned(),
        "0.0.0.0:0".to_owned(),
    )];
    let tandem = Sidecar::start_sip_with_env(AUTO_ANSWER, &["auto-answer"], &env);
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let sink = rtp_sink(loopback);
    let target = SocketAddr::new(loopback, tandem.sip_port());
    let given = addresses_given(loopback, target, &sink, 500);
    let expected = (
        "127.0.0.1".to_owned(),
        "127.0.0.1".to_owned(),
        "127.0.0.1".to_owned(),
    );
    assert_eq!(
        given, expected,
        "(media, origin, contact) to a peer on loopback"
    );

    // A peer that reaches the host's own address. A host with no such
    // address (offline) has only the loopback case above to show.
    let Some(own) = non_loopback_address() else {
        eprintln!("no non-loopback address on this host: only loopback checked");
        return;
    };
    let sink = rtp_sink(own);
    let target = SocketAddr::new(own, tandem.sip_port());
    let given = addresses_given(own, target, &sink, 500);
    let own = own.to_string();
    assert_eq!(
        given,
        (own.clone(), own.clone(), own),
        "(media, origin, contact)"
    );
    let log = tandem.wait_for_n("SIP sip.call.ended", 2);
    assert!(!log.contains("panicked"), "{log}");
}

/// `media_address` is what SDP says; `media_bind` is where RTP binds.
/// Advertising an address that is not the bound one (a NAT's public
/// address, here a second loopback address reaching the wildcard) works:
/// it used to be bound too, and every call failed on an address not ours.
#[test]
fn media_address_is_advertised_and_rtp_sent_there_arrives() {
    let tandem = Sidecar::start_sip(
        &format!("media_address = \"127.0.0.2\"\nmedia_bind = \"0.0.0.0\"\n{AUTO_ANSWER}"),
        &["auto-answer"],
    );
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let sink = rtp_sink(loopback);
    let target = SocketAddr::new(loopback, tandem.sip_port());
    let sent = 25;
    let peer = std::thread::scope(|scope| {
        // The peer's media: it waits for Tandem's first packet (symmetric
        // RTP: sent from the port its SDP names), then sends its own to the
        // SDP's address, 127.0.0.2, which Tandem did not bind.
        let media = scope.spawn(|| {
            let mut buf = [0u8; 1500];
            let (_, from) = sink.recv_from(&mut buf).expect("no RTP from Tandem");
            for seq in 0..sent {
                sink.send_to(&pcmu_packet(seq), ("127.0.0.2", from.port()))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            from
        });
        let given = addresses_given(loopback, target, &sink, 3000);
        (given, media.join().unwrap())
    });
    let ((media, origin, contact), from) = peer;
    assert_eq!(media, "127.0.0.2", "SDP's c= is media_address");
    assert_eq!(origin, "127.0.0.2", "SDP's o= is media_address");
    assert_eq!(contact, "127.0.0.1", "Contact is the SIP listener's");
    assert!(from.ip().is_loopback(), "{from}");
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "rx"), sent.to_string(), "{ended}");
    assert_ne!(field(&ended, "tx"), "0", "{ended}");
}

/// One RTP packet of PCMU silence (RFC 3550 header, payload type 0).
fn pcmu_packet(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend(seq.to_be_bytes());
    packet.extend((u32::from(seq) * 160).to_be_bytes());
    packet.extend(0x1234_5678u32.to_be_bytes());
    packet.extend([0xffu8; 160]);
    packet
}
