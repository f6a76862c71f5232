//! The session's own tests: defects that hang it or let a forger in,
//! which need the session's insides.

use std::str::FromStr;
use std::time::Duration;

use tandem_sdk::testing::MockHost;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

use super::{Request, Role, Session};
use crate::config::Config;

/// A session whose client can never connect (nothing listens on port
/// 1), so it takes no stanza.
fn unreachable() -> (Session, MockHost, mpsc::Receiver<Request>) {
    let config = Config {
        jid: "alice@example.org".into(),
        password: "secret".into(),
        host: Some("127.0.0.1".into()),
        port: Some(1),
        insecure: true,
        ..Config::default()
    };
    let host = MockHost::new();
    let (requests, rx) = mpsc::channel(16);
    let session = Session::new(
        &config,
        host.host(),
        requests,
        Role::Sidecar { bridge: None },
    )
    .unwrap();
    (session, host, rx)
}

/// Runs `test` on a runtime of its own thread and fails if it is not
/// done within 30 s: the defects these tests catch hang the session.
fn within_30_s<T, F>(what: &str, test: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(runtime.block_on(test()));
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} never ended"))
}

fn message(body: &str) -> Stanza {
    let to = Jid::from_str("bob@example.org").unwrap();
    let mut message = Message::new_with_type(MessageType::Chat, Some(to));
    message.bodies.insert(Lang::new(), body.to_owned());
    message.into()
}

fn iq(xml: &str) -> Iq {
    Iq::try_from(xml.parse::<Element>().unwrap()).unwrap()
}

/// The connection goes down while the queue is being sent (the client
/// stops taking stanzas): the rest is kept, in order, for the next
/// connection, and the session goes on serving.
#[test]
fn a_connection_lost_while_sending_the_queue_keeps_the_rest_and_returns() {
    let (kept, bound) = within_30_s("sending the offline queue", || async {
        let (mut session, _host, _rx) = unreachable();
        // Believed online: the first stanza times out in `send`.
        session.bound = Some(Jid::from_str("alice@example.org/tandem").unwrap());
        for body in ["one", "two", "three"] {
            session.queue(message(body));
        }
        session.flush_offline().await;
        let kept: Vec<String> = session
            .offline
            .iter()
            .map(|s| match s {
                Stanza::Message(m) => m.bodies[&Lang::new()].clone(),
                _ => String::new(),
            })
            .collect();
        (kept, session.bound.is_some())
    });
    assert_eq!(kept, ["one", "two", "three"]);
    assert!(!bound, "the connection counts as lost");
}

/// A client that takes no stanza must not hang the session on a
/// question to a contact: `xmpp.reach_of` answers "none", and the
/// connection counts as lost (then replaced), as in `send`.
#[test]
fn a_client_that_takes_nothing_does_not_hang_a_vcard_question() {
    let bound = within_30_s("a vCard question", || async {
        let (mut session, _host, _rx) = unreachable();
        session.bound = Some(Jid::from_str("alice@example.org/tandem").unwrap());
        let bob = BareJid::from_str("bob@example.org").unwrap();
        let mut answers = Vec::new();
        for _ in 0..40 {
            let (reply, answer) = oneshot::channel();
            session.ask_vcard(bob.clone(), reply).await;
            answers.push(answer);
        }
        for answer in answers {
            let _ = answer.await;
        }
        session.bound.is_some()
    });
    assert!(!bound, "the connection counts as lost");
}

/// The roster query's id is guessable (`roster-1`): only the user's
/// own server may answer it, with a roster or with an error.
#[tokio::test]
async fn only_the_users_server_answers_the_roster_query() {
    let (mut session, _host, _rx) = unreachable();
    session.roster_query = Some("roster-1".into());
    for forged in [
        "<iq xmlns='jabber:client' type='error' id='roster-1' from='mallory@evil.example/x'>\
         <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         </error></iq>",
        "<iq xmlns='jabber:client' type='result' id='roster-1' from='mallory@evil.example'>\
         <query xmlns='jabber:iq:roster'><item jid='mallory@evil.example'/></query></iq>",
    ] {
        session.on_iq(iq(forged)).await;
        assert_eq!(
            session.roster_query.as_deref(),
            Some("roster-1"),
            "{forged}"
        );
    }
    assert!(!session
        .contacts
        .is_contact(&BareJid::from_str("mallory@evil.example").unwrap()));
    session
        .on_iq(iq(
            "<iq xmlns='jabber:client' type='result' id='roster-1'>\
             <query xmlns='jabber:iq:roster'><item jid='bob@example.org'/></query></iq>",
        ))
        .await;
    assert_eq!(session.roster_query, None);
    assert!(session
        .contacts
        .is_contact(&BareJid::from_str("bob@example.org").unwrap()));
}
