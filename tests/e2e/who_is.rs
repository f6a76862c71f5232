//! Who is calling (issue 21 item 1): a caller is named as the roster
//! contact only when exactly one contact publishes its SIP address (here
//! Bob's slixmpp client, by XEP-0152 reach in presence) and the call came
//! through the user's SIP service; a forged From or Call-Info from
//! anywhere else is shown as a claim, unverified.

use serde_json::{json, Value};
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

use super::SIDECAR;

/// Bob's own address, as his client publishes it and sipp writes it.
const BOB_SIP: &str = "sip:bob@127.0.0.1";

/// The sidecar with notify-calls, calls ringing 2 s; `sip_extra` adds to
/// `[plugins.sip]`. Bob's client then publishes his SIP address, and the
/// sidecar has it indexed once `xmpp.who_is` names him.
fn sidecar_knowing_bob(
    server: &Prosody,
    alice: &str,
    phone: &mut XmppClient,
    sip_extra: &str,
) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["notify-calls"],
        "",
        &format!("ring_timeout_seconds = 2\n{sip_extra}"),
    );
    sidecar.wait_online(SIDECAR, 1);
    phone.send(json!({"presence": {"reach": [BOB_SIP]}}));
    let asked = json!({"uri": "sip:bob@127.0.0.1;transport=udp", "vouched": true});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let who: Value = sidecar.call("xmpp.who_is", asked.clone()).unwrap();
        if who["verified"] == true {
            assert_eq!(who["jid"], "bob@localhost", "{who}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Bob's reach never indexed: {who}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Never by a part of it.
    let near = sidecar
        .call(
            "xmpp.who_is",
            json!({"uri": "sip:bob@127.0.0.1:5060", "vouched": true}),
        )
        .unwrap();
    assert_eq!(
        (&near["verified"], &near["jid"]),
        (&json!(false), &Value::Null),
        "{near}"
    );
    sidecar
}

/// sipp calls as `from_user` claiming `claim` by Call-Info; nobody answers.
fn call_claiming(sidecar: &Sidecar, from_user: &str, claim: &str, dir: &std::path::Path) {
    sipp::run_ok(
        &[
            "-sf",
            &sipp::scenario_path("claimed_caller_uac.xml"),
            "-m",
            "1",
            "-key",
            "from_user",
            from_user,
            "-key",
            "claim",
            claim,
            &format!("127.0.0.1:{}", sidecar.sip_port()),
        ],
        dir,
    );
}

fn note(gajim: &XmppClient, what: &str, start: &str) -> String {
    let note = gajim.wait_for(what, |e| {
        e["event"] == "message"
            && e["from"] == SIDECAR
            && e["body"].as_str().is_some_and(|b| b.starts_with(start))
    });
    note["body"].as_str().unwrap().to_owned()
}

/// No registrar: nothing vouches for the caller. Bob's own address with
/// Bob's JID in Call-Info is still only a claim, and so is a stranger's.
#[test]
fn a_caller_nothing_vouches_for_is_shown_as_a_claim() {
    let server = Prosody::start();
    let (alice, gajim, mut phone) = alice_and_bob(&server);
    let sidecar = sidecar_knowing_bob(&server, &alice, &mut phone, "");
    let dir = tempfile::tempdir().unwrap();

    call_claiming(&sidecar, "bob", "bob@localhost", dir.path());
    let body = note(&gajim, "the forged call's note", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from Bob <sip:bob@127.0.0.1>, who claims to be bob@localhost (unverified)"),
        "{body}"
    );
    let missed = note(&gajim, "the missed call", "Missed call from");
    assert!(missed.contains("(unverified)"), "{missed}");
    assert!(!missed.contains("(bob@localhost)"), "{missed}");

    gajim.clear();
    call_claiming(&sidecar, "mallory", "bob@localhost", dir.path());
    let body = note(&gajim, "the stranger's note", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from Bob <sip:mallory@127.0.0.1>, who claims to be bob@localhost (unverified)"),
        "{body}"
    );
}

/// Through the registrar (every 127.0.0.1 address is the registrar's
/// here): the caller at Bob's published address is Bob, whatever its
/// Call-Info claims.
#[test]
fn a_vouched_caller_at_a_contacts_own_address_is_that_contact() {
    let server = Prosody::start();
    let (alice, gajim, mut phone) = alice_and_bob(&server);
    let dir = tempfile::tempdir().unwrap();
    let port = sipp::free_udp_port().to_string();
    let registrar = sipp::Background::once("registrar.xml", &port, dir.path());
    let sidecar = sidecar_knowing_bob(
        &server,
        &alice,
        &mut phone,
        &format!("registrar = \"sip:127.0.0.1:{port}\"\npassword = \"secret\"\n"),
    );
    registrar.wait_ok(dir.path());

    call_claiming(&sidecar, "bob", "mallory@localhost", dir.path());
    let body = note(&gajim, "Bob's call", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from bob@localhost"),
        "{body}"
    );
    assert!(!body.contains("mallory"), "{body}");
    let missed = note(&gajim, "Bob's missed call", "Missed call from");
    assert_eq!(missed, "Missed call from bob@localhost");
}
