//! The built-in event vocabulary, one module per protocol.
//!
//! Every field has a default, so a publisher on a newer SDK that adds a field
//! never breaks a subscriber on an older one (and the other way round).

pub mod composing;
pub mod file_transfer;
pub mod sip;
pub mod sip_session;
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

    /// A value added by a newer SDK (a new end reason, state or via) reads
    /// as `Unknown` on an older one and is written back unchanged, so a
    /// subscriber that forwards the event loses nothing: the added-field
    /// promise, for values.
    #[test]
    fn a_value_added_by_a_newer_peer_reads_as_unknown_and_round_trips() {
        use super::sip::{CallEnded, EndReason, Registration, RegistrationState};
        use super::xmpp::{ChatMessage, ChatState, ChatStateEvent, Via};

        let newer = serde_json::json!({"call": "c1", "reason": "transferred", "duration": 1.5});
        let read: CallEnded = Payload::from(newer.clone()).decode().unwrap();
        assert_eq!(read.reason, EndReason::Unknown("transferred".into()));
        assert_eq!(
            serde_json::to_value(&read).unwrap()["reason"],
            "transferred"
        );

        let known: CallEnded = Payload::from(serde_json::json!({"reason": "remote_hangup"}))
            .decode()
            .unwrap();
        assert_eq!(known.reason, EndReason::RemoteHangup);
        assert!(known.reason == "remote_hangup");
        // A missing value is the empty text it was when the field was a string.
        let older: CallEnded = Payload::from(serde_json::json!({"call": "c1"}))
            .decode()
            .unwrap();
        assert_eq!(serde_json::to_value(&older).unwrap()["reason"], "");

        let reg: Registration = Payload::from(serde_json::json!({"state": "suspended"}))
            .decode()
            .unwrap();
        assert_eq!(reg.state, RegistrationState::Unknown("suspended".into()));
        assert_eq!(serde_json::to_value(&reg).unwrap()["state"], "suspended");

        let chat: ChatStateEvent =
            Payload::from(serde_json::json!({"state": "recording", "via": "carbon_sent"}))
                .decode()
                .unwrap();
        assert_eq!(
            (chat.state.clone(), chat.via.clone()),
            (ChatState::Unknown("recording".into()), Via::CarbonSent)
        );
        let back = serde_json::to_value(&chat).unwrap();
        assert_eq!(
            (&back["state"], &back["via"]),
            (&"recording".into(), &"carbon_sent".into())
        );

        let msg: ChatMessage = Payload::from(serde_json::json!({"via": "mam"}))
            .decode()
            .unwrap();
        assert_eq!(msg.via.as_str(), "mam");
    }
}
