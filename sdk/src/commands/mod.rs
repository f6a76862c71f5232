//! The built-in command vocabulary: one module per protocol, and `host`
//! for the commands the host itself answers.

/// Implements `Deserialize` for a command that takes no arguments so that
/// any arguments (none, `{}`, `null`, whatever a rule passes) are accepted
/// and ignored: callers have always been free to send `{}` or nothing.
macro_rules! takes_no_arguments {
    ($($ty:ident),+ $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                serde::de::IgnoredAny::deserialize(deserializer)?;
                Ok($ty {})
            }
        }
    )+};
}
pub(crate) use takes_no_arguments;

pub mod composing;
pub mod file_transfer;
pub mod host;
pub mod sip;
pub mod sip_session;
pub mod xmpp;

#[cfg(test)]
mod tests {
    use super::{file_transfer, sip, xmpp};

    #[test]
    fn commands_without_arguments_accept_whatever_a_caller_sends() {
        for args in [
            serde_json::json!(null),
            serde_json::json!({}),
            serde_json::json!({"stray": 1}),
        ] {
            serde_json::from_value::<xmpp::GetPresence>(args.clone()).unwrap();
            serde_json::from_value::<xmpp::GetStatus>(args.clone()).unwrap();
            serde_json::from_value::<xmpp::Reconnect>(args.clone()).unwrap();
            serde_json::from_value::<file_transfer::List>(args.clone()).unwrap();
            serde_json::from_value::<sip::GetStatus>(args).unwrap();
        }
    }
}
