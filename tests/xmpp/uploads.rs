//! XEP-0363 uploads and shared files (issue 22's XMPP side): the plugin
//! finds the server's upload service, gets a slot, and shares the file
//! with the user's client as a message it shows inline.

use serde_json::json;
use tandem_tests::http::request as http;
use tandem_tests::prosody::Prosody;
use tandem_tests::sidecar::Sidecar;
use tandem_tests::xmpp_client::XmppClient;

#[test]
fn a_file_goes_up_to_the_users_server_and_reaches_their_client_shown_inline() {
    let server = Prosody::start();
    let alice = server.register("alice", "alice-secret");
    let gajim = XmppClient::login(&server, &alice, "alice-secret", "gajim", 5);
    let sidecar = Sidecar::start(&server, &alice, "alice-secret", "");
    sidecar.wait_online("alice@localhost/tandem", 1);
    sidecar.wait_for("EVENT xmpp.own_presence alice@localhost/gajim available 5");

    let content = b"hello, file\n";
    let slot = sidecar
        .call(
            "xmpp.upload_slot",
            json!({ "filename": "hello.txt", "size": content.len(), "content_type": "text/plain" }),
        )
        .unwrap();
    let put_url = slot["put_url"].as_str().unwrap();
    let get_url = slot["get_url"].as_str().unwrap();
    let headers: Vec<(String, String)> = serde_json::from_value(slot["headers"].clone()).unwrap();
    let (status, _) = http(
        "PUT",
        put_url,
        &[
            &headers[..],
            &[("Content-Type".into(), "text/plain".into())],
        ]
        .concat(),
        content,
    );
    assert!(
        status.contains(" 201 ") || status.contains(" 200 "),
        "{status} {slot}"
    );
    let (status, got) = http("GET", get_url, &[], b"");
    assert!(status.contains(" 200 "), "{status} {slot}");
    assert_eq!(got, content);

    // SHA-256 of `content`, as hex; XEP-0300 sends it in base64 (below).
    let sha256 = "b33f4304b9a6bd81704e55c473a4133a4922f034c1c489cb05428cc1140b042c";
    sidecar
        .call(
            "xmpp.notify_user",
            json!({ "text": "", "file": {
                "url": get_url, "name": "hello.txt", "size": content.len(),
                "media_type": "text/plain", "sha256": sha256,
            } }),
        )
        .unwrap();
    let shared = gajim.wait_for("the shared file", |e| {
        e["event"] == "message" && e["from"] == "alice@localhost/tandem"
    });
    assert_eq!(shared["body"], get_url, "{shared}");
    assert_eq!(shared["oob"], get_url, "{shared}");
    assert_eq!(shared["file"]["name"], "hello.txt", "{shared}");
    assert_eq!(
        shared["file"]["size"],
        content.len().to_string(),
        "{shared}"
    );
    assert_eq!(shared["file"]["media-type"], "text/plain", "{shared}");
    assert_eq!(
        shared["file"]["hash"], "sz9DBLmmvYFwTlXEc6QTOkki8DTBxInLBUKMwRQLBCw=",
        "{shared}"
    );

    // Larger than the server takes: refused before asking, with its limit.
    let refused = sidecar
        .call(
            "xmpp.upload_slot",
            json!({ "filename": "big.iso", "size": 2 * 1024 * 1024 }),
        )
        .unwrap_err();
    assert!(
        refused
            .contains("big.iso is 2097152 bytes; your XMPP server takes files up to 1048576 bytes"),
        "{refused}"
    );
}
