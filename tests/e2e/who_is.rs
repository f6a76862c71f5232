//! Who is calling (issue 21 item 1): a caller is named as the roster
//! contact only when exactly one contact publishes its SIP address (here
//! Bob's slixmpp client, by XEP-0152 reach in presence, or a number in his
//! vCard) and the call came
//! through the user's SIP service (Kamailio, the registrar and proxy); a
//! forged From or Call-Info from anywhere else is shown as a claim,
//! unverified.

use serde_json::{json, Value};
use tandem_tests::baresip::Baresip;
use tandem_tests::kamailio::Kamailio;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::{event_line, field, Sidecar};
use tandem_tests::sipp;
use tandem_tests::xmpp_client::{alice_and_bob, XmppClient};

use super::{alice_sidecar, answered_call, SIDECAR};

/// Bob's own address, as his client publishes it and sipp writes it.
const BOB_SIP: &str = "sip:bob@127.0.0.1";

/// The sidecar with notify-calls, calls ringing 2 s, online; `sip_extra`
/// adds to `[plugins.sip]`.
fn notify_calls_sidecar(server: &Prosody, alice: &str, sip_extra: &str) -> Sidecar {
    let sidecar = Sidecar::start_phone(
        server,
        (alice, "alice-secret"),
        "alice",
        &["notify-calls"],
        "",
        &format!("ring_timeout_seconds = 2\n{sip_extra}"),
    );
    sidecar.wait_online(SIDECAR, 1);
    sidecar
}

/// [`notify_calls_sidecar`], then Bob's client publishes his SIP address,
/// and the sidecar has it indexed once `xmpp.who_is` names him.
fn sidecar_knowing_bob(
    server: &Prosody,
    alice: &str,
    phone: &mut XmppClient,
    sip_extra: &str,
) -> Sidecar {
    let sidecar = notify_calls_sidecar(server, alice, sip_extra);
    knows_bob(&sidecar, phone);
    sidecar
}

/// Kamailio on [`KAMAILIO_AT`], and [`notify_calls_sidecar`] registered
/// with it, taking requests from the registrar and from 127.0.0.1 (sipp
/// straight).
fn behind_kamailio(server: &Prosody, alice: &str) -> (Kamailio, Sidecar) {
    let mut kamailio = Kamailio::start_loopback_proxy(KAMAILIO_AT, "secret");
    let sidecar = notify_calls_sidecar(
        server,
        alice,
        &format!(
            "registrar = \"sip:{KAMAILIO_AT}:{port}\"\npassword = \"secret\"\n\
             accept_from = [\"registrar\", \"127.0.0.1\"]\n",
            port = kamailio.port
        ),
    );
    kamailio.wait_for("REGISTERED sip:alice@");
    sidecar.wait_for("SIP sip.registration call=nil peer=nil reason=nil code=200");
    (kamailio, sidecar)
}

