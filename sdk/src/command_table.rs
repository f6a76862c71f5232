//! A plugin's commands as one table: it fills the manifest and dispatches,
//! so the two cannot drift (in the spirit of Nushell's plugin `commands()`).
//!
//! ```ignore
//! impl Handler<Echo> for MyPlugin {
//!     async fn handle(&self, request: Echo) -> Result<EchoReply, CommandError> { ... }
//! }
//! impl Plugin for MyPlugin {
//!     fn commands() -> Commands<Self> {
//!         Commands::new().command::<Echo>("Echoes the text back")
//!     }
//!     ...
//! }
//! ```
//!
//! The name is the request type's [`CommandType::NAME`]; the SDK decodes
//! the arguments into it (a mismatch is `invalid_arguments`), runs the
//! handler and encodes its typed reply. A command not in the table goes to
//! [`Plugin::on_command`], whose default answers `unknown_command`.

use std::future::Future;
use std::pin::Pin;

use crate::{Command, CommandError, CommandType, Manifest, Payload, Plugin};

/// Handles one command of the plugin's table.
pub trait Handler<C: CommandType>: Plugin {
    /// Answers the decoded request.
    fn handle(&self, request: C) -> impl Future<Output = Result<C::Reply, CommandError>> + Send;
}

type Reply<'a> = Pin<Box<dyn Future<Output = Result<Payload, CommandError>> + Send + 'a>>;
type Dispatch<P> = for<'a> fn(&'a P, Payload) -> Reply<'a>;

/// One row of the table.
pub struct CommandSpec<P> {
    /// The command name (`C::NAME`).
    pub name: &'static str,
    /// One line for people (docs, `tandem plugins`).
    pub description: &'static str,
    dispatch: Dispatch<P>,
}

/// A plugin's command table (see the module doc).
pub struct Commands<P> {
    specs: Vec<CommandSpec<P>>,
}

impl<P> Default for Commands<P> {
    fn default() -> Self {
        Commands { specs: Vec::new() }
    }
}

impl<P: Plugin> Commands<P> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `C`, handled by `P`'s [`Handler<C>`].
    ///
    /// # Panics
    /// When `C::NAME` is already in the table: two handlers for one name
    /// is a programming error, found by the first test that builds it.
    pub fn command<C>(mut self, description: &'static str) -> Self
    where
        P: Handler<C>,
        C: CommandType + Send + 'static,
        C::Reply: Send,
    {
        assert!(
            self.get(C::NAME).is_none(),
            "command `{}` is in the table twice",
            C::NAME
        );
        self.specs.push(CommandSpec {
            name: C::NAME,
            description,
            dispatch: run::<P, C>,
        });
        self
    }

    /// The row for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&CommandSpec<P>> {
        self.specs.iter().find(|spec| spec.name == name)
    }

    /// The rows, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &CommandSpec<P>> {
        self.specs.iter()
    }

    /// The command names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.specs.iter().map(|spec| spec.name)
    }

    /// Runs `command`: through the table, else [`Plugin::on_command`].
    pub async fn dispatch(&self, plugin: &P, command: Command) -> Result<Payload, CommandError> {
        match self.get(command.name()) {
            Some(spec) => (spec.dispatch)(plugin, command.into_args()).await,
            None => plugin.on_command(command).await,
        }
    }
}

fn run<P, C>(plugin: &P, args: Payload) -> Reply<'_>
where
    P: Handler<C>,
    C: CommandType + Send + 'static,
    C::Reply: Send,
{
    Box::pin(async move {
        let request: C = args.decode()?;
        let reply = plugin.handle(request).await?;
        Payload::encode(&reply)
            .map_err(|e| CommandError::internal(format!("cannot encode the answer: {e}")))
    })
}

/// `P`'s manifest with its table's commands declared (after any the
/// manifest names by hand, without repeats) and the SDK version set.
pub fn manifest_of<P: Plugin>() -> Manifest {
    let mut manifest = P::manifest();
    for name in P::commands().names() {
        if !manifest.commands.iter().any(|c| c == name) {
            manifest.commands.push(name.to_owned());
        }
    }
    manifest.sdk_version = crate::SDK_VERSION.to_owned();
    manifest
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::testing::MockHost;
    use crate::{BoxError, ErrorKind, Host};

    struct Shouter;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Shout {
        text: String,
    }
    impl CommandType for Shout {
        const NAME: &'static str = "shouter.shout";
        type Reply = Shout;
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Count {
        upto: u32,
    }
    impl CommandType for Count {
        const NAME: &'static str = "shouter.count";
        type Reply = Vec<u32>;
    }

    impl Handler<Shout> for Shouter {
        async fn handle(&self, request: Shout) -> Result<Shout, CommandError> {
            Ok(Shout {
                text: request.text.to_uppercase(),
            })
        }
    }

    impl Handler<Count> for Shouter {
        async fn handle(&self, request: Count) -> Result<Vec<u32>, CommandError> {
            Ok((1..=request.upto).collect())
        }
    }

    impl Plugin for Shouter {
        type Config = ();
        fn manifest() -> Manifest {
            Manifest::new("shouter", "0.0.0")
        }
        fn commands() -> Commands<Self> {
            Commands::new()
                .command::<Shout>("Shouts the text")
                .command::<Count>("Counts up")
        }
        async fn start(_host: Host, _config: ()) -> Result<Self, BoxError> {
            Ok(Shouter)
        }
    }

    #[test]
    fn the_manifest_lists_what_the_table_dispatches() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(manifest_and_dispatch_agree());
    }

    async fn manifest_and_dispatch_agree() {
        crate::testing::assert_commands_agree::<Shouter>();
        let manifest = manifest_of::<Shouter>();
        assert_eq!(manifest.commands, ["shouter.shout", "shouter.count"]);
        let host = MockHost::new();
        let plugin = host
            .start::<Shouter>(serde_json::Value::Null)
            .await
            .unwrap();
        assert_eq!(
            plugin
                .command("shouter.shout", serde_json::json!({"text": "hi"}))
                .await
                .unwrap(),
            serde_json::json!({"text": "HI"})
        );
        assert_eq!(
            plugin
                .command("shouter.count", serde_json::json!({"upto": 3}))
                .await
                .unwrap(),
            serde_json::json!([1, 2, 3])
        );
        let err = plugin
            .command("shouter.count", serde_json::json!({"upto": "x"}))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArguments, "{err}");
        let err = plugin
            .command("shouter.whisper", serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownCommand, "{err}");
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_name_twice_is_refused() {
        let _ = Commands::<Shouter>::new()
            .command::<Shout>("a")
            .command::<Shout>("b");
    }
}
