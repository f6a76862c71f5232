//! The SIP plugin against real peers on loopback: sipp's own scenarios and
//! baresip, each started by the test.

use serde_json::json;
use tandem_tests::baresip::Baresip;
use tandem_tests::kamailio::Kamailio;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;
use tandem_tests::sound::SoundServer;

const AUTO_ANSWER: &str = "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n";

#[test]
fn sipp_calls_and_the_auto_answer_rule_picks_up() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sn",
            "uac",
            "-m",
            "1",
            "-d",
            "500",
            "-s",
            "bob",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    let incoming = event_line(&log, "sip.call.incoming");
    assert!(
        field(&incoming, "peer").starts_with("sip:sipp@127.0.0.1"),
        "{incoming}"
    );
    assert!(log.contains("SIP sip.call.answered"), "{log}");
    let ended = event_line(&log, "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    assert_eq!(field(&ended, "call"), field(&incoming, "call"));
}

#[test]
fn tandem_calls_sipp_and_hangs_up() {
    let tandem = Sidecar::start_sip("", &[]);
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::start(&["-sn", "uas", "-m", "1", "-p", &port], dir.path());
    let call = tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:service@127.0.0.1:{port}") }),
        )
        .unwrap();
    let id = call["call"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{call}");
    let log = tandem.wait_for("SIP sip.call.answered");
    assert!(
        log.contains("SIP sip.call.ringing"),
        "sipp's uas sends 180 first:\n{log}"
    );
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    uas.wait_ok(dir.path());
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
    assert!(
        field(&ended, "tx").parse::<u64>().unwrap() > 0,
        "we sent RTP: {ended}"
    );
}

#[test]
fn audio_and_dtmf_from_sipp_are_received_and_counted() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    // sipp's uac_pcap plays pcap/g711a.pcap (8 s of A-law) then an RFC 4733
    // "1" from pcap/dtmf_2833_1.pcap; sipp needs raw sockets (root) for it.
    std::fs::create_dir(dir.path().join("pcap")).unwrap();
    for file in ["g711a.pcap", "dtmf_2833_1.pcap"] {
        std::os::unix::fs::symlink(
            format!("/usr/share/sip-tester/{file}"),
            dir.path().join("pcap").join(file),
        )
        .unwrap();
    }
    let media_port = sipp::free_udp_port().to_string();
    sipp::run_ok(
        &[
            "-sn",
            "uac_pcap",
            "-m",
            "1",
            "-mp",
            &media_port,
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    let ended = event_line(&log, "sip.call.ended");
    // Every packet of the two captures: 236 of audio, 10 of DTMF.
    assert_eq!(field(&ended, "rx"), "246", "{ended}");
    assert_eq!(field(&ended, "lost"), "0", "{ended}");
    assert_eq!(field(&ended, "dtmf"), "1", "{ended}");
    assert!(
        log.contains("SIP sip.dtmf") && log.contains("digit=1"),
        "{log}"
    );
}

fn scenario(name: &str) -> String {
    sipp::scenario_path(name)
}

/// A sidecar registering as `user` with the registrar on loopback `port`.
fn registering(user: &str, port: &str, password: &str) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = {user:?}\nregistrar = \"sip:127.0.0.1:{port}\"\npassword = {password:?}\n"
        ),
        &[],
    )
}

#[test]
fn registers_with_digest_auth_and_unregisters_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let registrar = sipp::Background::once("registrar.xml", &port, dir.path());
    let tandem = registering("alice", &port, "secret");
    let log = tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    assert!(log.contains("state=registering"), "{log}");
    registrar.wait_ok(dir.path());
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["registration"], "registered", "{status}");
    // Shutting down takes the binding off the registrar.
    let unregister = sipp::Background::once("unregister.xml", &port, dir.path());
    drop(tandem);
    unregister.wait_ok(dir.path());
}

#[test]
fn stopping_with_a_register_in_flight_still_takes_the_binding_off() {
    // The registrar may have taken a REGISTER whose answer has not come
    // back yet: shutting down then sends the un-REGISTER all the same.
    let registrar = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    registrar
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let port = registrar.local_addr().unwrap().port().to_string();
    let tandem = registering("alice", &port, "secret");
    let mut buf = vec![0u8; 65_536];
    let (n, _) = registrar.recv_from(&mut buf).expect("a REGISTER");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.starts_with("REGISTER "), "{first}");
    drop(tandem);
    let unregister = loop {
        let (n, _) = registrar.recv_from(&mut buf).expect("an un-REGISTER");
        let request = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        if request.contains("expires: 0\r\n") || request.contains("expires=0") {
            break request;
        }
    };
    assert!(unregister.starts_with("register "), "{unregister}");
}

#[test]
fn of_several_challenges_the_topmost_tandem_can_answer_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let registrar = sipp::Background::once("registrar_rfc8760.xml", &port, dir.path());
    let tandem = registering("alice", &port, "secret");
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    // sipp checked the MD5 answer (verifyauth) and its algorithm and qop.
    registrar.wait_ok(dir.path());
}

#[test]
fn registers_with_a_real_registrar_using_sha_256_digest() {
    let mut registrar = Kamailio::start("SHA-256", "secret");
    let tandem = registering("alice", &registrar.port.to_string(), "secret");
    let log = registrar.wait_for("REGISTERED sip:alice@");
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    let line = log.lines().find(|l| l.contains("REGISTERED")).unwrap();
    assert!(
        line.contains("algorithm=SHA-256")
            && line.contains("qop=auth")
            && line.contains("nc=00000001"),
        "Tandem answered the SHA-256 challenge with qop=auth: {line}"
    );
    // The wrong password is refused by the same registrar, and said so.
    let wrong = registering("bob", &registrar.port.to_string(), "wrong");
    let log = wrong.wait_for("state=failed");
    assert!(log.contains("refused the credentials"), "{log}");
}

/// REGISTER over TLS to a real registrar, its certificate checked against
/// the test CA (`ca_path`), with the same SHA-256 digest.
#[test]
fn registers_over_tls_with_a_real_registrar() {
    let certs = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(certs.path());
    let mut registrar = Kamailio::start_tls("SHA-256", "secret", certs.path());
    let tls_port = registrar.tls_port.unwrap();
    let ca = certs.path().join("ca.pem").display().to_string();
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nregistrar = \"sip:127.0.0.1:{tls_port};transport=tls\"\npassword = \"secret\"\nca_path = {ca:?}\n"
        ),
        &[],
    );
    let log = registrar.wait_for("REGISTERED sip:alice@");
    let line = log.lines().find(|l| l.contains("REGISTERED")).unwrap();
    assert!(line.contains("proto=tls"), "over TLS: {line}");
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
}

