//! Errors a plugin sees and returns.

use crate::abi::FfiCommandError;

/// Any error a plugin returns from `start` or an event handler.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a command failed. Crosses the ABI as a stable number, so kinds can be
/// added without breaking older plugins (they see [`ErrorKind::Other`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No loaded plugin provides the command.
    UnknownCommand,
    /// The providing plugin has failed (panicked) or stopped.
    PluginFailed,
    /// No answer within the caller's timeout.
    Timeout,
    /// The provider refused the request (wrong state, not allowed, ...).
    Rejected,
    /// The arguments did not fit the command.
    InvalidArguments,
    /// The provider hit an internal error.
    Internal,
    /// The provider is there but the user switched it off (a rule turned
    /// off with `rules off`): not a failure, a choice to answer as such
    /// (a SIP MESSAGE then gets 480, not a 503 to retry).
    SwitchedOff,
    /// A kind this SDK version does not know.
    Other(u32),
}

impl ErrorKind {
    /// The stable wire code.
    pub fn code(self) -> u32 {
        match self {
            ErrorKind::UnknownCommand => 1,
            ErrorKind::PluginFailed => 2,
            ErrorKind::Timeout => 3,
            ErrorKind::Rejected => 4,
            ErrorKind::InvalidArguments => 5,
            ErrorKind::Internal => 6,
            ErrorKind::SwitchedOff => 7,
            ErrorKind::Other(code) => code,
        }
    }

    /// Reads a wire code.
    pub fn from_code(code: u32) -> Self {
        match code {
            1 => ErrorKind::UnknownCommand,
            2 => ErrorKind::PluginFailed,
            3 => ErrorKind::Timeout,
            4 => ErrorKind::Rejected,
            5 => ErrorKind::InvalidArguments,
            6 => ErrorKind::Internal,
            7 => ErrorKind::SwitchedOff,
            other => ErrorKind::Other(other),
        }
    }

    /// The short name used in messages and in Lua (`err.kind`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::UnknownCommand => "unknown_command",
            ErrorKind::PluginFailed => "plugin_failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Rejected => "rejected",
            ErrorKind::InvalidArguments => "invalid_arguments",
            ErrorKind::Internal => "internal",
            ErrorKind::SwitchedOff => "switched_off",
            ErrorKind::Other(_) => "other",
        }
    }

    /// Parses [`ErrorKind::name`] (used by recorded event files).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "unknown_command" => ErrorKind::UnknownCommand,
            "plugin_failed" => ErrorKind::PluginFailed,
            "timeout" => ErrorKind::Timeout,
            "rejected" => ErrorKind::Rejected,
            "invalid_arguments" => ErrorKind::InvalidArguments,
            "internal" => ErrorKind::Internal,
            "switched_off" => ErrorKind::SwitchedOff,
            _ => return None,
        })
    }
}

/// A failed command call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            message: message.into(),
        }
    }
    /// The provider refuses the request.
    pub fn rejected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Rejected, message)
    }
    /// The arguments do not fit.
    pub fn invalid_arguments(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArguments, message)
    }
    /// Something broke inside the provider.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// The plugin does not provide this command.
    pub fn unknown_command(name: &str) -> Self {
        Self::new(
            ErrorKind::UnknownCommand,
            format!("no plugin provides `{name}`"),
        )
    }
}

impl From<FfiCommandError> for CommandError {
    fn from(e: FfiCommandError) -> Self {
        CommandError {
            kind: ErrorKind::from_code(e.kind),
            message: e.message.into_string(),
        }
    }
}

impl From<CommandError> for FfiCommandError {
    fn from(e: CommandError) -> Self {
        FfiCommandError {
            kind: e.kind.code(),
            message: e.message.into(),
        }
    }
}

impl From<crate::PayloadError> for CommandError {
    fn from(e: crate::PayloadError) -> Self {
        CommandError::invalid_arguments(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_codes_and_names() {
        for kind in [
            ErrorKind::UnknownCommand,
            ErrorKind::PluginFailed,
            ErrorKind::Timeout,
            ErrorKind::Rejected,
            ErrorKind::InvalidArguments,
            ErrorKind::Internal,
        ] {
            assert_eq!(ErrorKind::from_code(kind.code()), kind);
            assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ErrorKind::from_code(99), ErrorKind::Other(99));
    }
}
