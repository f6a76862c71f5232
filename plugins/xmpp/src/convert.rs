//! XMPP presence, reachability addresses and chat states <-> the SDK's
//! payloads, and the RFC names of stanza errors for messages.

use tandem_sdk::commands::xmpp::{Presence, ReachAddress};

use crate::xep::reach;
use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::presence::{self as xp, Show};
use xmpp_parsers::stanza_error::DefinedCondition;

pub fn reach_to_sdk(address: &reach::Address) -> ReachAddress {
    ReachAddress {
        uri: address.uri.clone(),
        desc: address.desc.clone(),
    }
}

pub fn reach_from_sdk(address: ReachAddress) -> reach::Address {
    reach::Address {
        uri: address.uri,
        desc: address.desc,
    }
}

/// A chat state as the SDK names it.
pub fn chat_state_name(state: &ChatState) -> &'static str {
    match state {
        ChatState::Active => "active",
        ChatState::Composing => "composing",
        ChatState::Gone => "gone",
        ChatState::Inactive => "inactive",
        ChatState::Paused => "paused",
    }
}

/// A chat state from the SDK's name; None for anything else.
pub fn chat_state_from_name(name: &str) -> Option<ChatState> {
    Some(match name {
        "active" => ChatState::Active,
        "composing" => ChatState::Composing,
        "gone" => ChatState::Gone,
        "inactive" => ChatState::Inactive,
        "paused" => ChatState::Paused,
        _ => return None,
    })
}

/// Why a presence asked for cannot be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("show must be away, chat, dnd or xa (or absent for available), not `{0}`")]
pub struct BadShow(pub String);

pub fn show_from_name(name: Option<&str>) -> Result<Option<Show>, BadShow> {
    Ok(match name {
        None | Some("") | Some("available") => None,
        Some("away") => Some(Show::Away),
        Some("chat") => Some(Show::Chat),
        Some("dnd") => Some(Show::Dnd),
        Some("xa") => Some(Show::Xa),
        Some(other) => return Err(BadShow(other.to_owned())),
    })
}

pub fn show_name(show: &Option<Show>) -> Option<String> {
    show.as_ref().map(|s| {
        match s {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        }
        .to_owned()
    })
}

/// The SDK view of an available presence stanza.
pub fn from_stanza(p: &xp::Presence) -> Presence {
    Presence {
        show: show_name(&p.show),
        status: p
            .statuses
            .get("")
            .or_else(|| p.statuses.values().next())
            .cloned(),
        priority: Some(p.priority.0),
    }
}

/// RFC 6120 §8.3.3's name of a stanza error condition.
pub fn stanza_error_name(condition: &DefinedCondition) -> String {
    // The parser's Debug is the Rust name (`NotAllowed`): the RFC's is
    // kebab-case (`not-allowed`).
    let debug = format!("{condition:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    let mut kebab = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                kebab.push('-');
            }
            kebab.push(c.to_ascii_lowercase());
        } else {
            kebab.push(c);
        }
    }
    kebab
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_round_trip_and_junk_is_refused() {
        for name in ["away", "chat", "dnd", "xa"] {
            assert_eq!(
                show_name(&show_from_name(Some(name)).unwrap()).as_deref(),
                Some(name)
            );
        }
        assert_eq!(show_from_name(None), Ok(None));
        assert_eq!(show_from_name(Some("busy")), Err(BadShow("busy".into())));
    }

    #[test]
    fn conditions_read_as_the_rfc_names_them() {
        assert_eq!(
            stanza_error_name(&DefinedCondition::NotAllowed),
            "not-allowed"
        );
        assert_eq!(
            stanza_error_name(&DefinedCondition::ServiceUnavailable),
            "service-unavailable"
        );
        assert_eq!(
            stanza_error_name(&DefinedCondition::Gone { new_address: None }),
            "gone"
        );
    }
}