#[test]
fn a_wrong_password_is_reported_and_retried_with_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let _registrar = sipp::Background::once("registrar.xml", &port, dir.path());
    let tandem = registering("alice", &port, "wrong");
    let log = tandem.wait_for_n("state=failed", 2);
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("SIP sip.registration") && l.contains("state=failed"))
        .collect();
    assert!(failures[0].contains("code=403"), "{}", failures[0]);
    // The plugin's log says why, for a person.
    assert!(log.contains("refused the credentials"), "{log}");
    // Back-off doubles between attempts (1 s, 2 s, ...), never a tight loop.
    assert!(
        log.contains("retrying in 1 s") && log.contains("retrying in 2 s"),
        "{log}"
    );
    assert!(failures[1].contains("retry_in=2"), "{}", failures[1]);
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["registration"], "failed", "{status}");
    assert!(
        !log.contains("secret") && !log.contains("wrong\""),
        "no password in the log"
    );
}

#[test]
fn a_registrar_port_where_nothing_listens_fails_at_once_as_a_503_and_backs_off() {
    // The registrar's kernel answers ICMP "port unreachable"; RFC 3261
    // §8.1.3.1 makes that a 503. rsipstack's REGISTER transaction never
    // heard it: the attempt failed only when Timer F fired, 32 s later.
    let closed = sipp::free_udp_port().to_string();
    tandem_tests::build_artifacts(); // before the clock starts
    let started = std::time::Instant::now();
    let tandem = registering("alice", &closed, "secret");
    let failed = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("SIP sip.registration") && l.contains("state=failed"))
            .map(str::to_owned)
            .collect()
    };
    let log = tandem.wait_for("state=failed");
    let first = std::time::Instant::now();
    // Generous: a functional check that Timer F was not waited for.
    assert!(
        first - started < std::time::Duration::from_secs(15),
        "failed only after {:?}:\n{log}",
        first - started
    );
    let failures = failed(&log);
    assert!(
        failures[0].contains("code=503")
            && failures[0].contains("reason=127.0.0.1 answered ICMP")
            && failures[0].contains("retry_in=1"),
        "{}",
        failures[0]
    );
    // The plugin's log says why, for a person.
    assert!(
        log.contains(&format!(
            "registration at sip:127.0.0.1:{closed} failed (127.0.0.1 answered ICMP"
        )),
        "{log}"
    );
    // Then the back-off, never a tight loop: attempts 1 s and 3 s after the
    // first (the next only at 7 s), each failing the same way.
    let log = tandem.wait_for_n("state=failed", 2);
    let failures = failed(&log);
    assert!(
        failures[1].contains("code=503") && failures[1].contains("retry_in=2"),
        "{}",
        failures[1]
    );
    std::thread::sleep(std::time::Duration::from_secs(4).saturating_sub(first.elapsed()));
    let failures = failed(&tandem.log());
    assert!(
        (2..=4).contains(&failures.len()),
        "{} attempts in the 4 s after the first:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["registration"], "failed", "{status}");
}

#[test]
fn message_both_ways_keeps_the_content_type() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sf",
            &scenario("message_uac.xml"),
            "-m",
            "1",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.message");
    let line = event_line(&log, "sip.message");
    assert_eq!(
        field(&line, "type"),
        "application/im-iscomposing+xml",
        "{line}"
    );
    assert!(line.contains("<state>active</state>"), "{line}");

    let peer_port = sipp::free_udp_port().to_string();
    let receiver = sipp::Background::once("message_uas.xml", &peer_port, dir.path());
    let sent = tandem
        .call(
            "sip.send_message",
            json!({ "to": format!("sip:bob@127.0.0.1:{peer_port}"), "body": "hello from tandem" }),
        )
        .unwrap();
    assert_eq!(sent["code"], 200, "{sent}");
    receiver.wait_ok(dir.path());
}

#[test]
fn options_junk_bad_requests_and_unusable_offers_get_clear_answers() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let port = tandem.sip_port();
    // Junk first: none of it may stop the plugin.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b"\x00\x01\x02garbage"[..],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"FOO sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n\r\n",
        &[b'A'; 65000][..],
    ] {
        socket.send_to(junk, ("127.0.0.1", port)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{port}");
    sipp::run_ok(
        &["-sf", &scenario("options.xml"), "-m", "1", &target],
        dir.path(),
    );
    sipp::run_ok(
        &["-sf", &scenario("invite_opus_only.xml"), "-m", "1", &target],
        dir.path(),
    );
    // What rsipstack cannot parse is answered before it reaches the stack.
    for bad in ["unknown_method.xml", "bad_to.xml"] {
        sipp::run_ok(&["-sf", &scenario(bad), "-m", "1", &target], dir.path());
    }
    // The junk came first on the same socket, so it is all counted by now.
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["dropped_datagrams"], 4, "{status}");
    assert_eq!(status["answered_malformed"], 2, "{status}");
    let log = tandem.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("no common codec"), "{log}");
    assert!(
        !log.contains("SIP sip.call.incoming"),
        "a refused offer is no call: {log}"
    );
}

/// The address of the plugin's `transport` listener, from `sip.status`.
fn listening_on(tandem: &Sidecar, transport: &str) -> String {
    let status = tandem.call("sip.status", json!({})).unwrap();
    let prefix = format!("{transport} ");
    status["listening"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|l| Some(l.as_str()?.strip_prefix(&prefix)?.to_owned()))
        .unwrap_or_else(|| panic!("no {transport} listener: {status}"))
}

/// A request as a TCP peer at `me` writes it: `extra` header lines (a
/// Content-Length, or none) end the header block.
fn tcp_request(me: &str, first_line: &str, cseq: &str, extra: &str) -> String {
    let branch = cseq.replace(' ', "-");
    format!(
        "{first_line}\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bK-{branch}\r\n\
         From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n\
         Call-ID: {branch}@{me}\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n{extra}\r\n"
    )
}

/// `request` written on a new TCP connection to `addr` (a write cut short
/// by the plugin closing is fine), then everything read until the plugin
/// closes the connection. Fails the test if it stays open.
fn answered_then_closed(addr: &str, request: &[u8]) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let _ = stream.write_all(request);
    read_until_closed(&mut stream)
}

