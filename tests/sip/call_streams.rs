//! A stream added to a call that is up (decision 0072): sipp calls, the
//! auto-answer rule answers, and sipp's re-INVITE adds an `m=message`
//! stream. A test rule takes it as the file-transfer plugin would; the
//! 200 must keep the offer's m-lines in order, the audio live, the stream
//! answered or at port 0; and the call stays up through all of it.

use crate::sessions::{self, ANSWER};
use crate::{scenario, AUTO_ANSWER};
use serde_json::json;
use tandem_tests::sidecar::{field, Sidecar};
use tandem_tests::sipp;

/// Keeps a file offer (the test answers it), refuses anything else 488,
/// as the file-transfer plugin does; logs what it was given.
const TAKER: &str = r#"
tandem.provide("sip.take_session", function(ev)
  local file = ev.sdp:find("a=file-selector", 1, true) ~= nil
  tandem.log.info("TAKE session=" .. ev.session .. " call=" .. tostring(ev.call)
    .. " file=" .. tostring(file)
    .. " audio=" .. tostring(ev.sdp:find("m=audio", 1, true) ~= nil))
  if file then return {} end
  return { refuse = 488 }
end)
tandem.on("sip.session.*", function(ev, topic)
  tandem.log.info("SESSION " .. topic .. " session=" .. tostring(ev.session)
    .. " reason=" .. tostring(ev.reason) .. " code=" .. tostring(ev.code))
end)
"#;

/// A sidecar that answers calls by itself, with [`TAKER`] loaded.
fn with_taker() -> Sidecar {
    sessions::with_taker(AUTO_ANSWER, &["auto-answer"], TAKER)
}

fn sipp_calls(tandem: &Sidecar, file: &str, dir: &std::path::Path) -> sipp::Background {
    let media_port = sipp::free_udp_port().to_string();
    let port = sipp::free_udp_port().to_string();
    let to = format!("127.0.0.1:{}", tandem.sip_port());
    sipp::Background::start(
        &[
            "-sf",
            &scenario(file),
            "-m",
            "1",
            "-p",
            &port,
            "-mp",
            &media_port,
            // What sipp got, for a test to read (`received_invite`).
            "-trace_msg",
            &to,
        ],
        dir,
    )
}

