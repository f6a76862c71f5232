//! Contacts' client capabilities (XEP-0115): asked once per client
//! version, without the session ever waiting on a contact; the answer is
//! checked and remembered by `peers::caps`, and the presence events of
//! everyone running that client are sent again with their features.

use std::str::FromStr;
use std::time::Duration;

use tokio_xmpp::IqRequest;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::ns;
use xmpp_parsers::presence as xp;

use super::link::iq_answer;
use super::state::{Request, Session};
use crate::peers::caps::{Answer, Lookup};

/// How long a contact's client gets to say what it supports.
const CAPS_TIMEOUT: Duration = Duration::from_secs(10);

impl Session {
    /// The features of a contact resource's client, when its caps are
    /// known; an unknown version is queued to be asked about, and the
    /// presence event is sent again once the answer is in.
    pub(super) fn features_of(&mut self, from: &Jid, p: &xp::Presence) -> Vec<String> {
        let caps = caps_of(p);
        match self.caps.on_presence(&from.to_string(), caps.as_ref()) {
            Lookup::Known(features) => {
                self.note_features(from, &features);
                features.to_vec()
            }
            Lookup::Ask(query) => {
                if let Some(caps) = caps {
                    self.caps_to_ask.push((from.clone(), caps, query));
                }
                Vec::new()
            }
            Lookup::Unknown | Lookup::Pending => Vec::new(),
        }
    }

    /// A client that says it does chat states gets them (XEP-0085 §5.1),
    /// without first having to send one.
    pub(super) fn note_features(&mut self, from: &Jid, features: &[String]) {
        if features.iter().any(|f| f == ns::CHATSTATES) {
            self.chat.seen_from(from.to_bare());
        }
    }

    /// Sends a caps disco#info question; the answer comes back to the
    /// session as a request, so the session never waits on a contact.
    pub(super) async fn ask_caps(&mut self, to: Jid, caps: Caps, query: DiscoInfoQuery) {
        if self.bound.is_none() {
            return self.caps.on_failure(&caps);
        }
        let Some(token) = self
            .send_iq(Some(to.clone()), IqRequest::Get(query.into()))
            .await
        else {
            return self.caps.on_failure(&caps);
        };
        let requests = self.requests.clone();
        tokio::spawn(async move {
            let answer = iq_answer(token, CAPS_TIMEOUT)
                .await
                .and_then(|element| DiscoInfoResult::try_from(element).map_err(|e| e.to_string()));
            let _ = requests
                .send(Request::CapsAnswer {
                    from: to,
                    caps,
                    answer,
                })
                .await;
        });
    }

    pub(super) fn on_caps_answer(
        &mut self,
        from: Jid,
        caps: Caps,
        answer: Result<DiscoInfoResult, String>,
    ) {
        let info = match answer {
            Ok(info) => info,
            Err(why) => {
                self.caps.on_failure(&caps);
                self.host
                    .debug(&format!("capabilities of {from} unknown: {why:?}"));
                return;
            }
        };
        let (features, holders) = match self.caps.on_answer(&caps, &info) {
            Answer::Shared(features, holders) => (features, holders),
            Answer::OnlyFor(features, why) => {
                self.host
                    .debug(&format!("capabilities of {from} kept for it alone: {why}"));
                (features, vec![from.to_string()])
            }
        };
        for jid in holders {
            let Some(event) = self.contacts.event_mut(&jid) else {
                continue;
            };
            event.features = features.to_vec();
            let event = event.clone();
            if let Ok(holder) = Jid::from_str(&jid) {
                self.note_features(&holder, &features);
            }
            self.host.publish(&event);
        }
    }
}

/// The XEP-0115 caps a presence advertises, if any (and well formed).
pub(super) fn caps_of(p: &xp::Presence) -> Option<Caps> {
    p.payloads
        .iter()
        .find(|e| e.is("c", ns::CAPS))
        .and_then(|e| Caps::try_from(e.clone()).ok())
}
