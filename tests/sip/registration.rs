//! REGISTER: digest (MD5 with sipp, SHA-256 with Kamailio), over UDP
//! and TLS, wrong passwords and unreachable registrars, unregistering.

use crate::registering;
use serde_json::json;
use tandem_tests::kamailio::Kamailio;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

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
    // Its Contact says so: a proxy must not send INVITEs for it over UDP.
    let contact = line.split(" contact=").nth(1).unwrap_or_default();
    assert!(
        contact.to_ascii_lowercase().contains(";transport=tls>"),
        "{line}"
    );
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

/// Tandem registered with sipp playing `scenario` as the registrar (three
/// requests, then it ends), keep-alives every second; answers Tandem's log
/// once sipp ended well.
fn keep_alives_with_registrar(scenario: &str) -> Sidecar {
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let scenario = sipp::scenario_path(scenario);
    let registrar =
        sipp::Background::start(&["-sf", &scenario, "-m", "3", "-p", &port], dir.path());
    let tandem = Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nregistrar = \"sip:127.0.0.1:{port}\"\npassword = \"secret\"\n\
             keepalive_secs = 1\n"
        ),
        &[],
    );
    tandem.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    registrar.wait_ok(dir.path());
    tandem
}

/// While registered and otherwise idle, Tandem sends keep-alives to the
/// registrar (OPTIONS over UDP) every `keepalive_secs`, so that a NAT keeps
/// the way in open: sipp ends only once it answered two of them.
#[test]
fn keep_alives_go_to_the_registrar_while_registered() {
    let log = keep_alives_with_registrar("registrar_keepalive.xml").log();
    assert!(!log.contains("keep-alive to"), "every ping answered: {log}");
}

/// A keep-alive that goes unanswered means the way to the registrar
/// failed (a NAT lost it, say): Tandem REGISTERs again at once (RFC 5626
/// §4.4.1) rather than at its refresh, 450 s later. sipp ends only once
/// that second REGISTER came.
#[test]
fn a_failed_keep_alive_registers_again_at_once() {
    let tandem = keep_alives_with_registrar("registrar_flow_failed.xml");
    let log = tandem.wait_for("registering again now");
    assert!(log.contains("keep-alive to"), "{log}");
}
