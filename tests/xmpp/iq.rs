//! IQs: disco#info answered, unknown ones refused.

use crate::presence_from;
use serde_json::json;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::alice_and_bob;

#[test]
fn disco_is_answered_and_unknown_iqs_get_service_unavailable() {
    let server = Prosody::start();
    let (alice, _gajim, mut phone) = alice_and_bob(&server);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    phone.wait_for("the sidecar", presence_from("alice@localhost/tandem"));

    phone.send(json!({"disco": "alice@localhost/tandem"}));
    let info = phone.wait_for("disco#info", |e| e["event"] == "disco");
    for feature in [
        "urn:xmpp:reach:0",
        "urn:xmpp:reach:0+notify",
        "http://jabber.org/protocol/activity+notify",
        "http://jabber.org/protocol/chatstates",
        "http://jabber.org/protocol/commands",
    ] {
        assert!(
            info["features"]
                .as_array()
                .unwrap()
                .contains(&json!(feature)),
            "{feature}: {info}"
        );
    }
    phone.send(json!({"unknown_iq": "alice@localhost/tandem"}));
    let refused = phone.wait_for("an error", |e| {
        e["event"] == "iq_error" || e["event"] == "iq_result"
    });
    assert_eq!(refused["condition"], "service-unavailable", "{refused}");
    drop(sidecar);
}
