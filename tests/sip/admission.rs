//! Who may do what: the password answers only the registrar, floods are
//! busied, `accept_from`, and the source address rules can check.

use crate::{registering, scenario, AUTO_ANSWER};
use serde_json::json;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

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
    tandem.wait_rule_loaded("sources");
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

/// One source writing MESSAGEs in a loop (sipp, 20 at 50 a second) is held
/// to `message_burst` and then `message_rate`: the rest are answered 486
/// Busy Here with Retry-After, counted in `sip.status`; a MESSAGE from
/// another address right after still gets its 200 and reaches the rules.
#[test]
fn a_message_flood_from_one_source_is_refused_and_others_still_get_through() {
    // One a ten seconds after a burst of 3: whatever the machine's pace,
    // 20 MESSAGEs cannot all pass.
    let tandem = Sidecar::start_sip(
        "user = \"alice\"\nmessage_rate = 0.1\nmessage_burst = 3",
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    sipp::run_ok(
        &[
            "-sf",
            &scenario("message_flood_uac.xml"),
            "-m",
            "20",
            "-r",
            "50",
            "-trace_msg",
            &target,
        ],
        dir.path(),
    );
    let trace: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|f| f.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
        .collect();
    let passed = trace.matches("SIP/2.0 200 OK").count();
    let refused = trace.matches("SIP/2.0 486 Busy Here").count();
    assert!(
        (3..20).contains(&passed) && refused >= 1,
        "{passed} passed, {refused} refused:\n{trace}"
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert!(status["answered_flood"].as_u64() >= Some(1), "{status}");

    // Another address on the same machine is not slowed by it.
    sipp::run_ok(
        &[
            "-sf",
            &scenario("message_uac.xml"),
            "-m",
            "1",
            "-i",
            "127.0.0.2",
            &target,
        ],
        dir.path(),
    );
    tandem.wait_for("SIP sip.message");
}
