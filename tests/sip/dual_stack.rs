//! One Tandem reached over IPv4 and IPv6 at once (`listen` naming one
//! address of each family, decision 0075): each peer is answered and
//! called in its own family, its Via, Contact and SDP naming our address
//! of that family, and RTP flowing both ways over it.

use crate::addresses::{logged, pcmu_packet, rtp_sink};
use crate::{scenario, AUTO_ANSWER};
use serde_json::json;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;
use tandem_tests::sidecar::{field, nth_event_line, Sidecar};
use tandem_tests::sipp;

const V4: &str = "127.0.0.1";
const V6: &str = "::1";

/// Tandem listening on both loopbacks, one free port for both families,
/// over UDP and TCP, answering every call (`extra` added to its config).
fn dual_stack_tandem(extra: &str) -> Sidecar {
    let env = [(
        "TANDEM_PLUGINS__SIP__LISTEN".to_owned(),
        "127.0.0.1:0, [::1]:0".to_owned(),
    )];
    let config = format!("transports = [\"udp\", \"tcp\"]\n{extra}{AUTO_ANSWER}");
    Sidecar::start_sip_with_env(&config, &["auto-answer"], &env)
}

/// How an address is written in SDP (`IP4`, `IP6`) and in a URI.
fn sdp_family(ip: IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "IP6"
    } else {
        "IP4"
    }
}

fn uri_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// sipp's `-key`s naming the test's RTP socket `sink` on `ip` (for the
/// SDP of the dual-stack scenarios).
fn media_keys(ip: IpAddr, sink: &UdpSocket) -> Vec<String> {
    let port = sink.local_addr().unwrap().port().to_string();
    let keys = [("rtp_sink", port), ("sink_ip", ip.to_string())];
    let keys = keys
        .into_iter()
        .chain([("sink_family", sdp_family(ip).to_owned())]);
    keys.flat_map(|(k, v)| ["-key".to_owned(), k.to_owned(), v])
        .collect()
}

