//! Tandem → Tandem over MSRP (issue 22, item 3, page mode): two sidecars
//! on loopback, each with the SIP, XMPP and file-transfer plugins, each
//! with its own user on the same Prosody. Alice's shares a file with
//! Bob's SIP address with `offer_as = "msrp"`: her Tandem fetches her
//! upload and offers it in a SIP session of its own (RFC 5547); Bob's
//! takes the session, asks Bob in his client as for any file, and on
//! `accept` receives it over MSRP, uploads it to Bob's server and shares
//! the link with Bob's client. A `reject` comes back to Alice as a plain
//! "declined".

use std::path::Path;

use serde_json::{json, Value};
use tandem_tests::http;
use tandem_tests::kamailio_msrp::MsrpRelay;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::XmppClient;

use super::{download_config, sha256, sidecar_with_files, upload_jpeg, SIDECAR};

pub(crate) const BOBS_TANDEM: &str = "bob@localhost/tandem";

/// Alice: her client and her Tandem (sip-chat), offering her files over
/// MSRP (`offer_as = "msrp"`, downloads in `dir`, `extra` file-transfer
/// settings).
pub(crate) fn alice(server: &Prosody, dir: &Path, extra: &str) -> (XmppClient, Sidecar) {
    sidecar_with_files(
        server,
        &["sip-chat"],
        &format!("{}offer_as = \"msrp\"\n{extra}", download_config(dir)),
    )
}

/// Bob: his account, his client ("dino") and his Tandem (sip-chat and
/// accept-files, downloads in `dir`, `extra` file-transfer settings), SIP
/// user `bob`.
pub(crate) fn bob(server: &Prosody, dir: &Path, extra: &str) -> (XmppClient, Sidecar) {
    bob_with(server, dir, extra, &[])
}

/// [`bob`] with more shipped rules (`auto-answer`: his Tandem answers
/// calls).
pub(crate) fn bob_with(
    server: &Prosody,
    dir: &Path,
    extra: &str,
    rules: &[&str],
) -> (XmppClient, Sidecar) {
    let bob = server.register("bob", "bob-secret");
    let dino = XmppClient::login(server, &bob, "bob-secret", "dino", 5);
    let sidecar = Sidecar::start_phone_plugins(
        server,
        (&bob, "bob-secret"),
        "bob",
        &[&["sip-chat", "accept-files"][..], rules].concat(),
        "",
        &format!("{}{extra}", download_config(dir)),
        &["tandem_plugin_file_transfer"],
    );
    sidecar.wait_online(BOBS_TANDEM, 1);
    sidecar.wait_for("EVENT xmpp.own_presence bob@localhost/dino available 5");
    (dino, sidecar)
}

/// A note from `from` whose body contains `text`.
pub(crate) fn note(from: &'static str, text: String) -> impl Fn(&Value) -> bool {
    move |e: &Value| {
        e["event"] == "message"
            && e["from"] == from
            && e["body"].as_str().is_some_and(|b| b.contains(&text))
    }
}

/// Alice shares `path` (uploaded by her client) with `bob_uri`; Bob's
/// client is asked; the id to answer with.
pub(crate) fn offered_to_bob(
    alice: &mut XmppClient,
    dino: &mut XmppClient,
    path: &Path,
    bob_uri: &str,
) -> String {
    let url = upload_jpeg(alice, path);
    alice.send(json!({ "message": {
        "to": SIDECAR, "body": format!("{bob_uri} {url}"), "oob": url,
    } }));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let asked = dino.wait_for(
        "Bob's Tandem asks him",
        note(BOBS_TANDEM, format!(" offers {name}")),
    );
    let body = asked["body"].as_str().unwrap();
    body.rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned()
}

/// Bob accepts `original`, shared by Alice with `bob_uri`: his client is
/// given a link to the same name and SHA-256 (`scratch` holds what it
/// downloads), and Alice is told it was sent.
pub(crate) fn accepted_and_received(
    alice: &mut XmppClient,
    dino: &mut XmppClient,
    original: &Path,
    bob_uri: &str,
    scratch: &Path,
) {
    let id = offered_to_bob(alice, dino, original, bob_uri);
    dino.send(json!({ "message": { "to": BOBS_TANDEM, "body": format!("accept {id}") } }));
    let shared = dino.wait_for("the file shared with Bob's client", |e| {
        e["event"] == "message" && e["from"] == BOBS_TANDEM && !e["oob"].is_null()
    });
    let get_url = shared["body"].as_str().unwrap().to_owned();
    let name = original.file_name().unwrap().to_string_lossy();
    assert_eq!(shared["file"]["name"], *name, "{shared}");
    let (status, got) = http::request("GET", &get_url, &[], b"");
    assert!(status.contains(" 200 "), "{status} {get_url}");
    let fetched = scratch.join("fetched");
    std::fs::write(&fetched, &got).unwrap();
    assert_eq!(
        sha256(&fetched).0,
        sha256(original).0,
        "what Bob's client downloads is what Alice shared"
    );
    alice.wait_for(
        "Alice's note",
        note(SIDECAR, format!("Sent {name} to {bob_uri}.")),
    );
}