fn read_until_closed(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the connection stayed open ({e}) after {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads `n` answers (header blocks: the plugin's answers have no body);
/// fewer when the plugin closes the connection first.
fn read_answers(stream: &mut std::net::TcpStream, n: usize) -> Vec<String> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let (mut got, mut buf) = (String::new(), [0u8; 4096]);
    while got.matches("\r\n\r\n").count() < n {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got.push_str(&String::from_utf8_lossy(&buf[..k])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no answer ({e}) after {got:?}"),
        }
    }
    got.split_terminator("\r\n\r\n")
        .map(str::to_owned)
        .collect()
}

/// An OPTIONS on `stream`; its answer's status line, or `None` when the
/// plugin closed the connection instead.
fn options_over(stream: &mut std::net::TcpStream, cseq: u32) -> Option<String> {
    use std::io::Write;
    let me = stream.local_addr().unwrap().to_string();
    let options = tcp_request(
        &me,
        "OPTIONS sip:alice@127.0.0.1 SIP/2.0",
        &format!("{cseq} OPTIONS"),
        "Content-Length: 0\r\n",
    );
    stream.write_all(options.as_bytes()).ok()?;
    let answer = read_answers(stream, 1).into_iter().next()?;
    Some(answer.lines().next().unwrap_or_default().to_owned())
}

/// Over TCP every message passes the screen as a datagram does, framed by
/// its Content-Length (RFC 3261 §18.3): a bad request is answered and the
/// connection goes on; where the framing is lost, the request is answered
/// when it can be and only that connection is closed.
#[test]
fn bad_requests_over_tcp_are_answered_and_lost_framing_closes_that_connection_only() {
    use std::io::Write;
    let tandem = Sidecar::start_sip("user = \"alice\"\ntransports = [\"udp\", \"tcp\"]", &[]);
    let tcp = listening_on(&tandem, "tcp");
    let dir = tempfile::tempdir().unwrap();
    // sipp over TCP: 501 for an unknown method, 400 naming a broken To.
    for bad in ["unknown_method.xml", "bad_to.xml"] {
        sipp::run_ok(
            &["-sf", &scenario(bad), "-t", "t1", "-m", "1", &tcp],
            dir.path(),
        );
    }
    // On one connection, a request after an answered bad one is served.
    let mut stream = std::net::TcpStream::connect(&tcp).unwrap();
    let me = stream.local_addr().unwrap().to_string();
    let frobnicate = tcp_request(
        &me,
        "FROBNICATE sip:alice@127.0.0.1 SIP/2.0",
        "1 FROBNICATE",
        "Content-Length: 0\r\n",
    );
    let options = tcp_request(
        &me,
        "OPTIONS sip:alice@127.0.0.1 SIP/2.0",
        "2 OPTIONS",
        "Content-Length: 0\r\n",
    );
    stream
        .write_all(format!("{frobnicate}{options}").as_bytes())
        .unwrap();
    let answers = read_answers(&mut stream, 2);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers[0].starts_with("SIP/2.0 501 Not Implemented\r\n"),
        "{answers:?}"
    );
    assert!(answers[1].starts_with("SIP/2.0 200 OK\r\n"), "{answers:?}");
    drop(stream);
    // The framing lost: answered when it can be, then closed.
    let huge = "Content-Length: 18446744073709551615\r\n";
    for (length, answer) in [
        (
            "Content-Length: lots\r\n",
            "400 Bad Content-Length header field",
        ),
        ("", "400 Missing Content-Length header field"),
        (huge, "513 Message Too Large"),
    ] {
        let request = tcp_request(
            "127.0.0.1:9",
            "OPTIONS sip:a@b SIP/2.0",
            "3 OPTIONS",
            length,
        );
        let got = answered_then_closed(&tcp, request.as_bytes());
        assert!(got.starts_with(&format!("SIP/2.0 {answer}\r\n")), "{got}");
    }
    let mut too_large = tcp_request(
        "127.0.0.1:9",
        "MESSAGE sip:a@b SIP/2.0",
        "4 MESSAGE",
        "Content-Length: 70000\r\n",
    )
    .into_bytes();
    too_large.extend(std::iter::repeat_n(b'x', 70_000));
    let got = answered_then_closed(&tcp, &too_large);
    assert!(
        got.starts_with("SIP/2.0 513 Message Too Large\r\n"),
        "{got}"
    );
    // Junk, and a header block with no end: closed unanswered.
    for junk in [&b"\x00\x01garbage\r\n\r\n"[..], &[b'A'; 70_000][..]] {
        assert_eq!(answered_then_closed(&tcp, junk), "");
    }
    // Other connections were never disturbed.
    sipp::run_ok(
        &["-sf", &scenario("options.xml"), "-t", "t1", "-m", "1", &tcp],
        dir.path(),
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["answered_malformed"], 7, "{status}");
    assert_eq!(status["dropped_tcp_messages"], 2, "{status}");
    assert_eq!(status["dropped_datagrams"], 0, "{status}");
    assert_eq!(status["refused_connections"], 0, "{status}");
    let log = tandem.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// `max_connections` caps the TCP connections peers hold open: one more is
/// closed as soon as it is accepted, and once some close, new ones are
/// taken again and a call over TCP works (TCP only: a port of 0 is the
/// port TCP got, not 0).
#[test]
fn tcp_connections_beyond_max_connections_are_closed_at_once() {
    let tandem = Sidecar::start_sip(
        &format!("user = \"alice\"\ntransports = [\"tcp\"]\nmax_connections = 3\n{AUTO_ANSWER}"),
        &["auto-answer"],
    );
    let tcp = listening_on(&tandem, "tcp");
    assert!(!tcp.ends_with(":0"), "{tcp}");
    let mut held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(&tcp).unwrap())
        .collect();
    let mut fourth = std::net::TcpStream::connect(&tcp).unwrap();
    assert_eq!(read_until_closed(&mut fourth), "", "the 4th is closed");
    for (cseq, stream) in (1..).zip(&mut held) {
        assert_eq!(
            options_over(stream, cseq).as_deref(),
            Some("SIP/2.0 200 OK"),
            "the first three are served"
        );
    }
    // Two close; their places are free once the plugin has seen them go.
    held.truncate(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut again = loop {
        let mut stream = std::net::TcpStream::connect(&tcp).unwrap();
        if options_over(&mut stream, 9).as_deref() == Some("SIP/2.0 200 OK") {
            break stream;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no connection taken again"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // A call over TCP: sipp's is the third connection.
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sn", "uac", "-t", "t1", "-m", "1", "-d", "500", "-s", "bob", &tcp,
        ],
        dir.path(),
    );
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    // Those held open all along are still served.
    assert_eq!(
        options_over(&mut held[0], 10).as_deref(),
        Some("SIP/2.0 200 OK")
    );
    assert_eq!(
        options_over(&mut again, 11).as_deref(),
        Some("SIP/2.0 200 OK")
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert!(
        status["refused_connections"].as_u64() >= Some(1),
        "{status}"
    );
    let log = tandem.log();
    assert!(
        log.contains("connections are open (max_connections"),
        "the first refusal is logged: {log}"
    );
}

/// A TCP peer that sends requests and never reads its answers: once the
/// answers stop leaving (the socket buffers are full), the plugin reads no
/// more and, after 10 s, closes the connection for good. Without that,
/// every further request became a transaction waiting to write for ever
/// (hundreds of MB for a few seconds of sending), and the connection, its
/// place under `max_connections` given back, stayed open.
#[test]
fn a_tcp_peer_that_never_reads_is_closed_and_its_answers_do_not_pile_up() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    const REQUESTS: usize = 1000;
    let tandem = Sidecar::start_sip("user = \"alice\"\ntransports = [\"tcp\"]\n", &[]);
    let tcp = listening_on(&tandem, "tcp");
    let mut stream = std::net::TcpStream::connect(&tcp).unwrap();
    // A small receive buffer: the plugin's answers pile up in its own.
    let small: libc::c_int = 4096;
    // SAFETY: a valid socket and a c_int option of the size given.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    stream
        .set_write_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    // Each 200 OK copies the long Call-ID: 1000 answers are 30 MB, far
    // more than socket buffers hold (Linux's default is 4 MB at most).
    let me = stream.local_addr().unwrap().to_string();
    let long = "x".repeat(30_000);
    let mut sent = 0;
    for n in 0..REQUESTS {
        let options = tcp_request(
            &me,
            "OPTIONS sip:alice@127.0.0.1 SIP/2.0",
            &format!("{n} OPTIONS"),
            "Content-Length: 0\r\n",
        )
        .replace("Call-ID: ", &format!("Call-ID: {long}"));
        if stream.write_all(options.as_bytes()).is_err() {
            break; // the plugin reads no more: what is being tested
        }
        sent += 1;
    }
    std::thread::sleep(std::time::Duration::from_secs(12));
    // Closed by now: what was written comes, then the end.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let (mut got, mut buf) = (0usize, vec![0u8; 1 << 16]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answers_bytes = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "still open after {got} bytes of answers to {sent} requests"
        );
        match stream.read(&mut buf) {
            Ok(0) => break got,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break got,
            Err(e) => panic!("still open ({e}) after {got} bytes of answers to {sent} requests"),
        }
    };
    assert!(
        answers_bytes < REQUESTS * 30_000,
        "{answers_bytes} bytes: every request was answered"
    );
    let log = tandem.log();
    assert!(!log.contains("panicked"), "{log}");
    // The plugin still serves.
    let mut fresh = std::net::TcpStream::connect(&tcp).unwrap();
    assert_eq!(
        options_over(&mut fresh, 1).as_deref(),
        Some("SIP/2.0 200 OK")
    );
}

