//! Commands: a request to the one plugin that provides it, with an answer.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Payload, PayloadError};

/// A typed command of the built-in vocabulary (see [`crate::commands`]).
pub trait CommandType: Serialize + DeserializeOwned {
    /// The command name, e.g. `xmpp.set_presence`.
    const NAME: &'static str;
    /// What a successful call answers.
    type Reply: Serialize + DeserializeOwned;
}

/// A command as the providing plugin receives it.
#[derive(Debug, Clone)]
pub struct Command {
    name: String,
    args: Payload,
}

impl Command {
    pub fn new(name: impl Into<String>, args: Payload) -> Self {
        Command {
            name: name.into(),
            args,
        }
    }

    /// The command name, e.g. `example.echo`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments as sent.
    pub fn args(&self) -> &Payload {
        &self.args
    }

    /// The arguments, taken.
    pub fn into_args(self) -> Payload {
        self.args
    }

    /// Decodes the arguments into any serde type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        self.args.decode()
    }

    /// Whether this is a `C` (by name).
    pub fn is<C: CommandType>(&self) -> bool {
        self.name == C::NAME
    }
}