#[test]
fn a_file_goes_tandem_to_tandem_over_msrp_and_a_decline_is_said_plainly() {
    let server = Prosody::start();
    let dirs = tempfile::tempdir().unwrap();
    let alice_files = dirs.path().join("alice-files");
    let bob_files = dirs.path().join("bob-files");
    let (mut alice, alice_tandem) = alice(&server, &alice_files, "");
    let (mut dino, bob_tandem) = bob(&server, &bob_files, "");
    let bob_uri = format!("sip:bob@127.0.0.1:{}", bob_tandem.sip_port());

    // 300 kB, not one byte repeated: many 4 KiB chunks.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 11 % 251) as u8).collect();
    let original = dirs.path().join("summit.jpg");
    std::fs::write(&original, &content).unwrap();
    accepted_and_received(&mut alice, &mut dino, &original, &bob_uri, dirs.path());
    // It went over MSRP, as a session and not a call, both ends.
    alice_tandem.wait_for("SIP sip.session.answered");
    assert!(!bob_tandem.log().contains("SIP sip.call."), "not a call");

    // Bob turns the next one down: Alice reads that he declined. (What
    // the clients saw so far is cleared: the next upload, offer and note
    // are new ones.)
    alice.clear();
    dino.clear();
    let second = dirs.path().join("second.jpg");
    std::fs::write(&second, &content[..50_000]).unwrap();
    let id = offered_to_bob(&mut alice, &mut dino, &second, &bob_uri);
    dino.send(json!({ "message": { "to": BOBS_TANDEM, "body": format!("reject {id}") } }));
    alice.wait_for(
        "Alice's note of the decline",
        note(SIDECAR, "could not take second.jpg: they declined".into()),
    );
    let left: Vec<String> = std::fs::read_dir(&bob_files)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// The usual NAT case: Bob's Tandem has an MSRP relay (Kamailio's msrp
/// module, RFC 4976) and so never listens. It logs in at the relay before
/// answering, its answer's path goes through the relay, and Alice's
/// Tandem (no relay) takes the relay's connection on her own port: every
/// SEND reaches Bob down his login's connection.
#[test]
fn a_file_reaches_a_tandem_behind_an_msrp_relay() {
    through_a_relay(Behind::Receiver, Over::Tcp);
}

/// The sender behind the relay: Alice's Tandem logs in before offering,
/// and Bob's (no relay) connects to the relay first, so that his URI is
/// the connection the relay sends Alice's chunks down.
#[test]
fn a_file_from_a_tandem_behind_an_msrp_relay_arrives() {
    through_a_relay(Behind::Sender, Over::Tcp);
}

/// Each Tandem behind a relay of its own, each relay reached over TLS
/// (`msrps://`, as RFC 4976 has a client talk to its relay). The relays'
/// certificate is signed by the test CA the Tandems trust through
/// `SSL_CERT_FILE` — a private CA trusted the way the plugin README says.
#[test]
fn a_file_goes_between_tandems_each_behind_a_tls_relay() {
    through_a_relay(Behind::Both, Over::Tls);
}

/// The sender behind a TLS relay, the receiver with none: Bob's Tandem
/// connects to Alice's relay over TLS (its path says `msrps://`), trusting
/// it as its own relay would be trusted, and names that connection
/// `msrps://` in its answer.
#[test]
fn a_file_from_a_tandem_behind_a_tls_relay_arrives() {
    through_a_relay(Behind::Sender, Over::Tls);
}

/// Bob's Tandem has a TLS relay whose certificate comes from a CA his
/// machine was never told of: his accepted file fails before any login,
/// and he reads why in plain words, the relay named.
#[test]
fn a_tls_relay_that_is_not_trusted_is_refused_in_plain_words() {
    let server = Prosody::start();
    let strangers = tempfile::tempdir().unwrap();
    tandem_tests::certs::make(strangers.path());
    let relay = MsrpRelay::start_tls("relay-secret", strangers.path());
    let dirs = tempfile::tempdir().unwrap();
    let password = dirs.path().join("relay-password");
    std::fs::write(&password, "relay-secret").unwrap();
    let (mut alice, _alice_tandem) = alice(&server, &dirs.path().join("alice-files"), "");
    let (mut dino, bob_tandem) = bob(
        &server,
        &dirs.path().join("bob-files"),
        &relay_settings(&relay, "bob", &password),
    );
    let bob_uri = format!("sip:bob@127.0.0.1:{}", bob_tandem.sip_port());
    let original = dirs.path().join("pier.jpg");
    std::fs::write(&original, vec![7u8; 20_000]).unwrap();
    let id = offered_to_bob(&mut alice, &mut dino, &original, &bob_uri);
    dino.send(json!({ "message": { "to": BOBS_TANDEM, "body": format!("accept {id}") } }));
    let failed = dino.wait_for(
        "Bob's note of the failure",
        note(BOBS_TANDEM, "Could not get pier.jpg from ".into()),
    );
    let body = failed["body"].as_str().unwrap();
    assert!(
        body.ends_with(&format!(
            ": the MSRP relay at 127.0.0.1:{} is not trusted: its certificate is signed by no authority this machine trusts",
            relay.port
        )),
        "{body}"
    );
    assert!(!relay.log().contains("AUTH"), "{}", relay.log());
}

/// The file-transfer settings of a Tandem behind `relay` as `user`, its
/// password in the file `password`.
fn relay_settings(relay: &MsrpRelay, user: &str, password: &Path) -> String {
    format!(
        "msrp_relay = {:?}\nmsrp_relay_user = {user:?}\nmsrp_relay_password_file = {:?}\n",
        relay.uri(),
        password.display().to_string()
    )
}

/// Which Tandem has a relay.
#[derive(PartialEq)]
enum Behind {
    Sender,
    Receiver,
    /// Each its own.
    Both,
}

/// How the relays are reached.
#[derive(PartialEq)]
enum Over {
    Tcp,
    Tls,
}

/// Alice's Tandem sends a file to Bob's over MSRP through Kamailio's
/// relay (one of them behind it, or each behind one): it arrives whole,
/// and the relays' logs show the logins and the chunks.
fn through_a_relay(behind: Behind, over: Over) {
    let server = Prosody::start();
    // The sidecars trust the test CA of the XMPP server (SSL_CERT_FILE);
    // its certificate for 127.0.0.1 serves the TLS relays too.
    let certs = server.ca().parent().unwrap().to_owned();
    let start = || match over {
        Over::Tcp => MsrpRelay::start("relay-secret"),
        Over::Tls => MsrpRelay::start_tls("relay-secret", &certs),
    };
    let relay = start();
    let bobs_relay = (behind == Behind::Both).then(start);
    let dirs = tempfile::tempdir().unwrap();
    let password = dirs.path().join("relay-password");
    std::fs::write(&password, "relay-secret").unwrap();
    let relayed = |relay: &MsrpRelay, user: &str| relay_settings(relay, user, &password);
    let (alice_extra, bob_extra, who) = match (&behind, &bobs_relay) {
        (Behind::Sender, _) => (relayed(&relay, "alice"), String::new(), &["alice"][..]),
        (Behind::Receiver, _) => (String::new(), relayed(&relay, "bob"), &["bob"][..]),
        (Behind::Both, Some(bobs)) => (
            relayed(&relay, "alice"),
            relayed(bobs, "bob"),
            &["alice", "bob"][..],
        ),
        (Behind::Both, None) => unreachable!(),
    };
    let alice_files = dirs.path().join("alice-files");
    let bob_files = dirs.path().join("bob-files");
    let (mut alice, _alice_tandem) = alice(&server, &alice_files, &alice_extra);
    let (mut dino, bob_tandem) = bob(&server, &bob_files, &bob_extra);
    let bob_uri = format!("sip:bob@127.0.0.1:{}", bob_tandem.sip_port());

    // 100 kB, not one byte repeated: many chunks through the relay.
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let original = dirs.path().join("harbour.jpg");
    std::fs::write(&original, &content).unwrap();
    accepted_and_received(&mut alice, &mut dino, &original, &bob_uri, dirs.path());
    // The login (digest-challenged first), the frames from the client
    // that logged in going on, and the peer's coming down its connection.
    let log = relay.log() + &bobs_relay.as_ref().map(|r| r.log()).unwrap_or_default();
    assert_eq!(log.matches("AUTH challenged").count(), who.len(), "{log}");
    for who in who {
        let login = log
            .lines()
            .find(|l| l.contains(&format!("AUTH of {who} from")))
            .unwrap_or_else(|| panic!("no login of {who}:\n{log}"));
        // Over TLS: on the relay's TLS socket.
        assert_eq!(login.contains(" at tls:"), over == Over::Tls, "{login}");
    }
    assert!(log.contains("msrp-relay: SEND from "), "{log}");
    assert!(log.contains("msrp-relay: SEND down to "), "{log}");
    if behind == Behind::Sender {
        assert!(log.matches("msrp-relay: SEND from ").count() > 1, "{log}");
    } else {
        assert!(
            log.matches("msrp-relay: SEND down to ").count() > 1,
            "{log}"
        );
    }
}
