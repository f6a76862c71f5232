//! XEP-0050 ad-hoc commands, which xmpp-parsers lacks: the `<command/>`
//! request and the one-step `completed` answer with a note, typed, and the
//! registry of commands the sidecar serves.
//!
//! Only the user's own account may list or run them: the sidecar acts for
//! the user (switch rules, later answer calls), so anyone else is refused.

use std::collections::BTreeMap;

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
}

/// Why a `<command/>` is not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("not a <command xmlns='{NS}'/> element")]
    NotCommand,
    #[error("<command/> without a node")]
    NoNode,
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
        Ok(CommandRequest {
            node: node.to_owned(),
            action: e.attr("action").unwrap_or("execute").to_owned(),
            session_id: e.attr("sessionid").map(str::to_owned),
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

/// One command the sidecar serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub name: String,
    /// The bus command run on execute, with `{node, from}`; its answer's
    /// `text` becomes the note.
    pub handler: String,
}

/// The commands by node, in a stable order for listing.
#[derive(Debug, Default)]
pub struct Registry(BTreeMap<String, Registered>);

impl Registry {
    pub fn register(&mut self, node: &str, command: Registered) {
        self.0.insert(node.to_owned(), command);
    }
    pub fn get(&self, node: &str) -> Option<&Registered> {
        self.0.get(node)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Registered)> {
        self.0.iter()
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
                session_id: None
            }
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
