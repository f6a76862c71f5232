//! Why a login failed, in words that say whose problem it is: a refused
//! password reads differently from a channel-binding or mechanism problem,
//! and neither reads like a network failure (issue 19).

use xmpp_parsers::sasl::DefinedCondition;

use super::mechanism::NoMechanism;

/// What kind of refusal, for the retry policy and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `not-authorized` to a mechanism without channel binding: the
    /// user name or password.
    Credentials,
    /// Refused while binding the TLS channel (`-PLUS`): not the password.
    ChannelBinding,
    /// No mechanism both sides accept, or the server disliked the one used.
    Mechanism,
    /// `account-disabled`, `credentials-expired`: the user must act.
    Account,
    /// `temporary-auth-failure`: the server's own trouble.
    Temporary,
    /// The server's answer did not prove it knows the password (SCRAM
    /// server signature), or made no sense.
    Server,
}

impl Kind {
    /// Whether trying again later, unchanged, can help.
    pub fn retryable(self) -> bool {
        matches!(self, Kind::Credentials | Kind::Temporary)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The server said `<failure/>`.
    #[error("{}", refused_text(*.kind, .mechanism, .condition, .text.as_deref()))]
    Refused {
        kind: Kind,
        mechanism: &'static str,
        condition: &'static str,
        text: Option<String>,
    },
    #[error("{0}; set `sasl` in [plugins.xmpp] only if the server needs it")]
    NoMechanism(NoMechanism),
    /// The SCRAM exchange went wrong on our side.
    #[error("the server's SASL answer to {mechanism} is not valid ({why}): a server that does not know this account's password, or one in the middle")]
    Exchange {
        mechanism: &'static str,
        why: String,
    },
    /// Not a login problem: the connection, TLS, the stream.
    #[error(transparent)]
    Network(#[from] tokio_xmpp::Error),
}

impl LoginError {
    pub fn kind(&self) -> Option<Kind> {
        match self {
            LoginError::Refused { kind, .. } => Some(*kind),
            LoginError::NoMechanism(_) => Some(Kind::Mechanism),
            LoginError::Exchange { .. } => Some(Kind::Server),
            LoginError::Network(_) => None,
        }
    }

    /// The server's `<failure/>`, classified.
    pub fn refused(
        mechanism: super::mechanism::Mechanism,
        condition: &DefinedCondition,
        text: Option<String>,
    ) -> LoginError {
        let mentions_binding = text
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("channel binding"));
        let kind = match condition {
            DefinedCondition::NotAuthorized if mechanism.plus() || mentions_binding => {
                Kind::ChannelBinding
            }
            DefinedCondition::NotAuthorized => Kind::Credentials,
            DefinedCondition::AccountDisabled | DefinedCondition::CredentialsExpired => {
                Kind::Account
            }
            DefinedCondition::TemporaryAuthFailure => Kind::Temporary,
            DefinedCondition::InvalidMechanism
            | DefinedCondition::MechanismTooWeak
            | DefinedCondition::EncryptionRequired => Kind::Mechanism,
            DefinedCondition::Aborted
            | DefinedCondition::IncorrectEncoding
            | DefinedCondition::InvalidAuthzid
            | DefinedCondition::MalformedRequest
                if mentions_binding =>
            {
                Kind::ChannelBinding
            }
            _ => Kind::Server,
        };
        LoginError::Refused {
            kind,
            mechanism: mechanism.name(),
            condition: condition_name(condition),
            text,
        }
    }
}

fn refused_text(kind: Kind, mechanism: &str, condition: &str, text: Option<&str>) -> String {
    let said = match text {
        Some(text) => format!("{condition}: \"{text}\""),
        None => condition.to_owned(),
    };
    match kind {
        Kind::Credentials => format!(
            "the server refused the user name or password ({said}, {mechanism}): check jid and password_file"
        ),
        Kind::ChannelBinding => format!(
            "the server refused the TLS channel binding of {mechanism} ({said}): not a password problem; \
             `sasl = [\"-{mechanism}\"]` in [plugins.xmpp] avoids it if the server is known to be wrong"
        ),
        Kind::Mechanism => format!(
            "the server refused the SASL mechanism {mechanism} ({said}); `sasl` in [plugins.xmpp] chooses others"
        ),
        Kind::Account => format!("the server refused the account ({said}): see the server's administrator"),
        Kind::Temporary => format!("the server could not check the login just now ({said})"),
        Kind::Server => format!("the server ended the login ({said}, {mechanism})"),
    }
}

/// RFC 6120 §6.5's name of a condition.
pub fn condition_name(condition: &DefinedCondition) -> &'static str {
    match condition {
        DefinedCondition::Aborted => "aborted",
        DefinedCondition::AccountDisabled => "account-disabled",
        DefinedCondition::CredentialsExpired => "credentials-expired",
        DefinedCondition::EncryptionRequired => "encryption-required",
        DefinedCondition::IncorrectEncoding => "incorrect-encoding",
        DefinedCondition::InvalidAuthzid => "invalid-authzid",
        DefinedCondition::InvalidMechanism => "invalid-mechanism",
        DefinedCondition::MalformedRequest => "malformed-request",
        DefinedCondition::MechanismTooWeak => "mechanism-too-weak",
        DefinedCondition::NotAuthorized => "not-authorized",
        DefinedCondition::TemporaryAuthFailure => "temporary-auth-failure",
    }
}

#[cfg(test)]
mod tests {
    use super::super::mechanism::Mechanism;
    use super::*;

    #[test]
    fn a_refused_binding_does_not_read_like_a_wrong_password() {
        let e = LoginError::refused(
            Mechanism::ScramSha1Plus,
            &DefinedCondition::NotAuthorized,
            Some("Invalid channel binding".into()),
        );
        assert_eq!(e.kind(), Some(Kind::ChannelBinding));
        assert!(e.to_string().contains("not a password problem"), "{e}");
        let e = LoginError::refused(
            Mechanism::ScramSha1,
            &DefinedCondition::NotAuthorized,
            Some("Invalid username or password".into()),
        );
        assert_eq!(e.kind(), Some(Kind::Credentials));
        assert!(e.to_string().contains("user name or password"), "{e}");
        assert!(e.to_string().contains("not-authorized"), "{e}");
        assert!(!Kind::ChannelBinding.retryable() && Kind::Credentials.retryable());
    }
}
