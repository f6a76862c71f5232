//! XEP-0353 Jingle Message Initiation: the messages by which the user's
//! own XMPP clients (Conversations, Dino, Gajim, Monal) start, answer and
//! end their calls. Tandem does no Jingle media: it only reads these (as
//! Carbons, or sent to it directly) to know when the user is on an XMPP
//! call, and writes one, `<reject>`, to decline a call while the phone is
//! busy.

use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

pub const NS: &str = "urn:xmpp:jingle-message:0";
/// XEP-0166's namespace, for `<reason>`.
const JINGLE_NS: &str = "urn:xmpp:jingle:1";
/// XEP-0167 RTP sessions: a propose's `<description media='audio'/>`.
const RTP_NS: &str = "urn:xmpp:jingle:apps:rtp:1";
/// Longer session ids are not taken: clients use UUID-sized ones, and
/// anyone can send these.
const MAX_ID: usize = 128;
/// At most this many media are read from one propose.
const MAX_MEDIA: usize = 4;

/// What a Jingle message says about session `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JingleMessage {
    pub id: String,
    pub kind: Kind,
    /// The XEP-0166 reason's condition (`busy`, `success`, `decline`…),
    /// when it gives one.
    pub reason: Option<String>,
}

/// The message's element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The initiator wants a session with these media (`audio`, `video`).
    Propose { media: Vec<String> },
    /// A responder's device is ringing.
    Ringing,
    /// A responder's device takes the call: the Jingle session follows.
    Proceed,
    /// Before XEP-0353 0.4, the responder's device told the user's other
    /// devices it took the call with `<accept>`; some clients still do.
    Accept,
    /// The responder declines.
    Reject,
    /// The initiator gives up before an answer.
    Retract,
    /// Either side ended the session.
    Finish,
}

#[cfg(test)]
impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Propose { .. } => "propose",
            Kind::Ringing => "ringing",
            Kind::Proceed => "proceed",
            Kind::Accept => "accept",
            Kind::Reject => "reject",
            Kind::Retract => "retract",
            Kind::Finish => "finish",
        }
    }
}

impl JingleMessage {
    /// Reads the first Jingle message element among a message's payloads.
    pub fn find(payloads: &[Element]) -> Option<JingleMessage> {
        payloads
            .iter()
            .filter(|p| p.ns() == NS)
            .find_map(JingleMessage::from_element)
    }

    fn from_element(e: &Element) -> Option<JingleMessage> {
        let id = e
            .attr("id")
            .filter(|id| !id.is_empty() && id.len() <= MAX_ID)?
            .to_owned();
        let kind = match e.name() {
            "propose" => Kind::Propose {
                media: e
                    .children()
                    .filter(|c| c.is("description", RTP_NS))
                    .filter_map(|c| c.attr("media"))
                    .filter(|m| matches!(*m, "audio" | "video"))
                    .take(MAX_MEDIA)
                    .map(str::to_owned)
                    .collect(),
            },
            "ringing" => Kind::Ringing,
            "proceed" => Kind::Proceed,
            "accept" => Kind::Accept,
            "reject" => Kind::Reject,
            "retract" => Kind::Retract,
            "finish" => Kind::Finish,
            _ => return None,
        };
        let reason = e
            .get_child("reason", JINGLE_NS)
            .and_then(|r| {
                r.children()
                    .find(|c| c.name() != "text" && c.ns() == JINGLE_NS)
            })
            .map(|c| c.name().to_owned());
        Some(JingleMessage { id, kind, reason })
    }

    /// A `<reject>` of session `id` with a XEP-0166 reason condition
    /// (`busy`, `decline`) and a text for people.
    pub fn reject(id: &str, condition: &str, text: Option<&str>) -> Element {
        let mut reason = Element::builder("reason", JINGLE_NS)
            .append(Element::builder(condition, JINGLE_NS).build());
        if let Some(text) = text {
            reason = reason.append(Element::builder("text", JINGLE_NS).append(text).build());
        }
        Element::builder("reject", NS)
            .attr(xml_ncname!("id").to_owned(), id)
            .append(reason.build())
            .build()
    }
}

/// XEP-0166 reason conditions Tandem may decline with.
pub fn is_decline_condition(condition: &str) -> bool {
    matches!(condition, "busy" | "decline")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Option<JingleMessage> {
        let e: Element = xml.parse().unwrap();
        JingleMessage::find(&[e])
    }

    #[test]
    fn the_xeps_messages_read() {
        let propose = parse(
            "<propose xmlns='urn:xmpp:jingle-message:0' id='ca3cf894-5325-482f-a412-a6e9f832298d'>\
               <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>\
               <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/>\
             </propose>",
        )
        .unwrap();
        assert_eq!(propose.id, "ca3cf894-5325-482f-a412-a6e9f832298d");
        assert_eq!(
            propose.kind,
            Kind::Propose {
                media: vec!["audio".into(), "video".into()]
            }
        );
        let finish = parse(
            "<finish xmlns='urn:xmpp:jingle-message:0' id='s1'>\
               <reason xmlns='urn:xmpp:jingle:1'><success/><text>Done</text></reason>\
             </finish>",
        )
        .unwrap();
        assert_eq!(
            (finish.kind, finish.reason.as_deref()),
            (Kind::Finish, Some("success"))
        );
        for name in ["ringing", "proceed", "accept", "reject", "retract"] {
            let m = parse(&format!(
                "<{name} xmlns='urn:xmpp:jingle-message:0' id='s1'/>"
            ))
            .unwrap();
            assert_eq!(m.kind.name(), name);
            assert_eq!(m.reason, None);
        }
    }

    #[test]
    fn malformed_ones_are_nothing() {
        assert_eq!(parse("<propose xmlns='urn:xmpp:jingle-message:0'/>"), None);
        assert_eq!(
            parse("<proceed xmlns='urn:xmpp:jingle-message:0' id=''/>"),
            None
        );
        let long = "x".repeat(MAX_ID + 1);
        assert_eq!(
            parse(&format!(
                "<proceed xmlns='urn:xmpp:jingle-message:0' id='{long}'/>"
            )),
            None
        );
        assert_eq!(
            parse("<hangup xmlns='urn:xmpp:jingle-message:0' id='s'/>"),
            None
        );
        assert_eq!(parse("<proceed xmlns='urn:example:other' id='s'/>"), None);
        // Media other than audio and video are not reported.
        let odd = parse(
            "<propose xmlns='urn:xmpp:jingle-message:0' id='s'>\
               <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='smell'/></propose>",
        )
        .unwrap();
        assert_eq!(odd.kind, Kind::Propose { media: vec![] });
    }

    #[test]
    fn a_reject_reads_back_with_its_reason() {
        let sent = JingleMessage::reject("s1", "busy", Some("On the phone"));
        let text = String::from(&sent);
        assert!(
            text.contains("<busy/>") && text.contains("On the phone"),
            "{text}"
        );
        let back = JingleMessage::find(&[sent]).unwrap();
        assert_eq!(
            back,
            JingleMessage {
                id: "s1".into(),
                kind: Kind::Reject,
                reason: Some("busy".into())
            }
        );
        assert!(is_decline_condition("busy") && !is_decline_condition("success"));
    }
}