/// The one call now: up, with this id.
fn call_up(tandem: &Sidecar, call: &str) {
    let calls = tandem.call("sip.calls", json!({})).unwrap();
    let now = calls["now"].as_array().unwrap();
    assert_eq!(now.len(), 1, "{calls}");
    assert_eq!(now[0]["call"], json!(call), "{calls}");
    assert_eq!(now[0]["state"], json!("up"), "{calls}");
    let status = tandem.call("sip.status", json!({})).unwrap();
    assert_eq!(
        status["calls"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
}

/// The m-lines of the INVITE sipp received (Tandem's re-INVITE), from
/// sipp's message trace in `dir`.
fn received_invite_m_lines(dir: &std::path::Path) -> Vec<String> {
    let trace: String = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    // Each message follows a "-----… <time>" line and a "… message
    // received/sent …" line.
    let invites: Vec<Vec<String>> = trace
        .split("\n----")
        .filter(|m| m.contains("message received"))
        .filter(|m| {
            m.lines()
                .skip(2)
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.starts_with("INVITE "))
        })
        .map(|m| {
            m.lines()
                .filter(|l| l.starts_with("m="))
                .map(|l| l.trim_end().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(invites.len(), 1, "one re-INVITE: {trace}");
    invites.into_iter().next().unwrap()
}

fn line_with(log: &str, needle: &str) -> String {
    log.lines().find(|l| l.contains(needle)).unwrap().to_owned()
}

#[test]
fn a_file_offered_inside_a_call_is_taken_answered_in_place_and_ended_without_the_call() {
    let tandem = with_taker();
    let dir = tempfile::tempdir().unwrap();
    let sipp = sipp_calls(&tandem, "call_stream_uac.xml", dir.path());
    let log = tandem.wait_for("TAKE session=");
    let call = field(&line_with(&log, "SIP sip.call.answered"), "call").to_owned();
    let take = line_with(&log, "TAKE session=");
    assert_eq!(field(&take, "call"), call, "the call it belongs to: {take}");
    assert_eq!(field(&take, "file"), "true", "{take}");
    assert_eq!(field(&take, "audio"), "false", "the stream only: {take}");
    let session = field(&take, "session").to_owned();
    let reply = tandem
        .call(
            "sip.session.answer",
            json!({ "session": session, "sdp": ANSWER }),
        )
        .unwrap();
    assert_eq!(reply["call"], json!(call), "{reply}");
    // sipp ends the stream with port 0: the session ends, the call stays.
    let log = tandem.wait_for("SESSION sip.session.ended");
    let ended = line_with(&log, "SESSION sip.session.ended");
    assert_eq!(field(&ended, "session"), session, "{ended}");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    call_up(&tandem, &call);
    sipp.wait_ok(dir.path());
    let log = tandem.wait_for("SIP sip.call.ended");
    let ended = line_with(&log, "SIP sip.call.ended");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    assert!(
        !log.contains("SIP sip.call.held"),
        "the call was never held: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_stream_the_taker_refuses_gets_port_0_in_its_place_and_the_call_goes_on() {
    let tandem = with_taker();
    let dir = tempfile::tempdir().unwrap();
    let sipp = sipp_calls(&tandem, "call_stream_refused_uac.xml", dir.path());
    let log = tandem.wait_for("SESSION sip.session.ended");
    let call = field(&line_with(&log, "SIP sip.call.answered"), "call").to_owned();
    let take = line_with(&log, "TAKE session=");
    assert_eq!(field(&take, "file"), "false", "{take}");
    let ended = line_with(&log, "SESSION sip.session.ended");
    assert_eq!(
        (field(&ended, "reason"), field(&ended, "code")),
        ("rejected", "488"),
        "{ended}"
    );
    call_up(&tandem, &call);
    sipp.wait_ok(dir.path());
    let log = tandem.wait_for("SIP sip.call.ended");
    assert_eq!(
        field(&line_with(&log, "SIP sip.call.ended"), "reason"),
        "remote_hangup"
    );
}

/// Tandem's own offer (what the file-transfer plugin would write).
const OFFER: &str = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=message 40000 TCP/MSRP *\r\na=sendonly\r\na=setup:actpass\r\n\
    a=path:msrp://127.0.0.1:40000/offer;tcp\r\n\
    a=file-selector:name:\"a.txt\" type:text/plain size:3\r\n\
    a=file-transfer-id:offered-by-tandem\r\n";

#[test]
fn a_stream_tandem_adds_to_a_call_refused_with_port_0_leaves_the_call_and_its_m_line() {
    let tandem = with_taker();
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::once("call_stream_offered_uas.xml", &port, dir.path());
    let to = format!("sip:bob@127.0.0.1:{port}");
    let call = tandem.call("sip.call", json!({ "to": to })).unwrap();
    let call = call["call"].as_str().unwrap().to_owned();
    tandem.wait_for("SIP sip.call.answered");
    // Inside the call: the reply names it; sipp sets the stream's port to
    // 0, so the session ends refused and the call is as it was.
    let reply = tandem
        .call(
            "sip.session.offer",
            json!({ "to": to, "sdp": OFFER, "in_call": true }),
        )
        .unwrap();
    assert_eq!(reply["call"], json!(call), "{reply}");
    let log = tandem.wait_for("SESSION sip.session.ended");
    let ended = line_with(&log, "SESSION sip.session.ended");
    assert_eq!(field(&ended, "session"), reply["session"].as_str().unwrap());
    assert_eq!(
        (field(&ended, "reason"), field(&ended, "code")),
        ("rejected", "488"),
        "{ended}"
    );
    call_up(&tandem, &call);
    // Our next offer keeps the stream's m-line (sipp checks it).
    tandem
        .call("sip.hold", json!({ "call": call, "hold": true }))
        .unwrap();
    tandem.call("sip.hangup", json!({ "call": call })).unwrap();
    uas.wait_ok(dir.path());
    assert!(!tandem.log().contains("panicked"));
}

#[test]
fn hanging_up_a_call_ends_the_stream_in_it() {
    let tandem = with_taker();
    let dir = tempfile::tempdir().unwrap();
    let sipp = sipp_calls(&tandem, "call_stream_hangup_uac.xml", dir.path());
    let log = tandem.wait_for("TAKE session=");
    let session = field(&line_with(&log, "TAKE session="), "session").to_owned();
    tandem
        .call(
            "sip.session.answer",
            json!({ "session": session, "sdp": ANSWER }),
        )
        .unwrap();
    sipp.wait_ok(dir.path());
    let log = tandem.wait_for("SESSION sip.session.ended");
    let ended = line_with(&log, "SESSION sip.session.ended");
    assert_eq!(field(&ended, "session"), session, "{ended}");
    assert_eq!(field(&ended, "reason"), "remote_hangup", "{ended}");
    let log = tandem.wait_for("SIP sip.call.ended");
    assert_eq!(
        field(&line_with(&log, "SIP sip.call.ended"), "reason"),
        "remote_hangup"
    );
}

#[test]
fn a_video_refused_in_the_first_answer_keeps_its_place_when_tandem_holds_the_call() {
    let tandem = Sidecar::start_sip(AUTO_ANSWER, &["auto-answer"]);
    let dir = tempfile::tempdir().unwrap();
    let sipp = sipp_calls(&tandem, "call_video_refused_held_uac.xml", dir.path());
    let log = tandem.wait_for("SIP sip.call.answered");
    let call = field(&line_with(&log, "SIP sip.call.answered"), "call").to_owned();
    // Without the first offer's m-lines a strict peer answers 488 and the
    // call cannot be held (sipp's scenario fails on a missing one).
    tandem
        .call("sip.hold", json!({ "call": call, "hold": true }))
        .unwrap();
    tandem.wait_for("SIP sip.call.held");
    tandem.call("sip.hangup", json!({ "call": call })).unwrap();
    sipp.wait_ok(dir.path());
    let m_lines = received_invite_m_lines(dir.path());
    let kinds: Vec<(&str, bool)> = m_lines
        .iter()
        .map(|m| {
            let mut fields = m.split_whitespace();
            let kind = fields.next().unwrap_or_default();
            (kind, fields.next() != Some("0"))
        })
        .collect();
    assert_eq!(
        kinds,
        [("m=video", false), ("m=audio", true), ("m=text", false)],
        "every m-line of the first offer, in order, only the audio live: {m_lines:?}"
    );
    assert!(!tandem.log().contains("panicked"));
}
