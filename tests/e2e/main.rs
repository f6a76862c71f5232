//! The product end to end: a real SIP peer (baresip, sipp) calls or
//! writes to the sidecar, which runs both plugins and the shipped rules
//! against a real Prosody; slixmpp clients play the user's own client and
//! a contact. One module per concern; helpers more than one use live here.

mod bridge;
mod calls;
mod chat;
mod invites;
mod jingle;
mod preauth;
mod profanity;
mod spool;
mod who_is;

use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;

const SIDECAR: &str = "alice@localhost/tandem";
/// The sidecar with every rule a user runs, answering any caller.
pub fn alice_sidecar(server: &Prosody, alice: &str, xmpp_extra: &str, extra: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["on-the-phone", "notify-calls", "auto-answer"],
        xmpp_extra,
        &format!("\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n{extra}"),
    );
    sidecar.wait_online("alice@localhost/tandem", 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");
    sidecar
}

pub fn answered_call(sidecar: &Sidecar) -> String {
    let log = sidecar.wait_for("SIP sip.call.answered");
    let id = field(&event_line(&log, "sip.call.answered"), "call").to_owned();
    assert!(!id.is_empty(), "{log}");
    id
}

/// The sidecar with both plugins and sip-chat.lua, online.
pub fn chat_sidecar(server: &Prosody, alice: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["sip-chat"],
        "",
        "",
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar
}

/// sipp writes to the sidecar as Bob, "lunch at 1?", from
/// `sip:bob@127.0.0.1:<peer_port>` (where he takes answers).
pub fn bob_writes(sidecar: &Sidecar, peer_port: &str, dir: &std::path::Path) {
    bob_writes_expecting("chat_peer_says.xml", sidecar, peer_port, dir);
}

/// [`bob_writes`] with another scenario: what Bob expects in answer.
pub fn bob_writes_expecting(
    scenario: &str,
    sidecar: &Sidecar,
    peer_port: &str,
    dir: &std::path::Path,
) {
    sipp::run_ok(
        &[
            "-sf",
            &sipp::scenario_path(scenario),
            "-m",
            "1",
            "-key",
            "peer_port",
            peer_port,
            &format!("127.0.0.1:{}", sidecar.sip_port()),
        ],
        dir,
    );
}