/// Waits (10 s at most) until the sidecar names `uri`, vouched for, as
/// `jid`.
fn wait_verified(sidecar: &Sidecar, uri: &str, jid: &str) {
    let asked = json!({"uri": uri, "vouched": true});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let who: Value = sidecar.call("xmpp.who_is", asked.clone()).unwrap();
        if who["verified"] == true {
            assert_eq!(who["jid"], jid, "{who}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{uri} never indexed as {jid}'s: {who}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Whether the sidecar names `uri`, vouched for, as anyone.
fn verified(sidecar: &Sidecar, uri: &str) -> Value {
    sidecar
        .call("xmpp.who_is", json!({"uri": uri, "vouched": true}))
        .unwrap()
}

/// Bob's client publishes his SIP address by reach; returns once the
/// sidecar names him for a vouched call from it, and not for a near one.
fn knows_bob(sidecar: &Sidecar, phone: &mut XmppClient) {
    phone.send(json!({"presence": {"reach": [BOB_SIP]}}));
    wait_verified(sidecar, "sip:bob@127.0.0.1;transport=udp", "bob@localhost");
    // Never by a part of it.
    let near = verified(sidecar, "sip:bob@127.0.0.1:5060");
    assert_eq!(
        (&near["verified"], &near["jid"]),
        (&json!(false), &Value::Null),
        "{near}"
    );
}

/// Where Kamailio listens: an address of its own, so what it relays does
/// not come from sipp's 127.0.0.1.
const KAMAILIO_AT: &str = "127.0.0.2";

/// sipp calls the sidecar as `from_user` claiming `claim` by Call-Info,
/// sending to `to` (`address:port`: the sidecar, or a proxy before it);
/// nobody answers.
fn call_claiming(to: &str, from_user: &str, claim: &str, dir: &std::path::Path) {
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
            to,
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

    let to = format!("127.0.0.1:{}", sidecar.sip_port());
    call_claiming(&to, "bob", "bob@localhost", dir.path());
    let body = note(&gajim, "the forged call's note", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from Bob <sip:bob@127.0.0.1>, who claims to be bob@localhost (unverified)"),
        "{body}"
    );
    let missed = note(&gajim, "the missed call", "Missed call from");
    assert!(missed.contains("(unverified)"), "{missed}");
    assert!(!missed.contains("(bob@localhost)"), "{missed}");

    gajim.clear();
    call_claiming(&to, "mallory", "bob@localhost", dir.path());
    let body = note(&gajim, "the stranger's note", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from Bob <sip:mallory@127.0.0.1>, who claims to be bob@localhost (unverified)"),
        "{body}"
    );
}

/// Through the user's SIP service, Kamailio on 127.0.0.2 (the registrar
/// and the proxy between its users): the caller at Bob's published
/// address is Bob, whatever its Call-Info claims. The same caller sent
/// straight to the sidecar from 127.0.0.1 (which `accept_from` also
/// takes) is only a claim: nothing vouches for its From.
#[test]
fn a_caller_through_the_registrar_at_a_contacts_own_address_is_that_contact() {
    let server = Prosody::start();
    let (alice, gajim, mut phone) = alice_and_bob(&server);
    let dir = tempfile::tempdir().unwrap();
    let (mut kamailio, sidecar) = behind_kamailio(&server, &alice);
    knows_bob(&sidecar, &mut phone);

    let through = format!("{KAMAILIO_AT}:{}", kamailio.port);
    call_claiming(&through, "bob", "mallory@localhost", dir.path());
    let log = kamailio.wait_for("REQUEST INVITE sip:alice@");
    assert!(
        log.contains("from 127.0.0.1:"),
        "sipp's INVITE went through Kamailio:\n{log}"
    );
    let body = note(&gajim, "Bob's call through Kamailio", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from bob@localhost"),
        "{body}"
    );
    assert!(!body.contains("mallory"), "{body}");
    let missed = note(&gajim, "Bob's missed call", "Missed call from");
    assert_eq!(missed, "Missed call from bob@localhost");
    let incoming = event_line(&sidecar.log(), "sip.call.incoming");
    assert_eq!(field(&incoming, "vouched"), "true", "{incoming}");

    gajim.clear();
    let straight = format!("127.0.0.1:{}", sidecar.sip_port());
    call_claiming(&straight, "bob", "mallory@localhost", dir.path());
    let body = note(&gajim, "the same caller, straight", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from Bob <sip:bob@127.0.0.1>, who claims to be mallory@localhost (unverified)"),
        "{body}"
    );
    let log = sidecar.log();
    let straight_incoming = log
        .lines()
        .filter(|l| l.contains("SIP sip.call.incoming "))
        .nth(1)
        .unwrap_or_default();
    assert_eq!(
        field(straight_incoming, "vouched"),
        "false",
        "{straight_incoming}"
    );
    let missed = note(&gajim, "its missed call", "Missed call from");
    assert!(missed.contains("(unverified)"), "{missed}");
    assert!(!missed.contains("(bob@localhost)"), "{missed}");
}

/// A plain SIP peer (baresip, which sends no Call-Info) calls a user whose
/// roster contact Bob publishes an address (his desk phone, not baresip's):
/// nobody publishes the caller's, it claims nothing, so the note names the
/// raw SIP address, and the call is answered and hung up as any other.
/// (Were it Bob's own address, the note would say it claims to be Bob:
/// nothing vouches for it, see the first test.)
#[test]
fn a_plain_sip_peer_without_call_info_is_named_by_its_address_and_the_call_works() {
    let server = Prosody::start();
    let (alice, gajim, mut phone) = alice_and_bob(&server);
    let sidecar = alice_sidecar(&server, &alice, "", "");
    phone.send(json!({"presence": {"reach": ["sip:bob@desk.example.org"]}}));
    wait_verified(&sidecar, "sip:bob@desk.example.org", "bob@localhost");

    let uri = format!("sip:alice@127.0.0.1:{}", sidecar.sip_port());
    let baresip = Baresip::start(1000.0, Some(&uri));
    let body = note(&gajim, "baresip's call", "Incoming call from");
    // The first note after start-up says how to answer, too.
    let body = body.trim_end_matches(" (reply answer or reject; help lists the rest)");
    assert_eq!(body, "Incoming call from sip:bob@127.0.0.1");
    let incoming = event_line(&sidecar.log(), "sip.call.incoming");
    assert_eq!(
        (field(&incoming, "impp"), field(&incoming, "vouched")),
        ("nil", "false"),
        "baresip wrote no Call-Info, and nothing vouches for it: {incoming}"
    );

    let id = answered_call(&sidecar);
    baresip.wait_for("Call established");
    sidecar.call("sip.hangup", json!({ "call": id })).unwrap();
    let ended = event_line(&sidecar.wait_for("SIP sip.call.ended"), "sip.call.ended");
    assert_eq!(field(&ended, "reason"), "hangup", "{ended}");
    // baresip says "terminated" only for calls of a second or more; the
    // BYE it received reads "session closed: Connection reset by peer".
    baresip.wait_for("session closed: Connection reset by peer");
}

/// A number in a contact's vCard: Bob's vCard4 lists `tel:+1-555-1234`
/// before the sidecar starts. Nobody asks for his vCard; the sidecar
/// fetches its contacts' vCards once connected, so the first call from
/// that number through Kamailio is Bob's, in the spelling providers use.
/// The number is compared whole: one digit more or less is nobody.
#[test]
fn a_call_from_a_number_in_a_contacts_vcard_is_that_contact() {
    let server = Prosody::start();
    let (alice, gajim, mut phone) = alice_and_bob(&server);
    phone.send(json!({"vcard4_tel": ["tel:+1-555-1234"]}));
    phone.wait_for("the vCard4 published", |e| e["event"] == "vcard_published");
    let dir = tempfile::tempdir().unwrap();
    let (kamailio, sidecar) = behind_kamailio(&server, &alice);
    wait_verified(
        &sidecar,
        "sip:+15551234@provider.example;user=phone",
        "bob@localhost",
    );
    for near in [
        "sip:+155512345@provider.example;user=phone",
        "sip:+5551234@provider.example;user=phone",
        "sip:15551234@provider.example;user=phone",
        "tel:+4915551234",
    ] {
        let who = verified(&sidecar, near);
        assert_eq!(
            (&who["verified"], &who["jid"]),
            (&json!(false), &Value::Null),
            "{near}: {who}"
        );
    }

    let through = format!("{KAMAILIO_AT}:{}", kamailio.port);
    call_claiming(&through, "+15551234", "mallory@localhost", dir.path());
    let body = note(&gajim, "Bob's call from his number", "Incoming call from");
    assert!(
        body.starts_with("Incoming call from bob@localhost"),
        "{body}"
    );
}