/// What openssl's TLS client got back for `request` sent to `addr`
/// (trusting `ca`), until `until` came or the plugin closed the connection
/// (then `true`).
fn over_tls(addr: &str, ca: &std::path::Path, request: &str, until: &str) -> (String, bool) {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-connect",
            addr,
        ])
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run openssl");
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(request.as_bytes());
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut got = Vec::new();
    let closed = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => {
                got.extend(chunk);
                if String::from_utf8_lossy(&got).contains(until) {
                    break false;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("openssl: neither {until:?} nor a close: {got:?}")
            }
        }
    };
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// TLS connections count against `max_connections` from the moment they
/// are accepted (a handshake is work too); after the handshake each
/// message passes the screen as over TCP (screened_tls.rs): a bad request
/// is answered on a connection that stays open, and where the framing is
/// lost the connection is answered and closed, alone.
#[test]
fn tls_connections_are_capped_and_bad_requests_are_answered() {
    let certs = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(certs.path());
    let file = |name: &str| certs.path().join(name).display().to_string();
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\ntransports = [\"tls\"]\ntls_certificate_file = {:?}\n\
             tls_key_file = {:?}\nca_path = {:?}\nmax_connections = 2\n",
            file("server.pem"),
            file("server.key"),
            file("ca.pem"),
        ),
        &[],
    );
    let tls = listening_on(&tandem, "tls");
    let ca = certs.path().join("ca.pem");
    // Two connections that never shake hands take both places.
    let held: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(&tls).unwrap())
        .collect();
    let mut third = std::net::TcpStream::connect(&tls).unwrap();
    assert_eq!(read_until_closed(&mut third), "", "the 3rd is closed");
    drop(held);
    let options = tcp_request(
        "127.0.0.1:9",
        "OPTIONS sip:alice@127.0.0.1 SIP/2.0",
        "1 OPTIONS",
        "Content-Length: 0\r\n",
    )
    .replace("SIP/2.0/TCP", "SIP/2.0/TLS");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (got, _) = over_tls(&tls, &ca, &options, "\r\n\r\n");
        if got.starts_with("SIP/2.0 200 OK\r\n") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no TLS connection taken again: {got:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let frobnicate = options
        .replace("OPTIONS sip:", "FROBNICATE sip:")
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 FROBNICATE");
    // An unknown method gets its 501, and the same connection goes on.
    let (got, closed) = over_tls(
        &tls,
        &ca,
        &format!("{frobnicate}{options}"),
        "SIP/2.0 200 OK\r\n",
    );
    assert!(
        !closed && got.starts_with("SIP/2.0 501 Not Implemented\r\n"),
        "{got:?}"
    );
    // A Content-Length near 2^64 (which overflowed rsipstack's reader) is
    // answered 513 and the connection closed: there is no next message to
    // find.
    let endless = options.replace("Content-Length: 0", "Content-Length: 18446744073709551615");
    let (got, closed) = over_tls(&tls, &ca, &endless, "never");
    assert!(
        closed && got.starts_with("SIP/2.0 513 Message Too Large\r\n"),
        "{got:?}"
    );
    let (got, _) = over_tls(&tls, &ca, &options, "\r\n\r\n");
    assert!(got.starts_with("SIP/2.0 200 OK\r\n"), "{got:?}");
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert!(
        status["refused_connections"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(status["answered_malformed"].as_u64() >= Some(2), "{status}");
}

/// Within 5 % of `expected`: crossings at block edges go uncounted.
fn assert_tone(path: &std::path::Path, expected: f64, what: &str) {
    let hz = tandem_tests::baresip::tone_in(path);
    assert!(
        (hz - expected).abs() < expected * 0.05,
        "{what}: {hz} Hz, expected {expected}"
    );
}

/// Tandem sends 440 Hz and records; baresip sends 1000 Hz and records.
fn tandem_for_baresip(record_dir: &std::path::Path) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"tone:440\"\nrecord = \"wav:{}/{{call}}.wav\"\n{AUTO_ANSWER}",
            record_dir.display()
        ),
        &["auto-answer"],
    )
}

