//! Logging in: a wrong password, trusting the server (a CA file, the
//! system roots, an unknown CA refused), STARTTLS and direct TLS.

use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::{Sidecar, Trust};

#[test]
fn a_wrong_password_is_a_clear_error_and_no_busy_loop() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let sidecar = Sidecar::start(&server, &alice, "wrong", "");
    sidecar.wait_for("login failed");
    // Backing off, not spinning: over 4 s, a handful of attempts at most.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let log = sidecar.log();
    let attempts = log.matches("login failed").count();
    assert!(attempts <= 4, "{attempts} attempts in 4 s:\n{log}");
    assert!(
        log.contains("authentication") || log.contains("auth"),
        "the reason is named:\n{log}"
    );
    assert!(
        !log.contains("wrong"),
        "the password must not be logged:\n{log}"
    );
    let status = sidecar.call("xmpp.status", json!({})).unwrap();
    assert_eq!(status["state"], "auth_failed", "{status}");
}

#[test]
fn a_self_hosted_ca_is_trusted_through_ca_path_and_an_unknown_one_is_refused() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let ca = format!("ca_path = {:?}\n", server.ca().display().to_string());
    let trusted = Sidecar::start_trusting(&server, &alice, "alice-secret", &ca, Trust::Nothing);
    trusted.wait_online("alice@localhost/tandem", 1);
    drop(trusted);

    let untrusted = Sidecar::start_trusting(&server, &alice, "alice-secret", "", Trust::Nothing);
    let log = untrusted.wait_for("Failed to connect");
    assert!(
        log.contains("certificate"),
        "the TLS refusal is named:\n{log}"
    );
    assert!(!log.contains("online as"), "{log}");

    let missing = Sidecar::start_trusting(
        &server,
        &alice,
        "alice-secret",
        "ca_path = \"/nonexistent/ca.pem\"\n",
        Trust::Nothing,
    );
    missing.wait_for("ca_path /nonexistent/ca.pem");
}

/// XEP-0368: TLS from the first byte, on Prosody's direct TLS port (a
/// STARTTLS client would get nowhere there), trusting the server through
/// the system's roots and through a CA file.
#[test]
fn direct_tls_connects_with_the_system_roots_and_with_a_ca_file() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let direct = format!("direct_tls = true\nport = {}\n", server.direct_tls_port);
    let system = Sidecar::start(&server, &alice, "alice-secret", &direct);
    system.wait_online("alice@localhost/tandem", 1);
    drop(system);
    let ca = format!(
        "{direct}ca_path = {:?}\n",
        server.ca().display().to_string()
    );
    let own_ca = Sidecar::start_trusting(&server, &alice, "alice-secret", &ca, Trust::Nothing);
    own_ca.wait_online("alice@localhost/tandem", 1);
    drop(own_ca);
    // STARTTLS against the direct TLS port does not get in.
    let wrong = format!("port = {}\n", server.direct_tls_port);
    let starttls = Sidecar::start(&server, &alice, "alice-secret", &wrong);
    let log = starttls.wait_for("Failed to connect");
    assert!(!log.contains("online as"), "{log}");
}
