//! XEP-0050 ad-hoc command payloads, which xmpp-parsers lacks: the
//! `<command/>` request, the `executing` answer with a form (for commands
//! that ask something, like "Call" asking for a URI) and the `completed`
//! answer with a note, typed. Who may run what, and the registry of
//! commands served, are the session's (`session::adhoc`).

use std::collections::BTreeMap;

use tandem_sdk::commands::xmpp::{AdhocField, FieldKind};
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::minidom::rxml::NcName;
use xmpp_parsers::minidom::Element;

/// An attribute name known to be valid.
fn name(n: &'static str) -> NcName {
    NcName::try_from(n).expect("a valid XML name")
}

pub const NS: &str = "http://jabber.org/protocol/commands";

/// What a `<command/>` in an IQ set asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    pub node: String,
    /// `execute` when absent; `cancel`, `complete`, `next`, `prev`.
    pub action: String,
    pub session_id: Option<String>,
    /// The values of a submitted form (`<x type='submit'/>`), by field var.
    pub submitted: Option<BTreeMap<String, String>>,
}

/// Why a `<command/>` is not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("not a <command xmlns='{NS}'/> element")]
    NotCommand,
    #[error("<command/> without a node")]
    NoNode,
    #[error("the submitted form is malformed: {0}")]
    BadForm(String),
}

impl CommandRequest {
    pub fn from_element(e: &Element) -> Result<CommandRequest, CommandError> {
        if !e.is("command", NS) {
            return Err(CommandError::NotCommand);
        }
        let node = e
            .attr("node")
            .filter(|n| !n.is_empty())
            .ok_or(CommandError::NoNode)?;
        let submitted = match e.get_child("x", xmpp_parsers::ns::DATA_FORMS) {
            None => None,
            Some(x) => {
                let form = DataForm::try_from(x.clone())
                    .map_err(|e| CommandError::BadForm(e.to_string()))?;
                (form.type_ == DataFormType::Submit).then(|| {
                    form.fields
                        .into_iter()
                        .filter_map(|f| {
                            Some((f.var?, f.values.into_iter().next().unwrap_or_default()))
                        })
                        .collect()
                })
            }
        };
        Ok(CommandRequest {
            node: node.to_owned(),
            action: e.attr("action").unwrap_or("execute").to_owned(),
            // Empty is absent: no session can have it, and a client
            // sending it means to start one.
            session_id: e
                .attr("sessionid")
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
            submitted,
        })
    }
}

/// A finished one-step command: `status='completed'` with a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub node: String,
    pub session_id: String,
    /// `info`, `warn` or `error`.
    pub note_type: &'static str,
    pub note: String,
}

impl Completed {
    pub fn to_element(&self) -> Element {
        Element::builder("command", NS)
            .attr(name("node"), self.node.as_str())
            .attr(name("sessionid"), self.session_id.as_str())
            .attr(name("status"), "completed")
            .append(
                Element::builder("note", NS)
                    .attr(name("type"), self.note_type)
                    .append(self.note.as_str())
                    .build(),
            )
            .build()
    }
}

/// The first step of a command that asks something: `status='executing'`
/// with a form of text fields and a single "complete" action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executing {
    pub node: String,
    pub session_id: String,
    pub title: String,
    pub fields: Vec<FormField>,
}

impl Executing {
    pub fn to_element(&self) -> Element {
        let form = DataForm {
            type_: DataFormType::Form,
            title: Some(self.title.clone()),
            instructions: None,
            fields: self
                .fields
                .iter()
                .map(|f| {
                    let mut field = match f.kind {
                        FieldKind::TextSingle => Field::new(&f.var, FieldType::TextSingle),
                        FieldKind::Boolean => Field::new(&f.var, FieldType::Boolean),
                    };
                    field.label = Some(f.label.clone());
                    // A switch left as it is, is an answer too.
                    field.required = f.kind == FieldKind::TextSingle;
                    field.values = f.value.iter().cloned().collect();
                    field
                })
                .collect(),
        };
        Element::builder("command", NS)
            .attr(name("node"), self.node.as_str())
            .attr(name("sessionid"), self.session_id.as_str())
            .attr(name("status"), "executing")
            .append(
                Element::builder("actions", NS)
                    .attr(name("execute"), "complete")
                    .append(Element::builder("complete", NS).build())
                    .build(),
            )
            .append(with_explicit_types(Element::from(form)))
            .build()
    }
}

