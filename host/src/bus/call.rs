//! Calling a command from the host side (Lua, the CLI, tests).

use std::time::Duration;

use tandem_sdk::abi::reply_from_fn;
use tandem_sdk::{CommandError, ErrorKind, Payload};
use tokio::sync::oneshot;

use super::Bus;

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
        reply_from_fn(move |result| {
            let _ = tx.send(result);
        }),
    );
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Ok(json))) => Payload::from_json(json).map_err(|e| {
            CommandError::internal(format!("{name} answered something that is not JSON: {e}"))
        }),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(CommandError::new(
            ErrorKind::PluginFailed,
            format!("{name}: the provider dropped the request without answering"),
        )),
        Err(_) => Err(CommandError::new(
            ErrorKind::Timeout,
            format!("{name}: no answer within {} ms", timeout.as_millis()),
        )),
    }
}
