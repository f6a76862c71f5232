//! A failed rule, told in one line a person can act on: which script,
//! where, and why (a Lua error without mlua's traceback, a spent
//! instruction budget, the memory limit).

use super::script::Script;
use super::start;

/// The message of a failed resumption of `thread`, naming the cause and,
/// where the error itself does not, the line.
pub(super) fn failure_text(script: &Script, thread: &mlua::Thread, error: &mlua::Error) -> String {
    if let Some(place) = script.budget.exhausted_at() {
        return format!("stopped at {place}: {}", script.budget.exceeded());
    }
    let place = || start::stopped_at(&script.lua, thread);
    if is_memory_error(error) {
        let limit = script.memory_limit >> 20;
        return match place() {
            Some(place) => format!("stopped at {place}: memory limit of {limit} MiB exceeded"),
            None => format!("stopped: memory limit of {limit} MiB exceeded"),
        };
    }
    // Lua's own errors start with their position; an API function's
    // (written in Rust) do not.
    match (error, place()) {
        (mlua::Error::CallbackError { .. }, Some(place)) => format!("{place}: {}", describe(error)),
        _ => describe(error),
    }
}

fn is_memory_error(error: &mlua::Error) -> bool {
    match error {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

/// A Lua error as one readable line (file:line: message), without the
/// traceback mlua appends.
pub fn describe(error: &mlua::Error) -> String {
    match error {
        mlua::Error::CallbackError { cause, .. } => describe(cause),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", describe(cause)),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => first_paragraph(message),
        other => first_paragraph(&other.to_string()),
    }
}

fn first_paragraph(text: &str) -> String {
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}