/// Talks for a while, sends DTMF to baresip, hangs up; checks both
/// recordings hold the other side's tone and baresip heard the digits.
fn talk_and_check(tandem: &Sidecar, baresip: &Baresip, record_dir: &std::path::Path) {
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    tandem
        .call("sip.dtmf", json!({ "call": id, "digits": "12#" }))
        .unwrap();
    baresip.wait_for("received event: '#' (end=1)");
    assert_eq!(
        baresip.received_digits(),
        "12#",
        "each digit once:\n{}",
        baresip.log()
    );
    baresip.press("47");
    let log = tandem.wait_for_n("SIP sip.dtmf call=", 2);
    let digits: String = log
        .lines()
        .filter(|l| l.contains("SIP sip.dtmf"))
        .map(|l| field(l, "digit").to_owned())
        .collect();
    assert_eq!(
        digits, "47",
        "Tandem heard baresip's keys once each:\n{log}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
    assert_tone(
        &record_dir.join(format!("{id}.wav")),
        1000.0,
        "Tandem heard baresip",
    );
    baresip.wait_for("terminated");
    assert_tone(&baresip.received_audio(), 440.0, "baresip heard Tandem");
}

#[test]
fn baresip_calls_tandem_with_audio_and_dtmf() {
    let records = tempfile::tempdir().unwrap();
    let tandem = tandem_for_baresip(records.path());
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let incoming = event_line(
        &tandem.wait_for("SIP sip.call.incoming"),
        "sip.call.incoming",
    );
    assert!(
        field(&incoming, "peer").starts_with("sip:bob@127.0.0.1"),
        "{incoming}"
    );
    talk_and_check(&tandem, &baresip, records.path());
}

#[test]
fn tandem_calls_baresip_with_audio_and_dtmf() {
    let records = tempfile::tempdir().unwrap();
    let tandem = tandem_for_baresip(records.path());
    let baresip = Baresip::start(1000.0, None);
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{}", baresip.port) }),
        )
        .unwrap();
    talk_and_check(&tandem, &baresip, records.path());
}

/// Tandem listening on TLS only (so nothing can fall back to UDP), trusting
/// the test CA, with the certificate baresip trusts too.
fn tandem_over_tls(record_dir: &std::path::Path, certs: &std::path::Path) -> Sidecar {
    let file = |name: &str| certs.join(name).display().to_string();
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\ntransports = [\"tls\"]\ntls_certificate_file = {:?}\n\
             tls_key_file = {:?}\nca_path = {:?}\nsource = \"tone:440\"\n\
             record = \"wav:{}/{{call}}.wav\"\n{AUTO_ANSWER}",
            file("server.pem"),
            file("server.key"),
            file("ca.pem"),
            record_dir.display()
        ),
        &["auto-answer"],
    )
}

#[test]
fn baresip_and_tandem_call_each_other_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(certs.path());
    let records = tempfile::tempdir().unwrap();
    let tandem = tandem_over_tls(records.path(), certs.path());
    let status = tandem.call("sip.status", json!({})).unwrap();
    let listening = status["listening"][0].as_str().unwrap().to_owned();
    assert!(listening.starts_with("tls 127.0.0.1:"), "{status}");
    let port = tandem.sip_port();

    // baresip calls in over TLS.
    let uri = format!("sip:alice@127.0.0.1:{port};transport=tls");
    let baresip = Baresip::start_tls(1000.0, Some(&uri), certs.path());
    talk_and_check(&tandem, &baresip, records.path());
    drop(baresip);

    // Tandem calls out over TLS, verifying baresip's certificate: a sips:
    // URI says TLS without a transport parameter (RFC 3261 §26.2).
    let baresip = Baresip::start_tls(1000.0, None, certs.path());
    let to = format!("sips:bob@127.0.0.1:{}", baresip.port + 1);
    tandem.call("sip.call", json!({ "to": to })).unwrap();
    let log = tandem.wait_for_n("SIP sip.call.answered", 2);
    assert_eq!(log.matches("SIP sip.call.ended").count(), 1, "{log}");
    let answered = log
        .lines()
        .filter(|l| l.contains("SIP sip.call.answered"))
        .nth(1)
        .unwrap()
        .to_owned();
    let id = field(&answered, "call").to_owned();
    baresip.wait_for("Call established");
    // Hang up at once. baresip (libre) reports a BYE it received as
    // "session closed: Connection reset by peer" (ECONNRESET is its code
    // for "the peer hung up"), and prints "terminated" only for calls of
    // a second or more, so the first is what says the BYE arrived.
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    tandem.wait_for_n("SIP sip.call.ended", 2);
    baresip.wait_for("session closed: Connection reset by peer");

    // A sidecar trusting another CA refuses baresip's certificate: the
    // command fails at once with the reason, and baresip never rings.
    let other_ca = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(other_ca.path());
    let doubter = Sidecar::start_sip(
        &format!(
            "user = \"carol\"\nca_path = {:?}",
            other_ca.path().join("ca.pem").display().to_string()
        ),
        &[],
    );
    let err = doubter
        .call("sip.call", json!({ "to": to }))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("over TLS") && err.to_lowercase().contains("certificate"),
        "the reason, at once: {err}"
    );
    assert_eq!(baresip.log().matches("incoming call").count(), 0);
}

#[test]
fn a_peer_that_goes_silent_without_a_bye_is_hung_up() {
    // sipp's uas answers and sends no RTP at all: a vanished peer.
    let tandem = Sidecar::start_sip("media_timeout_seconds = 1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::start(&["-sn", "uas", "-m", "1", "-p", &port], dir.path());
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:service@127.0.0.1:{port}") }),
        )
        .unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "media_timeout", "{ended}");
    assert!(tandem.log().contains("nothing from the peer for 1 s"));
    // The BYE went out: sipp's uas completes its one call.
    uas.wait_ok(dir.path());
}

#[test]
fn hanging_up_a_call_still_ringing_in_declines_it_busy() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let incoming = event_line(
        &tandem.wait_for("SIP sip.call.incoming"),
        "sip.call.incoming",
    );
    tandem
        .call("sip.hangup", json!({ "call": field(&incoming, "call") }))
        .unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(
        (field(&ended, "reason"), field(&ended, "code")),
        ("rejected", "486"),
        "{ended}"
    );
    baresip.wait_for("486 Busy Here");
}

