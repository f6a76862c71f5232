//! The built-in event vocabulary, one module per protocol.
//!
//! Every field has a default, so a publisher on a newer SDK that adds a field
//! never breaks a subscriber on an older one (and the other way round).

pub mod sip;
pub mod xmpp;

#[cfg(test)]
mod tests {
    use super::sip::{CallAnswered, CallIncoming};
    use crate::Payload;

    /// A subscriber built before `source` and `transport` were added reads
    /// a newer event, and a newer subscriber reads an older one: what the
    /// module comment promises, for a field that was added (SDK 0.3).
    #[test]
    fn a_field_added_on_either_side_breaks_nobody() {
        let newer = Payload::from(serde_json::json!({
            "call": "c1", "peer": "sip:bob@example.org", "display_name": null,
            "source": "192.0.2.10:5060", "transport": "udp", "added_later": [1, 2]
        }));
        let read: CallIncoming = newer.decode().unwrap();
        assert_eq!(read.source, "192.0.2.10:5060");
        let older = Payload::from(serde_json::json!({"call": "c1", "peer": "sip:bob@example.org"}));
        let read: CallIncoming = older.decode().unwrap();
        assert_eq!((read.call.as_str(), read.source.as_str()), ("c1", ""));
        let read: CallAnswered = newer.decode().unwrap();
        assert_eq!(read.call, "c1");
    }
}
