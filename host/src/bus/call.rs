//! Calling a command from the host side (Lua, the CLI, tests).

use std::time::Duration;

use tandem_sdk::abi::await_reply;
use tandem_sdk::{CommandError, Payload};
use tokio::sync::oneshot;

use super::{Bus, Reply};

/// Calls `name` and waits at most `timeout` for the answer.
pub async fn call(
    bus: &Bus,
    name: &str,
    args: Payload,
    timeout: Duration,
) -> Result<Payload, CommandError> {
    let (tx, rx) = oneshot::channel();
    bus.route(
        name,
        args.into_json(),
        Reply::from_fn(move |result| {
            let _ = tx.send(result);
        }),
    );
    let json = await_reply(name, timeout, rx).await?;
    Payload::from_json(json).map_err(|e| {
        CommandError::internal(format!("{name} answered something that is not JSON: {e}"))
    })
}
