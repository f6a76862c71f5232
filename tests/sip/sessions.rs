//! SIP sessions that are not calls (decision 0066): an MSRP file offer's
//! INVITE, offered to whatever provides `sip.take_session` (here a test
//! rule, as the file-transfer plugin would) and answered, refused or
//! given up either way; and sessions Tandem offers. None of it is a call.

use crate::scenario;
use serde_json::{json, Value};
use tandem_tests::sidecar::{field, Sidecar};
use tandem_tests::sipp;

/// Keeps every offered session (the person's answer comes from the test)
/// and logs `TAKE session=<id> …`; logs `SESSION <topic> session=<id>
/// reason=… code=… path=<the SDP's a=path>` for the session events.
const TAKER: &str = r#"
tandem.provide("sip.take_session", function(ev)
  tandem.log.info("TAKE session=" .. ev.session .. " peer=" .. tostring(ev.peer)
    .. " source=" .. tostring(ev.source) .. " vouched=" .. tostring(ev.vouched)
    .. " msrp=" .. tostring(ev.sdp:find("m=message 7654 TCP/MSRP", 1, true) ~= nil))
  return {}
end)
tandem.on("sip.session.*", function(ev, topic)
  tandem.log.info("SESSION " .. topic .. " session=" .. tostring(ev.session)
    .. " reason=" .. tostring(ev.reason) .. " code=" .. tostring(ev.code)
    .. " path=" .. tostring(ev.sdp and ev.sdp:match("a=path:(%S+)")))
end)
"#;

/// The answer the taker's user gives (what the file-transfer plugin's
/// `FileStream::answer` would write: its one stream).
pub(crate) const ANSWER: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=message 9 TCP/MSRP *\r\na=recvonly\r\na=setup:active\r\n\
    a=path:msrp://127.0.0.1:9999/answer;tcp\r\n";

/// Tandem's own offer (what the file-transfer plugin would write).
const OFFER: &str = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=message 40000 TCP/MSRP *\r\na=sendonly\r\na=setup:actpass\r\n\
    a=path:msrp://127.0.0.1:40000/offer;tcp\r\n\
    a=file-selector:name:\"a.txt\" type:text/plain size:3\r\n\
    a=file-transfer-id:offered-by-tandem\r\n";

/// Like [`TAKER`], but answers the first session before `sip.take_session`
/// has returned (as a taker whose rule accepts at once may), and leaves
/// the next ones to ring.
const TAKER_AT_ONCE: &str = r#"
tandem.provide("sip.take_session", function(ev)
  tandem.log.info("TAKE session=" .. ev.session)
  if not tandem.state.answered then
    tandem.state.answered = true
    tandem.call("sip.session.answer", { session = ev.session, sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
      .. "s=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=recvonly\r\n"
      .. "a=setup:active\r\na=path:msrp://127.0.0.1:9999/answer;tcp\r\n" })
  end
  return {}
end)
tandem.on("sip.session.*", function(ev, topic)
  tandem.log.info("SESSION " .. topic .. " session=" .. tostring(ev.session)
    .. " reason=" .. tostring(ev.reason) .. " code=" .. tostring(ev.code))
end)
"#;

/// A sidecar (`config` in `[plugins.sip]`, the `shipped` rules) with the
/// taker `rule` loaded (rules reload when their folder changes; written
/// aside and renamed in, so the reload sees it whole).
pub(crate) fn with_taker(config: &str, shipped: &[&str], rule: &str) -> Sidecar {
    let tandem = Sidecar::start_sip(config, shipped);
    let scripts = tandem.dir.path().join("scripts");
    std::fs::write(scripts.join("taker.tmp"), rule).unwrap();
    std::fs::rename(scripts.join("taker.tmp"), scripts.join("taker.lua")).unwrap();
    tandem.wait_rule_loaded("taker");
    tandem
}

/// The `n`th (from 1) log line containing `needle`, once there is one.
fn nth_line(tandem: &Sidecar, needle: &str, n: usize) -> String {
    let log = tandem.wait_for_n(needle, n);
    log.lines()
        .filter(|l| l.contains(needle))
        .nth(n - 1)
        .unwrap()
        .to_owned()
}

/// sipp playing `file` once toward `tandem`, from a port of its own.
fn sipp_offers(tandem: &Sidecar, file: &str, dir: &std::path::Path) -> sipp::Background {
    let target = format!("127.0.0.1:{}", tandem.sip_port());
    let port = sipp::free_udp_port().to_string();
    sipp::Background::start(
        &["-sf", &scenario(file), "-m", "1", "-p", &port, &target],
        dir,
    )
}