/// RTP both ways on `sink`: waits for Tandem's first packet, then sends
/// `count` to where it came from (Tandem's RTP is symmetric: sent from the
/// port its SDP names). Gives where Tandem's RTP came from.
fn exchange_rtp(sink: &UdpSocket, count: u16) -> SocketAddr {
    let mut buf = [0u8; 1500];
    let (_, from) = sink.recv_from(&mut buf).expect("no RTP from Tandem");
    for seq in 0..count {
        sink.send_to(&pcmu_packet(seq), from).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    from
}

/// The `n`th (from 1) `sip.call.ended` event line in `tandem`'s log.
fn nth_ended(tandem: &Sidecar, n: usize) -> String {
    let log = tandem.wait_for_n("SIP sip.call.ended", n);
    nth_event_line(&log, "sip.call.ended", n)
}

/// sipp calls Tandem from `ip` over `transport` (`u1` UDP, `t1` TCP) and
/// keeps the call up while RTP flows both ways; gives sipp's "answered"
/// line and where Tandem's RTP came from.
fn call_in(tandem: &Sidecar, ip: IpAddr, transport: &str, sent: u16) -> (String, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let sink = rtp_sink(ip);
    let local = ip.to_string();
    let port = sipp::free_udp_port().to_string();
    let target = SocketAddr::new(ip, tandem.sip_port()).to_string();
    let scenario = scenario("dual_stack_uac.xml");
    let keys = media_keys(ip, &sink);
    let mut args = vec![
        "-sf", &scenario, "-m", "1", "-i", &local, "-p", &port, "-t", transport,
    ];
    args.extend(keys.iter().map(String::as_str));
    args.extend(["-d", "3000", "-trace_logs", &target]);
    let from = std::thread::scope(|scope| {
        let media = scope.spawn(|| exchange_rtp(&sink, sent));
        // sipp's -i 127.0.0.1 (in every command) is overridden by this one.
        sipp::run_ok(&args, dir.path());
        media.join().unwrap()
    });
    (logged(dir.path(), "answered "), from)
}

/// sipp over 127.0.0.1 and over [::1], UDP and TCP, calls the one Tandem:
/// each call is answered with a Contact and SDP of the caller's family
/// (`c=IN IP6 ::1` to the IPv6 caller, RTP from an IPv6 socket), and the
/// caller's RTP reaches Tandem. With one `listen` address, the other
/// family's calls could not even reach it.
#[test]
fn callers_over_ipv4_and_ipv6_are_answered_each_in_its_own_family() {
    let tandem = dual_stack_tandem("");
    let status = tandem.call("sip.status", json!({})).unwrap();
    let listening: Vec<&str> = status["listening"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let port = tandem.sip_port();
    assert_eq!(
        listening,
        [
            format!("udp 127.0.0.1:{port}"),
            format!("udp [::1]:{port}"),
            format!("tcp 127.0.0.1:{port}"),
            format!("tcp [::1]:{port}"),
        ],
        "one port for both families and both transports"
    );
    let started = tandem.wait_for("listening on ");
    assert!(
        started.contains(&format!("udp [::1]:{port}")),
        "the startup log says every address: {started}"
    );

    let sent = 25;
    let calls = [(V4, "u1"), (V6, "u1"), (V6, "t1"), (V4, "t1")];
    for (n, (ip, transport)) in calls.into_iter().enumerate() {
        let ip: IpAddr = ip.parse().unwrap();
        let (answered, rtp_from) = call_in(&tandem, ip, transport, sent);
        let what = format!("a call from {ip} over {transport}: {answered}");
        assert_eq!(field(&answered, "family"), sdp_family(ip), "{what}");
        assert_eq!(field(&answered, "media"), ip.to_string(), "{what}");
        assert_eq!(field(&answered, "contact"), uri_host(ip), "{what}");
        let transport_param = if transport == "t1" { "tcp" } else { "" };
        assert_eq!(
            field(&answered, "transport").to_ascii_lowercase(),
            transport_param,
            "{what}"
        );
        assert_eq!(rtp_from.ip(), ip, "Tandem's RTP comes from its {ip} socket");
        assert_eq!(
            field(&answered, "port"),
            rtp_from.port().to_string(),
            "symmetric RTP: {what}"
        );
        let ended = nth_ended(&tandem, n + 1);
        assert_eq!(field(&ended, "rx"), sent.to_string(), "{what}: {ended}");
        assert_ne!(field(&ended, "tx"), "0", "{what}: {ended}");
    }
    assert!(!tandem.log().contains("panicked"));
}

/// sipp playing `name` (a file in `tests/sipp/`) once on `ip` and a free
/// port of its own, `extra` added, logging to `dir`; with that port.
fn sipp_once(
    name: &str,
    ip: &str,
    extra: &[&str],
    dir: &std::path::Path,
) -> (sipp::Background, String) {
    let port = sipp::free_udp_port().to_string();
    let scenario = scenario(name);
    let mut args = vec!["-sf", &scenario, "-m", "1", "-trace_logs"];
    args.extend(["-i", ip, "-p", &port]);
    args.extend(extra);
    (sipp::Background::start(&args, dir), port)
}

/// A callee sipp on `ip` for one call, answering with its media at `sink`.
struct Callee {
    sipp: sipp::Background,
    dir: tempfile::TempDir,
    port: String,
}

impl Callee {
    fn start(ip: IpAddr, sink: &UdpSocket) -> Callee {
        let dir = tempfile::tempdir().unwrap();
        let keys = media_keys(ip, sink);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let local = ip.to_string();
        let (sipp, port) = sipp_once("dual_stack_uas.xml", &local, &keys, dir.path());
        Callee { sipp, dir, port }
    }

    /// Waits for sipp to end as its scenario says; its "invited" line.
    fn finish(self) -> String {
        self.sipp.wait_ok(self.dir.path());
        logged(self.dir.path(), "invited ")
    }
}

/// Tandem calls a callee at [::1] and one at 127.0.0.1: each INVITE leaves
/// from the socket of the callee's family and says so (Via, Contact, SDP
/// `c=`), and RTP flows both ways over that family.
#[test]
fn tandem_calls_ipv6_and_ipv4_callees_each_in_its_own_family() {
    let tandem = dual_stack_tandem("");
    let port = tandem.sip_port();
    let sent = 25;
    for (n, ip) in [V6, V4].into_iter().enumerate() {
        let ip: IpAddr = ip.parse().unwrap();
        let sink = rtp_sink(ip);
        let callee = Callee::start(ip, &sink);
        let to = format!("sip:bob@{}:{}", uri_host(ip), callee.port);
        let call = tandem.call("sip.call", json!({ "to": to })).unwrap();
        let rtp_from = exchange_rtp(&sink, sent);
        // Hung up once Tandem has read them all: a loaded machine may be a
        // packet behind when the last one leaves.
        let id = call["call"].as_str().unwrap();
        let within = Duration::from_secs(10);
        tandem.wait_media_counter(id, "packets_received", sent.into(), within);
        tandem
            .call("sip.hangup", json!({ "call": call["call"] }))
            .unwrap();
        let invited = callee.finish();
        let what = format!("a call to {to}: {invited}");
        let ours = format!("{}:{port}", uri_host(ip));
        assert_eq!(field(&invited, "via"), ours, "{what}");
        assert_eq!(field(&invited, "contact"), uri_host(ip), "{what}");
        assert_eq!(field(&invited, "family"), sdp_family(ip), "{what}");
        assert_eq!(field(&invited, "media"), ip.to_string(), "{what}");
        assert_eq!(rtp_from.ip(), ip, "Tandem's RTP comes from its {ip} socket");
        let ended = nth_ended(&tandem, n + 1);
        assert_eq!(field(&ended, "rx"), sent.to_string(), "{what}: {ended}");
        assert_ne!(field(&ended, "tx"), "0", "{what}: {ended}");
    }
}

/// A MESSAGE to [::1] and one to 127.0.0.1 from the one Tandem: each
/// leaves by the socket of its family and its Via says so (rsipstack
/// would name its first listener, IPv4, for both), and each is answered.
#[test]
fn messages_to_ipv6_and_ipv4_leave_each_in_its_own_family() {
    let tandem = dual_stack_tandem("");
    let port = tandem.sip_port();
    for ip in [V6, V4] {
        let ip: IpAddr = ip.parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let local = ip.to_string();
        let (receiver, peer_port) =
            sipp_once("dual_stack_message_uas.xml", &local, &[], dir.path());
        let to = format!("sip:bob@{}:{peer_port}", uri_host(ip));
        let sent = tandem
            .call("sip.send_message", json!({ "to": to, "body": "hello" }))
            .unwrap();
        assert_eq!(sent["code"], 200, "{to}: {sent}");
        receiver.wait_ok(dir.path());
        let noted = logged(dir.path(), "message ");
        let ours = format!("{}:{port}", uri_host(ip));
        assert_eq!(field(&noted, "via"), ours, "a MESSAGE to {to}: {noted}");
    }
}

/// A dual-stack Tandem registering over UDP with a registrar at [::1]:
/// the REGISTER's Via and Contact name our IPv6 address (rsipstack's
/// own Contact would be its first listener's, IPv4, where an IPv6-only
/// registrar could never send a call).
#[test]
fn a_registrar_over_ipv6_is_told_our_ipv6_address() {
    let dir = tempfile::tempdir().unwrap();
    let (registrar, registrar_port) = sipp_once("dual_stack_registrar.xml", V6, &[], dir.path());
    let tandem = dual_stack_tandem(&format!(
        "user = \"alice\"\nregistrar = \"sip:[::1]:{registrar_port}\"\npassword = \"secret\"\n"
    ));
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    registrar.wait_ok(dir.path());
    let noted = logged(dir.path(), "registered ");
    let port = tandem.sip_port();
    assert_eq!(field(&noted, "via"), format!("[::1]:{port}"), "{noted}");
    assert_eq!(field(&noted, "contact"), "[::1]", "{noted}");
}

/// `tandem check` says every address a dual-stack `listen` will take, by
/// family, TLS beside each; and a list naming one family twice is refused
/// in plain words before anything starts.
#[test]
fn check_names_every_address_and_refuses_a_family_named_twice() {
    let plugins = tandem_tests::plugin_folder(&["tandem_plugin_sip"]);
    let dir = tempfile::tempdir().unwrap();
    let check = |listen: &str| {
        let config = format!(
            "[host]\nplugin_dirs = [{plugins:?}]\ndefault_plugin_dirs = false\nscript_dirs = []\n\
             control_socket = \"control.sock\"\n\n[plugins.sip]\nlisten = {listen}\n\
             transports = [\"udp\", \"tcp\"]\n",
            plugins = plugins.path().display().to_string(),
        );
        let cfg = tandem_tests::write(dir.path(), "tandem.toml", &config);
        let out = std::process::Command::new(tandem_tests::tandem_bin())
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, out) = check(r#"["0.0.0.0:5060", "[::]:5060"]"#);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "listens over IPv4 and IPv6: udp and tcp on 0.0.0.0:5060 (IPv4) and [::]:5060 (IPv6)"
        ),
        "{out}"
    );
    let (ok, out) = check(r#"["127.0.0.1:5060", "0.0.0.0:5060"]"#);
    assert!(!ok, "{out}");
    assert!(out.contains("listen names two IPv4 addresses"), "{out}");
}
