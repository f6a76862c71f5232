//! PEP (XEP-0163): what the sidecar publishes (XEP-0108 activity,
//! XEP-0152 reachability addresses) and contacts' notifications of theirs,
//! plus reachability addresses carried in presence.

use tandem_sdk::events::xmpp::{Activity as ActivityEvent, Reach};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::pubsub::event::{Event as PubSubEvent, Payload as EventPayload};
use xmpp_parsers::pubsub::pubsub::{Item, PubSub, Publish};
use xmpp_parsers::pubsub::NodeName;

use super::state::Session;
use crate::convert;
use crate::xep::activity::Activity;
use crate::xep::reach;

impl Session {
    pub(super) async fn set_activity(&mut self, activity: Activity) {
        let stanza = self.activity_stanza(&activity);
        self.activity = (!activity.general.is_empty()).then_some(activity);
        self.send(stanza).await;
    }

    pub(super) fn activity_stanza(&self, activity: &Activity) -> Stanza {
        self.pep_publish(crate::xep::activity::NS, activity.to_element(), "activity")
    }

    pub(super) fn reach_stanza(&self) -> Stanza {
        self.pep_publish(reach::NS, reach::to_element(&self.reach), "reach")
    }

    /// A PEP publish (XEP-0163) of one item on `node`.
    pub(super) fn pep_publish(&self, node: &str, payload: Element, what: &str) -> Stanza {
        let pubsub = PubSub::Publish {
            publish: Publish {
                node: NodeName(node.to_owned()),
                items: vec![Item {
                    id: None,
                    publisher: None,
                    payload: Some(payload),
                }],
            },
            publish_options: None,
        };
        Iq::from_set(format!("{what}-{}", self.connects), pubsub).into()
    }

    /// XEP-0163 notifications (we advertise `activity+notify` and
    /// `reach+notify`): a contact's activity becomes an `xmpp.activity`
    /// event, their reachability addresses an `xmpp.reach` event. Malformed
    /// ones are logged and dropped.
    pub(super) fn on_pep(&mut self, m: &Message) -> bool {
        let Some(event) = m.payloads.iter().find(|p| p.is("event", ns::PUBSUB_EVENT)) else {
            return false;
        };
        let Some(sender) = m.from.as_ref().map(Jid::to_bare) else {
            return true; // from our own server: no contact's PEP
        };
        let from = sender.to_string();
        let (node, published, retracted) = match PubSubEvent::try_from(event.clone()) {
            Ok(PubSubEvent {
                payload:
                    EventPayload::Items {
                        node,
                        published,
                        retracted,
                    },
            }) => (node, published, retracted),
            Ok(_) => return true,
            Err(e) => {
                self.host.warn(&format!(
                    "malformed PEP event from {from} ignored: {:?}",
                    e.to_string()
                ));
                return true;
            }
        };
        // The newest item counts; a retraction alone means "stopped".
        let latest = published.last().and_then(|item| item.payload.as_ref());
        if latest.is_none() && retracted.is_empty() {
            return true;
        }
        match node.0.as_str() {
            crate::xep::activity::NS => {
                let activity = match latest.map(Activity::from_element) {
                    Some(Ok(a)) => a,
                    Some(Err(e)) => {
                        self.host
                            .warn(&format!("activity from {from} ignored: {e}"));
                        return true;
                    }
                    None => Activity::default(),
                };
                self.host.publish(&ActivityEvent {
                    jid: from,
                    general: activity.general,
                    specific: activity.specific,
                    text: activity.text,
                });
            }
            reach::NS => {
                let addresses = latest.map_or(Ok(Vec::new()), reach::from_element);
                self.on_reach(sender, addresses);
            }
            _ => {}
        }
        true
    }

    /// A contact's reachability addresses, from PEP or presence: kept for
    /// `xmpp.reach_of` and published as an event when they change (presence
    /// repeats them with every change of show or status).
    ///
    /// Only a contact's are kept (or announced): a stranger's would be
    /// state anyone could grow, and no rule calls a stranger at an
    /// address they chose. Their presence event still carries them.
    pub(super) fn on_reach(
        &mut self,
        jid: BareJid,
        addresses: Result<Vec<reach::Address>, reach::ReachError>,
    ) {
        let addresses = match addresses {
            Ok(addresses) => addresses,
            Err(e) => {
                self.host
                    .warn(&format!("reachability addresses from {jid} ignored: {e}"));
                return;
            }
        };
        if !self.contacts.is_contact(&jid) {
            return self.host.debug(&format!(
                "reachability addresses from {jid} (not a contact) not kept"
            ));
        }
        let event = Reach {
            jid: jid.to_string(),
            addresses: addresses.iter().map(convert::reach_to_sdk).collect(),
        };
        if self.contacts.set_reach(&jid, addresses) {
            self.host.publish(&event);
        }
    }
}