/// baresip (sending 1000 Hz) calls `tandem`, which answers; returns baresip
/// and the call's id once both sides have the call up.
fn baresip_calls_in(tandem: &Sidecar) -> (Baresip, String) {
    let uri = format!("sip:alice@127.0.0.1:{}", tandem.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let answered = event_line(
        &tandem.wait_for("SIP sip.call.answered"),
        "sip.call.answered",
    );
    baresip.wait_for("Call established");
    (baresip, field(&answered, "call").to_owned())
}

/// Tandem's microphone and speaker are a sound server's (PulseAudio,
/// reached through ALSA as on a desktop): a voice spoken into the
/// microphone reaches baresip, and what baresip sends comes out of the
/// speaker.
#[test]
fn the_microphone_reaches_baresip_and_baresip_comes_out_of_the_speaker() {
    let sound = SoundServer::start();
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    tandem_tests::baresip::write_tone(&voice, 600.0, 30);
    let tandem = Sidecar::start_sip_with_env(
        &format!("user = \"alice\"\nsource = \"device\"\nplayback = \"device\"\n{AUTO_ANSWER}"),
        &["auto-answer"],
        &sound.env(),
    );
    // Only now: starting the sidecar may first build it, for longer than
    // the recording lasts.
    let _speaking = sound.speak_into_microphone(&voice);
    let heard = dir.path().join("speaker.wav");
    let speaker = sound.record_speaker(&heard);
    let (baresip, id) = baresip_calls_in(&tandem);
    // Talk for 5 s: the test's sound server (a null sink's monitor) hands
    // a new capture stream its first period only ≈ 1.9 s after it starts,
    // every time, so 3 s left barely a second of voice to check.
    std::thread::sleep(std::time::Duration::from_secs(5));
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    tandem.wait_for("SIP sip.call.ended");
    speaker.stop();
    let log = tandem.log();
    assert!(
        log.contains("microphone \"default\"") && log.contains("speaker \"default\""),
        "the devices were opened:\n{log}"
    );
    assert_tone(&heard, 1000.0, "the speaker played baresip");
    baresip.wait_for("terminated");
    assert_tone(
        &baresip.received_audio(),
        600.0,
        "baresip heard the microphone",
    );
}

/// A sound device that is not there does not stop a call: it goes ahead
/// with silence, and the log says which device and why.
#[test]
fn a_missing_sound_device_leaves_the_call_working() {
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nsource = \"device:no-such-card\"\nplayback = \"device:no-such-card\"\n{AUTO_ANSWER}"
        ),
        &["auto-answer"],
    );
    assert!(
        tandem.log().contains("no microphone now"),
        "{}",
        tandem.log()
    );
    let (_baresip, id) = baresip_calls_in(&tandem);
    let log = tandem.wait_for("no speaker");
    assert!(
        log.contains("no microphone (sound device \"no-such-card\""),
        "{log}"
    );
    tandem.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
}

/// `RUST_LOG=sip=debug` reaches into the plugin, down to the libraries it
/// is built on (rsipstack logs through `tracing`), with the plugin id as
/// target; without it, nothing below info is even sent to the host.
#[test]
fn debug_logging_reaches_the_plugins_libraries_only_when_asked() {
    let verbose = Sidecar::start_sip_with_env(
        "",
        &[],
        &[("RUST_LOG".to_owned(), "info,sip=debug".to_owned())],
    );
    let log = verbose.wait_for("DEBUG sip: [rsipstack::");
    assert!(log.contains("created UDP connection"), "{log}");
    let quiet = Sidecar::start_sip("", &[]);
    // A request and its answer: rsipstack logs both, bodies included, at
    // its info level, which counts as debug outside its own crate.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let me = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:tandem@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-log1\r\n\
         From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:tandem@127.0.0.1>\r\nCall-ID: log-1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    socket
        .send_to(options.as_bytes(), ("127.0.0.1", quiet.sip_port()))
        .unwrap();
    let mut answer = [0u8; 2048];
    let (n, _) = socket.recv_from(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"SIP/2.0 200"));
    let log = quiet.log();
    assert!(
        !log.contains("DEBUG") && !log.contains("raw_message"),
        "{log}"
    );
}

/// The registrar password answers the user's own service only: a callee
/// elsewhere that challenges an INVITE or a MESSAGE (to crack a digest of
/// the password offline) gets no answer, and the call or the MESSAGE fails
/// saying why; the registrar's own challenge is still answered.
#[test]
fn the_password_answers_only_the_registrars_challenges() {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let registrar = sipp::Background::once("registrar.xml", &port, dir.path());
    let tandem = registering("alice", &port, "secret");
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    registrar.wait_ok(dir.path());
    let why =
        format!("asked for credentials; Tandem only sends the password to sip:127.0.0.1:{port}");

    // A stranger's phone challenges the INVITE: sipp fails if the INVITE
    // comes again with credentials.
    let stranger = sipp::free_udp_port().to_string();
    let phone = sipp::Background::once("challenge_invite_uas.xml", &stranger, dir.path());
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{stranger}") }),
        )
        .unwrap();
    let log = tandem.wait_for(&why);
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "failed", "{ended}");
    assert!(
        log.contains(&format!("sip:bob@127.0.0.1:{stranger} {why}")),
        "{log}"
    );
    phone.wait_ok(dir.path());

    // The same for a MESSAGE; the command's error says why.
    let stranger = sipp::free_udp_port().to_string();
    let inbox = sipp::Background::once("challenge_message_uas.xml", &stranger, dir.path());
    let err = tandem
        .call(
            "sip.send_message",
            json!({ "to": format!("sip:bob@127.0.0.1:{stranger}"), "body": "hi" }),
        )
        .unwrap_err();
    assert!(err.contains(&why), "{err}");
    inbox.wait_ok(dir.path());

    // The user's own service (the registrar's host and port) still gets
    // the digest, which sipp checks.
    let service = sipp::Background::once("message_auth_uas.xml", &port, dir.path());
    let sent = tandem
        .call(
            "sip.send_message",
            json!({ "to": format!("sip:alice@127.0.0.1:{port}"), "body": "hi" }),
        )
        .unwrap();
    assert_eq!(sent["code"], 200, "{sent}");
    service.wait_ok(dir.path());
    assert!(!tandem.log().contains("secret"), "no password in the log");
}

/// A flood of INVITEs rings `max_ringing` calls; the rest are answered
/// 486 Busy Here at once, with no event, counted in `sip.status` and
/// logged at the 1st, 2nd, 4th... only.
#[test]
fn a_flood_of_invites_rings_max_ringing_calls_and_busies_the_rest() {
    let tandem = Sidecar::start_sip("max_ringing = 2\nring_timeout_seconds = 2", &[]);
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    sipp::run_ok(
        &[
            "-sf",
            &scenario("invite_unanswered_uac.xml"),
            "-m",
            "5",
            "-l",
            "5",
            "-r",
            "50",
            &target,
        ],
        dir.path(),
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["answered_busy"], 3, "{status}");
    let log = tandem.wait_for_n("SIP sip.call.ended", 2);
    assert_eq!(log.matches("SIP sip.call.incoming").count(), 2, "{log}");
    assert!(
        log.contains("486 Busy Here: 2 calls are ringing already (max_ringing = 2) (1 so far"),
        "{log}"
    );
    assert!(log.contains("(2 so far"), "{log}");
    assert!(!log.contains("(3 so far"), "the 3rd is not logged: {log}");
}

