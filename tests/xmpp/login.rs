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
    // Said in a person's words, in the log and in the status.
    untrusted.wait_status("xmpp.status", "the refusal's reason", |s| {
        s["reason"].as_str().is_some_and(|r| {
            r.starts_with("the server's certificate for localhost is not signed by an authority")
        })
    });
    let log = untrusted.wait_for("is not signed by an authority this machine trusts");
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

/// A self-hosted server's certificate as `prosodyctl cert generate`
/// makes it (self-signed, marked as a CA) is refused by rustls even when
/// trusted through `ca_path`: the reason is said in plain words, in the
/// log once and in `xmpp.status`, with what to do; `pin_sha256` with its
/// fingerprint then trusts exactly it, and a wrong pin is refused.
#[test]
fn a_ca_marked_certificate_is_explained_and_trusted_by_its_fingerprint() {
    let mut server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let dir = server.config().parent().unwrap().to_owned();
    let fingerprint = tandem_tests::certs::make_ca_marked(&dir);
    server.restart();

    let ca = format!(
        "ca_path = {:?}
",
        dir.join("server.pem").display().to_string()
    );
    let refused = Sidecar::start_trusting(&server, &alice, "alice-secret", &ca, Trust::Nothing);
    let status = refused.wait_status("xmpp.status", "the certificate's reason", |s| {
        s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("is a CA certificate, not a server's"))
    });
    assert_eq!(status["state"], "connecting", "{status}");
    let reason = status["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the server's certificate for localhost ")
            && reason.contains("pin_sha256"),
        "{reason}"
    );
    let log = refused.wait_for("is a CA certificate");
    assert_eq!(
        log.matches("is a CA certificate").count(),
        1,
        "said once, not at every retry:\n{log}"
    );
    drop(refused);

    let pin = format!(
        "pin_sha256 = {fingerprint:?}
"
    );
    let pinned = Sidecar::start_trusting(&server, &alice, "alice-secret", &pin, Trust::Nothing);
    pinned.wait_online("alice@localhost/tandem", 1);
    drop(pinned);

    let wrong = format!(
        "pin_sha256 = \"{}\"
",
        "AB".repeat(32)
    );
    let refused = Sidecar::start_trusting(&server, &alice, "alice-secret", &wrong, Trust::Nothing);
    refused.wait_status("xmpp.status", "the wrong pin's reason", |s| {
        s["reason"].as_str().is_some_and(|r| {
            r.contains("not the certificate pin_sha256 names") && r.contains(&fingerprint)
        })
    });
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

/// `tandem check --connect` as the user of a self-hosted server runs it:
/// the certificate `prosodyctl cert generate` makes is explained with the
/// exact `pin_sha256` line; pinned, the login succeeds and the certificate
/// reads as trusted; a wrong password is refused once, never tried again,
/// and never printed. Only the XMPP plugin runs: the SIP section is there
/// and its plugin is not started.
#[test]
fn check_connect_shows_the_pin_to_use_and_tries_a_refused_login_once() {
    use tandem_tests::xmpp_server::XmppServer;
    let mut server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let certs = server.config().parent().unwrap().to_owned();
    let fingerprint = tandem_tests::certs::make_ca_marked(&certs);
    server.restart();

    let plugins = tandem_tests::plugin_folder(&["tandem_plugin_xmpp", "tandem_plugin_sip"]);
    let dir = tempfile::tempdir().unwrap();
    let check = |password: &str, extra: &str| {
        tandem_tests::write(dir.path(), "password", password);
        let config = format!(
            "[host]\nplugin_dirs = [{plugins:?}]\ndefault_plugin_dirs = false\nscript_dirs = []\ncontrol_socket = \"control.sock\"\n\n[plugins.xmpp]\njid = {alice:?}\npassword_file = \"password\"\nhost = \"127.0.0.1\"\nport = {}\n{extra}\n[plugins.sip]\nlisten = \"127.0.0.1:0\"\n",
            server.port(),
            plugins = plugins.path().display().to_string(),
        );
        let cfg = tandem_tests::write(dir.path(), "tandem.toml", &config);
        let out = std::process::Command::new(tandem_tests::tandem_bin())
            .args(["check", "--connect", "--config"])
            .arg(&cfg)
            .env_remove("SSL_CERT_FILE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stdout.contains(password) && !stderr.contains(password),
            "the password is never shown:\n{stdout}{stderr}"
        );
        (out.status.success(), stdout, stderr)
    };

    let (ok, out, err) = check("alice-secret", "");
    assert!(!ok, "{out}{err}");
    assert!(
        out.contains("error  the server's certificate for localhost is a CA certificate"),
        "{out}{err}"
    );
    let pin_line = format!("pin_sha256 = \"{fingerprint}\" in [plugins.xmpp] trusts exactly it");
    assert!(out.contains(&pin_line), "{out}{err}");
    assert!(!out.contains("logged in"), "{out}");

    let pin = format!("pin_sha256 = {fingerprint:?}\n");
    let (ok, out, err) = check("alice-secret", &pin);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ok     logged in to the XMPP server as alice@localhost/tandem"),
        "{out}"
    );
    assert!(
        out.contains(&format!("SHA-256 {fingerprint} (trusted)")),
        "{out}"
    );
    assert!(out.ends_with("all good\n"), "{out}");

    let (ok, out, err) = check("not-her-password", &pin);
    assert!(!ok, "{out}{err}");
    assert!(
        out.contains("error  the XMPP server refused the login (")
            && out.contains("tried once only"),
        "{out}{err}"
    );
    assert_eq!(
        err.matches("login failed").count(),
        1,
        "one login, not retried:\n{err}"
    );
}