/// The form with every field's `type` written out. XEP-0004 makes
/// `text-single` the default, so it is left out when serialised, but
/// Profanity 0.13 then shows "Type : (null)" and drops what the user types.
fn with_explicit_types(mut form: Element) -> Element {
    for field in form.children_mut() {
        if field.is("field", xmpp_parsers::ns::DATA_FORMS) && field.attr("type").is_none() {
            field.set_attr(
                xmpp_parsers::minidom::rxml::Namespace::NONE,
                name("type"),
                "text-single",
            );
        }
    }
    form
}

/// A field a command asks for: text, or a switch with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    pub var: String,
    pub label: String,
    pub kind: FieldKind,
    pub value: Option<String>,
}

impl From<AdhocField> for FormField {
    fn from(f: AdhocField) -> FormField {
        FormField {
            var: f.var,
            label: f.label,
            kind: f.kind,
            value: f.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_junk_is_refused() {
        let e: Element = "<command xmlns='http://jabber.org/protocol/commands' node='status'/>"
            .parse()
            .unwrap();
        assert_eq!(
            CommandRequest::from_element(&e).unwrap(),
            CommandRequest {
                node: "status".into(),
                action: "execute".into(),
                session_id: None,
                submitted: None,
            }
        );
        let empty_id: Element =
            "<command xmlns='http://jabber.org/protocol/commands' node='status' sessionid=''/>"
                .parse()
                .unwrap();
        assert_eq!(
            CommandRequest::from_element(&empty_id).unwrap().session_id,
            None
        );
        let no_node: Element = "<command xmlns='http://jabber.org/protocol/commands'/>"
            .parse()
            .unwrap();
        assert_eq!(
            CommandRequest::from_element(&no_node),
            Err(CommandError::NoNode)
        );
        let other: Element = "<query xmlns='jabber:iq:version'/>".parse().unwrap();
        assert_eq!(
            CommandRequest::from_element(&other),
            Err(CommandError::NotCommand)
        );
    }

    #[test]
    fn a_form_is_offered_and_its_submission_read() {
        let asking = Executing {
            node: "call".into(),
            session_id: "s1".into(),
            title: "Call".into(),
            fields: vec![
                FormField {
                    var: "uri".into(),
                    label: "SIP URI".into(),
                    kind: FieldKind::TextSingle,
                    value: None,
                },
                FormField {
                    var: "on-the-phone".into(),
                    label: "Show 'On the phone' to contacts".into(),
                    kind: FieldKind::Boolean,
                    value: Some("1".into()),
                },
            ],
        };
        let text = String::from(&asking.to_element());
        assert!(text.contains("status='executing'"), "{text}");
        assert!(text.contains("<complete/>"), "{text}");
        // text-single is XEP-0004's default, but written out: Profanity
        // ignores a field without a type.
        assert!(
            text.contains("var='uri'")
                && text.contains("type='text-single'")
                && text.contains("label='SIP URI'")
                && text.contains("<required/>"),
            "{text}"
        );
        // A switch shows its state, and may be left as it is.
        let switch = text.split("var='on-the-phone'").nth(1).unwrap_or_default();
        assert!(text.contains("type='boolean'"), "{text}");
        assert!(switch.contains("<value>1</value>"), "{text}");
        assert_eq!(text.matches("<required/>").count(), 1, "{text}");
        let submit: Element = "<command xmlns='http://jabber.org/protocol/commands' node='call' \
             sessionid='s1' action='complete'><x xmlns='jabber:x:data' type='submit'>\
             <field var='uri'><value>sip:bob@example.org</value></field></x></command>"
            .parse()
            .unwrap();
        let request = CommandRequest::from_element(&submit).unwrap();
        assert_eq!(request.submitted.unwrap()["uri"], "sip:bob@example.org");
        let junk: Element = "<command xmlns='http://jabber.org/protocol/commands' node='call'>\
             <x xmlns='jabber:x:data' type='nonsense'/></command>"
            .parse()
            .unwrap();
        assert!(matches!(
            CommandRequest::from_element(&junk),
            Err(CommandError::BadForm(_))
        ));
    }

    #[test]
    fn completed_carries_the_note() {
        let c = Completed {
            node: "status".into(),
            session_id: "s1".into(),
            note_type: "info",
            note: "all good".into(),
        };
        let text = String::from(&c.to_element());
        assert!(text.contains("status='completed'"), "{text}");
        assert!(text.contains("<note type='info'>all good</note>"), "{text}");
    }
}
