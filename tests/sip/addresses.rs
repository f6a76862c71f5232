//! The addresses Tandem gives peers: in SDP (where RTP must be sent) and
//! in Contact (where requests in the dialog go). A wildcard listener names
//! the interface that reaches the peer, never loopback to a peer elsewhere;
//! `media_address` is written in SDP without being bound.

use crate::{scenario, AUTO_ANSWER};
use serde_json::json;
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
    let line = addresses_line(local, target, sink, millis, &[]);
    (
        field(&line, "media").to_owned(),
        field(&line, "origin").to_owned(),
        field(&line, "contact").to_owned(),
    )
}

/// sipp's "addresses …" log line for that call, `extra` added to its
/// arguments (`-t t1`: over TCP).
fn addresses_line(
    local: IpAddr,
    target: SocketAddr,
    sink: &UdpSocket,
    millis: u32,
    extra: &[&str],
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let (local, target) = (local.to_string(), target.to_string());
    let sink = sink.local_addr().unwrap().port().to_string();
    let millis = millis.to_string();
    let scenario = scenario("addresses_uac.xml");
    let mut args = vec![
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
    ];
    args.extend(extra);
    args.push(&target);
    // sipp's -i 127.0.0.1 (in every command) is overridden by this one.
    sipp::run_ok(&args, dir.path());
    logged(dir.path(), "addresses ")
}

/// sipp playing a scenario once on a free port of its own, logging its
/// `<log>` actions (`-trace_logs`), in a folder of its own.
struct Peer {
    sipp: sipp::Background,
    dir: tempfile::TempDir,
    port: String,
}

impl Peer {
    fn start(name: &str, extra: &[&str]) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let port = sipp::free_udp_port().to_string();
        let scenario = scenario(name);
        let mut args = vec!["-sf", &scenario, "-m", "1", "-p", &port, "-trace_logs"];
        args.extend(extra);
        let sipp = sipp::Background::start(&args, dir.path());
        Peer { sipp, dir, port }
    }

    /// Waits for sipp to end as its scenario says; its folder, to read.
    fn finish(self) -> tempfile::TempDir {
        self.sipp.wait_ok(self.dir.path());
        self.dir
    }
}

/// The first line of sipp's `-trace_logs` files in `dir` that starts with
/// `prefix`.
pub(crate) fn logged(dir: &Path, prefix: &str) -> String {
    let log = logs(dir);
    log.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("sipp logged no {prefix:?}: {log}"))
        .to_owned()
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

pub(crate) fn rtp_sink(ip: IpAddr) -> UdpSocket {
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
pub(crate) fn pcmu_packet(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend(seq.to_be_bytes());
    packet.extend((u32::from(seq) * 160).to_be_bytes());
    packet.extend(0x1234_5678u32.to_be_bytes());
    packet.extend([0xffu8; 160]);
    packet
}

/// Over TCP every Contact Tandem sends says `;transport=tcp`: the
/// REGISTER's (rsipstack's own said nothing, so a plain proxy sent the
/// INVITEs for it over UDP to a TCP port: a 408), an INVITE's and a 2xx's.
/// sipp checks each.
#[test]
fn every_contact_sent_over_tcp_says_transport_tcp() {
    let registrar = Peer::start("registrar_contact.xml", &["-t", "t1"]);
    let registrar_port = &registrar.port;
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\ntransports = [\"udp\", \"tcp\"]\n\
             registrar = \"sip:127.0.0.1:{registrar_port};transport=tcp\"\n\
             password = \"secret\"\naccept_from = \"anyone\"\n{AUTO_ANSWER}"
        ),
        &["auto-answer"],
    );
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    let register = logged(registrar.finish().path(), "REGISTER contact=");
    assert!(register.contains("sip:alice@127.0.0.1:"), "{register}");

    // Tandem calls over TCP.
    let callee = Peer::start("invite_contact_uas.xml", &["-t", "t1"]);
    let callee_port = &callee.port;
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{callee_port};transport=tcp") }),
        )
        .unwrap();
    let invite = logged(callee.finish().path(), "INVITE contact=");
    let tcp_port = format!(":{};transport=", tandem.sip_port());
    assert!(invite.contains(&tcp_port), "our TCP listener: {invite}");

    // A call over TCP answered: the 2xx's Contact.
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let sink = rtp_sink(loopback);
    let target = SocketAddr::new(loopback, tandem.sip_port());
    let line = addresses_line(loopback, target, &sink, 500, &["-t", "t1"]);
    assert_eq!(field(&line, "transport").to_lowercase(), "tcp", "{line}");
    // Over UDP, the same call's Contact has none (UDP is the default).
    let line = addresses_line(loopback, target, &sink, 500, &[]);
    assert_eq!(field(&line, "transport"), "", "{line}");
}

/// Behind a NAT the registrar shows (its answer's `received`/`rport`), a
/// call through it names that public address in Contact and SDP: a plain
/// proxy could otherwise deliver neither the ACK nor the BYE to the
/// private address, and no audio would come in.
#[test]
fn calls_through_the_registrar_name_the_public_address_it_saw() {
    let registrar = Peer::start("registrar_nat.xml", &[]);
    let registrar_port = &registrar.port;
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nregistrar = \"sip:127.0.0.1:{registrar_port}\"\n\
             password = \"secret\"\n{AUTO_ANSWER}"
        ),
        &["auto-answer"],
    );
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    registrar.finish();
    tandem.wait_for("the registrar sees us at 198.51.100.77:40000 (UDP)");

    // The registrar's address calls (as the proxy relaying a call would).
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let sink = rtp_sink(loopback);
    let target = SocketAddr::new(loopback, tandem.sip_port());
    let given = addresses_given(loopback, target, &sink, 500);
    let public = "198.51.100.77".to_owned();
    assert_eq!(
        given,
        (public.clone(), public.clone(), public),
        "(media, origin, contact)"
    );
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
}
