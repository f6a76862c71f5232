//! XEP-0482 call invites: an invitation to a call with the ways to join it
//! (for Tandem, an `<external uri='sip:…'/>`), and the answers to one
//! (accept, reject, retract, left), each naming the invite's message id.

use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

pub const NS: &str = "urn:xmpp:call-invites:0";
/// Dino's older variant: `<propose id='…' video='…'>` with a `<jingle
/// sid/>` (or a MUJI room), and `accept`/`reject`/`retract` naming it.
pub const DINO_NS: &str = "urn:xmpp:call-message:1";

/// What a call-invites element says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallInvite {
    /// An invitation (its id is the message's).
    Invite {
        audio: bool,
        video: bool,
        /// The `<external uri/>` ways to join, in order.
        external: Vec<String>,
        /// A Jingle session's id, when it offers one (Tandem has no
        /// Jingle: reported, never joined).
        jingle: Option<String>,
    },
    Accept {
        id: String,
        /// The external way the accepter chose, if it said.
        external: Option<String>,
    },
    Reject {
        id: String,
    },
    Retract {
        id: String,
    },
    Left {
        id: String,
    },
}

impl CallInvite {
    /// The element's name, as the SDK's action.
    pub fn action(&self) -> &'static str {
        match self {
            CallInvite::Invite { .. } => "invite",
            CallInvite::Accept { .. } => "accept",
            CallInvite::Reject { .. } => "reject",
            CallInvite::Retract { .. } => "retract",
            CallInvite::Left { .. } => "left",
        }
    }

    /// An answer to invite `id`, by its element's name (`accept` with the
    /// way chosen, `reject`, `retract`, `left`); None for any other name.
    pub fn answer(action: &str, id: String, external: Option<String>) -> Option<CallInvite> {
        Some(match action {
            "accept" => CallInvite::Accept { id, external },
            "reject" => CallInvite::Reject { id },
            "retract" => CallInvite::Retract { id },
            "left" => CallInvite::Left { id },
            _ => return None,
        })
    }

    /// The invite an answer names; None for an invite.
    pub fn answered(&self) -> Option<&str> {
        match self {
            CallInvite::Invite { .. } => None,
            CallInvite::Accept { id, .. }
            | CallInvite::Reject { id }
            | CallInvite::Retract { id }
            | CallInvite::Left { id } => Some(id),
        }
    }

    /// Reads the first call-invites element among a message's payloads
    /// (XEP-0482's, or Dino's `<propose>` variant).
    pub fn find(payloads: &[Element]) -> Option<CallInvite> {
        payloads
            .iter()
            .filter(|p| p.ns() == NS || p.ns() == DINO_NS)
            .find_map(CallInvite::from_element)
    }

    /// The id a Dino `<propose>` gives itself (XEP-0482 invites take the
    /// message's id instead).
    pub fn own_id(payloads: &[Element]) -> Option<String> {
        payloads
            .iter()
            .find(|p| p.is("propose", DINO_NS))
            .and_then(|p| p.attr("id"))
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }

    fn from_element(e: &Element) -> Option<CallInvite> {
        if e.ns() == DINO_NS && e.name() == "propose" {
            return Some(CallInvite::Invite {
                audio: true,
                video: e.attr("video") == Some("true"),
                external: Vec::new(),
                jingle: e
                    .get_child("jingle", DINO_NS)
                    .and_then(|j| j.attr("sid"))
                    .or_else(|| e.attr("id"))
                    .map(str::to_owned),
            });
        }
        let id = || e.attr("id").filter(|id| !id.is_empty()).map(str::to_owned);
        let external = |e: &Element| -> Vec<String> {
            e.children()
                .filter(|c| c.is("external", NS))
                .filter_map(|c| c.attr("uri"))
                .filter(|uri| !uri.is_empty() && uri.len() <= 2048)
                .map(str::to_owned)
                .collect()
        };
        Some(match e.name() {
            "invite" => CallInvite::Invite {
                audio: e.attr("audio") != Some("false"),
                video: e.attr("video") == Some("true"),
                external: external(e),
                jingle: e
                    .get_child("jingle", NS)
                    .and_then(|j| j.attr("sid"))
                    .map(str::to_owned),
            },
            "accept" => CallInvite::Accept {
                id: id()?,
                external: external(e).into_iter().next(),
            },
            "reject" => CallInvite::Reject { id: id()? },
            "retract" => CallInvite::Retract { id: id()? },
            "left" => CallInvite::Left { id: id()? },
            _ => return None,
        })
    }

    pub fn to_element(&self) -> Element {
        let external = |uri: &str| {
            Element::builder("external", NS)
                .attr(xml_ncname!("uri").to_owned(), uri)
                .build()
        };
        match self {
            CallInvite::Invite {
                audio,
                video,
                external: uris,
                jingle,
            } => {
                let mut invite = Element::builder("invite", NS);
                if !audio {
                    invite = invite.attr(xml_ncname!("audio").to_owned(), "false");
                }
                if *video {
                    invite = invite.attr(xml_ncname!("video").to_owned(), "true");
                }
                if let Some(sid) = jingle {
                    invite = invite.append(
                        Element::builder("jingle", NS)
                            .attr(xml_ncname!("sid").to_owned(), sid.as_str())
                            .build(),
                    );
                }
                for uri in uris {
                    invite = invite.append(external(uri));
                }
                invite.build()
            }
            CallInvite::Accept { id, external: uri } => {
                let mut accept =
                    Element::builder("accept", NS).attr(xml_ncname!("id").to_owned(), id.as_str());
                if let Some(uri) = uri {
                    accept = accept.append(external(uri));
                }
                accept.build()
            }
            CallInvite::Reject { id } | CallInvite::Retract { id } | CallInvite::Left { id } => {
                Element::builder(self.action(), NS)
                    .attr(xml_ncname!("id").to_owned(), id.as_str())
                    .build()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Option<CallInvite> {
        let e: Element = xml.parse().unwrap();
        CallInvite::find(&[e])
    }

    #[test]
    fn the_xeps_invites_read() {
        // XEP-0482 §2's second example.
        let invite = parse(
            "<invite xmlns='urn:xmpp:call-invites:0'>\
               <jingle sid='sid2' jid='mixer@example.com/uuid'/>\
               <external uri='https://example.com/uuid'/>\
               <external uri='tel:+12345678'/>\
             </invite>",
        )
        .unwrap();
        assert_eq!(
            invite,
            CallInvite::Invite {
                audio: true,
                video: false,
                external: vec!["https://example.com/uuid".into(), "tel:+12345678".into()],
                jingle: Some("sid2".into()),
            }
        );
        let video = parse(
            "<invite video='true' xmlns='urn:xmpp:call-invites:0'><jingle sid='sid1'/></invite>",
        );
        assert!(matches!(
            video,
            Some(CallInvite::Invite { video: true, .. })
        ));
    }

    #[test]
    fn answers_name_the_invite() {
        assert_eq!(
            parse("<reject id='id1' xmlns='urn:xmpp:call-invites:0'/>"),
            Some(CallInvite::Reject { id: "id1".into() })
        );
        assert_eq!(
            parse("<accept id='id1' xmlns='urn:xmpp:call-invites:0'><external uri='sip:a@b'/></accept>"),
            Some(CallInvite::Accept {
                id: "id1".into(),
                external: Some("sip:a@b".into())
            })
        );
        // Tandem's own answers, built by name, say which invite they answer.
        let reject = CallInvite::answer("reject", "id1".into(), None).unwrap();
        assert_eq!(reject, CallInvite::Reject { id: "id1".into() });
        assert_eq!(reject.answered(), Some("id1"));
        assert_eq!(CallInvite::answer("invite", "id1".into(), None), None);
        // An answer without the id it answers is nothing.
        assert_eq!(parse("<retract xmlns='urn:xmpp:call-invites:0'/>"), None);
        assert_eq!(parse("<invite xmlns='urn:example:other'/>"), None);
    }

    #[test]
    fn dinos_propose_reads_as_an_invite_to_a_jingle_call() {
        let xml = "<propose xmlns='urn:xmpp:call-message:1' id='d1' video='true' multi='false'>\
                     <jingle sid='d1'/></propose>";
        let e: Element = xml.parse().unwrap();
        assert_eq!(
            CallInvite::find(std::slice::from_ref(&e)),
            Some(CallInvite::Invite {
                audio: true,
                video: true,
                external: vec![],
                jingle: Some("d1".into()),
            })
        );
        assert_eq!(CallInvite::own_id(&[e]).as_deref(), Some("d1"));
        assert_eq!(
            parse("<retract xmlns='urn:xmpp:call-message:1' id='d1'/>"),
            Some(CallInvite::Retract { id: "d1".into() })
        );
    }

    #[test]
    fn what_tandem_sends_reads_back() {
        for sent in [
            CallInvite::Invite {
                audio: true,
                video: false,
                external: vec!["sip:alice@example.org".into()],
                jingle: None,
            },
            CallInvite::Accept {
                id: "i1".into(),
                external: Some("sip:bob@example.org".into()),
            },
            CallInvite::Reject { id: "i1".into() },
            CallInvite::Retract { id: "i1".into() },
            CallInvite::Left { id: "i1".into() },
        ] {
            assert_eq!(CallInvite::find(&[sent.to_element()]), Some(sent.clone()));
        }
        let text = String::from(
            &CallInvite::Invite {
                audio: true,
                video: false,
                external: vec!["sip:alice@example.org".into()],
                jingle: None,
            }
            .to_element(),
        );
        assert_eq!(
            text,
            "<invite xmlns='urn:xmpp:call-invites:0'><external uri='sip:alice@example.org'/></invite>"
        );
    }
}