/// Nothing of it was a call: no call now or recent, none in `sip.status`,
/// no `sip.call.*` event.
fn no_calls(tandem: &Sidecar) {
    let calls = tandem.call("sip.calls", json!({})).unwrap();
    assert_eq!(
        (&calls["now"], &calls["recent"]),
        (&json!([]), &json!([])),
        "{calls}"
    );
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(status["calls"], json!([]), "{status}");
    let log = tandem.log();
    assert!(
        !log.contains("SIP sip.call."),
        "a session is no call: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// The `n`th `sip.session.ended`: its session, reason and code.
fn ended(tandem: &Sidecar, n: usize) -> (String, String, String) {
    let line = nth_line(tandem, "SESSION sip.session.ended", n);
    let [session, reason, code] = ["session", "reason", "code"].map(|f| field(&line, f).to_owned());
    (session, reason, code)
}

fn session_of(reply: &Value) -> String {
    reply["session"].as_str().unwrap().to_owned()
}

#[test]
fn an_offered_file_session_is_taken_answered_refused_or_cancelled_and_never_a_call() {
    let tandem = with_taker("user = \"alice\"", &[], TAKER);
    let dir = tempfile::tempdir().unwrap();

    // Answered with the taker's SDP (sipp checks it and its type), then
    // sipp hangs up.
    let answered = sipp_offers(&tandem, "session_answered_uac.xml", dir.path());
    let take = nth_line(&tandem, "TAKE session=", 1);
    assert_eq!(
        field(&take, "msrp"),
        "true",
        "the SDP byte for byte: {take}"
    );
    assert_eq!(field(&take, "vouched"), "false", "{take}");
    assert!(
        field(&take, "peer").starts_with("sip:sipp@127.0.0.1"),
        "{take}"
    );
    let session = field(&take, "session").to_owned();
    let reply = tandem
        .call(
            "sip.session.answer",
            json!({ "session": session, "sdp": ANSWER }),
        )
        .unwrap();
    assert_eq!(session_of(&reply), session);
    answered.wait_ok(dir.path());
    assert_eq!(
        ended(&tandem, 1),
        (session.clone(), "remote_hangup".into(), "nil".into())
    );
    let again = tandem.call(
        "sip.session.answer",
        json!({ "session": session, "sdp": ANSWER }),
    );
    assert!(again.is_err(), "an ended session cannot be answered");

    // The user declines: 603 (RFC 5547 §8).
    let declined = sipp_offers(&tandem, "session_declined_uac.xml", dir.path());
    let session = field(&nth_line(&tandem, "TAKE session=", 2), "session").to_owned();
    tandem
        .call("sip.session.reject", json!({ "session": session }))
        .unwrap();
    declined.wait_ok(dir.path());
    assert_eq!(
        ended(&tandem, 2),
        (session.clone(), "rejected".into(), "603".into())
    );

    // The sender gives up while it rings: 487.
    let cancelled = sipp_offers(&tandem, "session_cancelled_uac.xml", dir.path());
    let session = field(&nth_line(&tandem, "TAKE session=", 3), "session").to_owned();
    cancelled.wait_ok(dir.path());
    assert_eq!(
        ended(&tandem, 3),
        (session.clone(), "cancelled".into(), "487".into())
    );

    no_calls(&tandem);
}

#[test]
fn tandem_offers_a_session_and_ends_it_or_hears_it_declined() {
    let tandem = with_taker("user = \"alice\"", &[], TAKER);
    let dir = tempfile::tempdir().unwrap();

    // sipp answers 200 with its own MSRP SDP: answered, then ended by us.
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::once("session_answered_uas.xml", &port, dir.path());
    let to = format!("sip:bob@127.0.0.1:{port}");
    let reply = tandem
        .call("sip.session.offer", json!({ "to": to, "sdp": OFFER }))
        .unwrap();
    let session = session_of(&reply);
    let answered = nth_line(&tandem, "SESSION sip.session.answered", 1);
    assert_eq!(field(&answered, "session"), session, "{answered}");
    assert_eq!(
        field(&answered, "path"),
        "msrp://127.0.0.1:7777/sipp-answer;tcp",
        "sipp's SDP byte for byte: {answered}"
    );
    tandem
        .call("sip.session.end", json!({ "session": session }))
        .unwrap();
    uas.wait_ok(dir.path());
    assert_eq!(
        ended(&tandem, 1),
        (session.clone(), "hangup".into(), "nil".into())
    );

    // sipp declines: ended, rejected, with its code.
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::once("session_declined_uas.xml", &port, dir.path());
    let to = format!("sip:bob@127.0.0.1:{port}");
    let reply = tandem
        .call("sip.session.offer", json!({ "to": to, "sdp": OFFER }))
        .unwrap();
    let session = session_of(&reply);
    uas.wait_ok(dir.path());
    assert_eq!(
        ended(&tandem, 2),
        (session.clone(), "rejected".into(), "603".into())
    );
    let no_sdp = tandem.call("sip.session.offer", json!({ "to": to, "sdp": "" }));
    assert!(no_sdp.is_err(), "an offer needs its SDP");

    no_calls(&tandem);
}

#[test]
fn a_session_answered_before_its_taker_returns_is_answered_and_one_nobody_answers_is_missed() {
    let tandem = with_taker(
        "user = \"alice\"\nring_timeout_seconds = 1",
        &[],
        TAKER_AT_ONCE,
    );
    let dir = tempfile::tempdir().unwrap();
    // Answered from inside sip.take_session: carried out once it rings.
    let answered = sipp_offers(&tandem, "session_answered_uac.xml", dir.path());
    let session = field(&nth_line(&tandem, "TAKE session=", 1), "session").to_owned();
    answered.wait_ok(dir.path());
    assert_eq!(
        ended(&tandem, 1),
        (session, "remote_hangup".into(), "nil".into())
    );
    // Kept, never answered: 480 after ring_timeout_seconds.
    let missed = sipp_offers(&tandem, "session_unanswered_uac.xml", dir.path());
    let session = field(&nth_line(&tandem, "TAKE session=", 2), "session").to_owned();
    missed.wait_ok(dir.path());
    assert_eq!(ended(&tandem, 2), (session, "missed".into(), "480".into()));
    no_calls(&tandem);
}