/// With a registrar, calls and messages are taken from its addresses only
/// (by default): a stranger writing any From gets 403, and no rule hears
/// of it. A list of prefixes takes what it lists.
#[test]
fn requests_from_outside_accept_from_are_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    // A registrar at a documentation address: nothing from loopback is it.
    let tandem = Sidecar::start_sip(
        "user = \"alice\"\nregistrar = \"sip:192.0.2.1\"\npassword = \"secret\"",
        &[],
    );
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    for refused in ["invite_forbidden_uac.xml", "message_forbidden_uac.xml"] {
        sipp::run_ok(&["-sf", &scenario(refused), "-m", "1", &target], dir.path());
    }
    // OPTIONS (a registrar's keep-alive, a peer's probe) is still answered.
    sipp::run_ok(
        &["-sf", &scenario("options.xml"), "-m", "1", &target],
        dir.path(),
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["answered_forbidden"], 2, "{status}");
    let log = tandem.log();
    assert!(!log.contains("SIP sip.call.incoming"), "{log}");
    assert!(!log.contains("SIP sip.message"), "{log}");
    assert!(
        log.contains("refused MESSAGE from udp 127.0.0.1:") && log.contains("not in accept_from"),
        "{log}"
    );

    let listed = Sidecar::start_sip("user = \"alice\"\naccept_from = [\"10.0.0.0/8\"]", &[]);
    let target = format!("127.0.0.1:{}", listed.sip_port());
    sipp::run_ok(
        &[
            "-sf",
            &scenario("message_forbidden_uac.xml"),
            "-m",
            "1",
            &target,
        ],
        dir.path(),
    );
    let listed = Sidecar::start_sip(
        "user = \"alice\"\naccept_from = [\"10.0.0.0/8\", \"127.0.0.0/8\"]",
        &[],
    );
    let target = format!("127.0.0.1:{}", listed.sip_port());
    sipp::run_ok(
        &["-sf", &scenario("message_uac.xml"), "-m", "1", &target],
        dir.path(),
    );
    listed.wait_for("SIP sip.message");
}

/// Adds a rule to a running sidecar (rules reload when their folder
/// changes) that logs `SOURCE <topic> <source> <transport>` for calls and
/// messages.
fn watch_sources(tandem: &Sidecar) {
    let scripts = tandem.dir.path().join("scripts");
    let rule = r#"
tandem.on("sip.*", function(ev, topic)
  if topic == "sip.call.incoming" or topic == "sip.message" then
    tandem.log.info("SOURCE " .. topic .. " " .. tostring(ev.source) .. " " .. tostring(ev.transport))
  end
end)
"#;
    // Written aside and renamed in: the reload sees the whole file at once.
    std::fs::write(scripts.join("sources.tmp"), rule).unwrap();
    std::fs::rename(scripts.join("sources.tmp"), scripts.join("sources.lua")).unwrap();
    tandem.wait_for("script reloaded");
}

/// `sip.call.incoming` and `sip.message` say which address the request
/// came from, for rules that must not trust the From header.
#[test]
fn incoming_calls_and_messages_say_where_they_came_from() {
    let tandem = Sidecar::start_sip("user = \"alice\"\nring_timeout_seconds = 1", &[]);
    watch_sources(&tandem);
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    let sipp_port = sipp::free_udp_port().to_string();
    for scenario_file in ["message_uac.xml", "invite_unanswered_uac.xml"] {
        sipp::run_ok(
            &[
                "-sf",
                &scenario(scenario_file),
                "-m",
                "1",
                "-p",
                &sipp_port,
                &target,
            ],
            dir.path(),
        );
    }
    let log = tandem.wait_for("SOURCE sip.call.incoming");
    for topic in ["sip.message", "sip.call.incoming"] {
        assert!(
            log.contains(&format!("SOURCE {topic} 127.0.0.1:{sipp_port} udp")),
            "{log}"
        );
    }
}

/// auto-answer's `sources`: a call whose From is allowed is answered only
/// when it came from a listed address.
#[test]
fn auto_answer_picks_up_only_calls_from_its_sources() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = Sidecar::start_sip(
        &format!("ring_timeout_seconds = 1\n{AUTO_ANSWER}sources = [\"192.0.2.7\"]\n"),
        &["auto-answer"],
    );
    let target = format!("127.0.0.1:{}", elsewhere.sip_port());
    // Missed (480), not answered: it came from 127.0.0.1.
    sipp::run_ok(
        &[
            "-sf",
            &scenario("invite_unanswered_uac.xml"),
            "-m",
            "1",
            &target,
        ],
        dir.path(),
    );
    let log = elsewhere.wait_for("SIP sip.call.ended");
    assert!(!log.contains("SIP sip.call.answered"), "{log}");
    assert!(log.contains("not one of sources"), "{log}");

    let here = Sidecar::start_sip(
        &format!("{AUTO_ANSWER}sources = [\"127.0.0.1\"]\n"),
        &["auto-answer"],
    );
    let target = format!("127.0.0.1:{}", here.sip_port());
    sipp::run_ok(&["-sn", "uac", "-m", "1", "-d", "200", &target], dir.path());
    here.wait_for("SIP sip.call.answered");
}

#[test]
fn a_callee_whose_domain_does_not_resolve_is_refused_at_once_with_the_reason() {
    // Before the INVITE: without the lookup, rsipstack's transaction
    // swallowed the failure and the call ended 32 s later as a 408.
    // `.invalid` (RFC 6761) never resolves, and asks no DNS server.
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let err = tandem
        .call("sip.call", json!({ "to": "sip:bob@nowhere.invalid" }))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot reach sip:bob@nowhere.invalid over UDP")
            && err.contains("nowhere.invalid"),
        "{err}"
    );
    assert!(!tandem.log().contains("SIP sip.call.ended"));
}

#[test]
fn a_udp_callee_without_a_udp_transport_is_refused_at_once() {
    // An address as much as a domain: the address once went out with a
    // call id, and the call ended 32 s later as a 408.
    let tandem = Sidecar::start_sip("user = \"alice\"\ntransports = [\"tcp\"]", &[]);
    for to in ["sip:bob@127.0.0.1:9", "sip:bob@localhost"] {
        let err = tandem
            .call("sip.call", json!({ "to": to }))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("cannot reach {to} over UDP")),
            "{err}"
        );
    }
    assert!(!tandem.log().contains("SIP sip.call"));
}

