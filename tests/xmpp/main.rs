//! The XMPP plugin against a real Prosody on loopback, with slixmpp (not
//! Tandem code) as the user's own client and as a contact. One module per
//! concern; helpers more than one of them use live here.

mod adhoc;
mod iq;
mod login;
mod messages;
mod pep;
mod preauth;
mod presence;
mod reconnection;
mod uploads;
mod vcards;

fn presence_from<'a>(who: &'a str) -> impl Fn(&serde_json::Value) -> bool + 'a {
    move |e| e["event"] == "presence" && e["from"] == who
}
