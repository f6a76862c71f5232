//! RFC 5626 outbound against Kamailio's `outbound` module: the REGISTER
//! names this device and its flow, the registrar keeps one binding per
//! device across restarts, a failed flow is registered again at once, and
//! a registrar that refuses outbound (439) is registered with without it.

use tandem_tests::kamailio::{Kamailio, Outbound};
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

const REGISTERED: &str = "SIP sip.registration call=nil peer=nil reason=nil code=200";

fn registering(port: u16, extra: &str) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = \"alice\"\nregistrar = \"sip:127.0.0.1:{port}\"\npassword = \"secret\"\n{extra}{}",
            crate::AUTO_ANSWER
        ),
        &["auto-answer"],
    )
}

/// The `Address:` lines of `kamcmd ul.dump`: one per binding.
fn addresses(dump: &str) -> Vec<&str> {
    dump.lines()
        .filter_map(|l| l.trim().strip_prefix("Address: "))
        .collect()
}

/// Tandem crashes (no un-REGISTER) and starts again on another port: the
/// registrar holds `bindings` contacts for alice then.
fn bindings_after_a_crash(extra: &str) -> (String, String) {
    let mut registrar = Kamailio::start_outbound("secret", Outbound::Keeps);
    let mut tandem = registering(registrar.port, extra);
    tandem.wait_for(REGISTERED);
    let before = registrar.bindings();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &tandem.pid().to_string()])
        .status();
    tandem.restart();
    tandem.wait_for_n(REGISTERED, 2);
    registrar.wait_for_n("REGISTERED sip:alice@", 2);
    (before, registrar.bindings())
}

#[test]
fn the_registrar_keeps_the_instance_and_replaces_its_binding_after_a_restart() {
    let (before, after) = bindings_after_a_crash("");
    assert!(before.contains("Instance: <urn:uuid:"), "{before}");
    assert!(before.contains("Reg-Id: 1"), "{before}");
    let instance = |dump: &str| {
        dump.lines()
            .find(|l| l.contains("Instance: "))
            .map(str::to_owned)
    };
    assert_eq!(instance(&before), instance(&after), "kept across restarts");
    let (first, now) = (addresses(&before), addresses(&after));
    assert_eq!(now.len(), 1, "one binding, not two: {after}");
    assert_ne!(first, now, "the new address replaced the old one: {after}");
}

#[test]
fn without_outbound_a_restart_leaves_the_old_binding_beside_the_new() {
    // The same crash with `outbound = false`: what the instance id saves.
    let (before, after) = bindings_after_a_crash("outbound = false\n");
    assert!(!before.contains("Instance: <urn"), "{before}");
    assert_eq!(addresses(&after).len(), 2, "{after}");
}

#[test]
fn a_failed_flow_is_registered_again_and_calls_come_down_it() {
    let mut registrar = Kamailio::start_outbound("secret", Outbound::Keeps);
    let tandem = registering(registrar.port, "keepalive_secs = 1\n");
    let log = tandem.wait_for(REGISTERED);
    assert!(log.contains("RFC 5626 outbound"), "{log}");
    // The registrar goes away with its flows; the keep-alive notices.
    registrar.stop();
    tandem.wait_for("keep-alive to sip:127.0.0.1");
    registrar.start_again();
    tandem.wait_for_n(REGISTERED, 2);
    let dump = registrar.bindings();
    assert_eq!(addresses(&dump).len(), 1, "{dump}");
    assert!(dump.contains("Reg-Id: 1"), "{dump}");
    // A call to alice through the registrar reaches Tandem, whose 200
    // says the dialog uses the flow (RFC 5626 §4.3: `;ob`).
    let dir = tempfile::tempdir().unwrap();
    let media = sipp::free_udp_port().to_string();
    let to = format!("127.0.0.1:{}", registrar.port);
    sipp::run_ok(
        &["-sn", "uac", "-s", "alice", "-m", "1", "-mp", &media, &to],
        dir.path(),
    );
    let log = registrar.wait_for("REPLY 200 INVITE");
    let reply = log
        .lines()
        .find(|l| l.contains("REPLY 200 INVITE"))
        .unwrap();
    assert!(reply.contains(";ob>"), "{reply}");
}

#[test]
fn a_registrar_answering_439_is_registered_with_without_outbound() {
    let mut registrar = Kamailio::start_outbound("secret", Outbound::Refuses439);
    let tandem = registering(registrar.port, "");
    let log = tandem.wait_for(REGISTERED);
    assert_eq!(log.matches("answered 439").count(), 1, "{log}");
    let log = registrar.wait_for("REGISTERED sip:alice@");
    let line = log.lines().find(|l| l.contains("REGISTERED")).unwrap();
    assert!(!line.contains("reg-id"), "{line}");
}