#[test]
fn a_call_to_a_udp_port_where_nothing_listens_fails_at_once_as_a_503() {
    // The callee's kernel answers ICMP "port unreachable"; RFC 3261 §8.1.3.1
    // makes that a 503. Without IP_RECVERR the socket never heard it, and
    // the call ended as a 408 when Timer B fired 32 s later.
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let closed = sipp::free_udp_port();
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{closed}") }),
        )
        .unwrap();
    let ended = event_line(&tandem.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(
        (field(&ended, "reason"), field(&ended, "code")),
        ("failed", "503"),
        "{ended}"
    );
    assert!(
        tandem.log().contains("127.0.0.1 answered ICMP"),
        "{}",
        tandem.log()
    );
}

#[test]
fn a_message_to_a_udp_port_where_nothing_listens_fails_with_the_reason() {
    // As for a call: without the ICMP report the MESSAGE transaction ran
    // until Timer F (32 s), and the command's caller got only "timeout".
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let closed = sipp::free_udp_port();
    let err = tandem
        .call(
            "sip.send_message",
            json!({ "to": format!("sip:bob@127.0.0.1:{closed}"), "body": "hi" }),
        )
        .unwrap_err();
    assert!(
        err.contains("cannot reach") && err.contains("127.0.0.1 answered ICMP"),
        "{err}"
    );
}

#[test]
fn a_udp_request_names_udp_in_its_via_whatever_order_transports_lists() {
    // rsipstack puts its first listener in the Via of a request that names
    // no transport: with TCP listed first, a UDP INVITE said SIP/2.0/TCP.
    let tandem = Sidecar::start_sip("user = \"alice\"\ntransports = [\"tcp\", \"udp\"]", &[]);
    let callee = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    callee
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let port = callee.local_addr().unwrap().port();
    tandem
        .call(
            "sip.call",
            json!({ "to": format!("sip:bob@127.0.0.1:{port}") }),
        )
        .unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) = callee.recv_from(&mut buf).unwrap();
    let invite = String::from_utf8_lossy(&buf[..len]).into_owned();
    let via = invite
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("via:"))
        .unwrap_or_default();
    assert!(via.contains("SIP/2.0/UDP"), "{invite}");
}

#[test]
fn one_address_cannot_hold_every_tcp_connection() {
    let tandem = Sidecar::start_sip(
        "user = \"alice\"\ntransports = [\"tcp\"]\nmax_connections = 10\nmax_connections_per_source = 2",
        &[],
    );
    let tcp = listening_on(&tandem, "tcp");
    let mut held: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(&tcp).unwrap())
        .collect();
    let mut third = std::net::TcpStream::connect(&tcp).unwrap();
    assert_eq!(read_until_closed(&mut third), "", "the 3rd is closed");
    for (cseq, stream) in (1..).zip(&mut held) {
        assert_eq!(
            options_over(stream, cseq).as_deref(),
            Some("SIP/2.0 200 OK")
        );
    }
    // The refusal is logged (the log reaches the test a moment later).
    tandem.wait_for("from that address are open (max_connections_per_source");
}

// ---- in-dialog requests and byte-exact bodies (issue 18) ----

/// sipp calls, and within the call sends a MESSAGE, an INFO with DTMF, an
/// INFO of its own type and a MESSAGE whose body is not UTF-8, then hangs
/// up: each reaches the rules as an event naming the call.
#[test]
fn message_and_info_within_a_call_reach_the_rules() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let media_port = sipp::free_udp_port().to_string();
    sipp::run_ok(
        &[
            "-sf",
            &scenario("in_dialog_uac.xml"),
            "-m",
            "1",
            "-mp",
            &media_port,
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let log = tandem.wait_for("SIP sip.call.ended");
    let call = field(&event_line(&log, "sip.call.incoming"), "call").to_owned();
    assert_eq!(call.len(), 32, "{log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("call={call} ")))
        .collect();
    let of = |topic: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.contains(&format!("SIP {topic} ")))
            .collect()
    };
    let messages = of("sip.message");
    assert_eq!(messages.len(), 2, "{log}");
    assert!(
        messages[0].contains(" type=text/plain;charset=UTF-8 body=hello during the call"),
        "{}",
        messages[0]
    );
    assert_eq!(field(messages[0], "b64"), "nil", "{}", messages[0]);
    assert!(
        field(messages[0], "peer").starts_with("sip:sipp@127.0.0.1"),
        "{}",
        messages[0]
    );
    // "caf", 0xE9 0xFF 0x80, "!", CRLF: not UTF-8, so in base64, byte for byte.
    assert_eq!(
        field(messages[1], "b64"),
        BINARY_BODY_BASE64,
        "{}",
        messages[1]
    );
    assert_eq!(field(messages[1], "type"), "application/octet-stream");
    let dtmf = of("sip.dtmf");
    assert_eq!(dtmf.len(), 1, "{log}");
    assert_eq!(field(dtmf[0], "digit"), "7", "{}", dtmf[0]);
    let info = of("sip.call.info");
    assert_eq!(info.len(), 1, "the DTMF INFO is a sip.dtmf only: {log}");
    assert!(
        info[0].contains(" type=application/x-tandem-test body=ping"),
        "{}",
        info[0]
    );
    let ended = event_line(&log, "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
}

/// The body of `message_binary_uac.xml` and `in_dialog_uac.xml`'s second
/// MESSAGE ("caf", the bytes E9 FF 80 that are not UTF-8, "!", and the
/// CRLF sipp ends a body with), base64.
const BINARY_BODY_BASE64: &str = "Y2Fm6f+AIQ0K";

/// A MESSAGE outside any dialog whose body is not UTF-8 arrives byte-exact
/// (it was mangled by a lossy UTF-8 conversion), its content type as sent.
#[test]
fn a_binary_message_body_arrives_byte_exact() {
    let tandem = Sidecar::start_sip("user = \"alice\"", &[]);
    let port = tandem.sip_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    sipp::run_ok(
        &[
            "-sf",
            &scenario("message_binary_uac.xml"),
            "-m",
            "1",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    let line = event_line(&tandem.wait_for("SIP sip.message"), "sip.message");
    assert_eq!(field(&line, "b64"), BINARY_BODY_BASE64, "{line}");
    assert!(
        line.contains(" type=Application/Octet-Stream; x=1 body= "),
        "{line}"
    );
    assert_eq!(field(&line, "call"), "nil", "outside any dialog: {line}");
}
