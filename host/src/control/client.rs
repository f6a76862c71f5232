//! The `tandem ctl` side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{Request, Response};

/// Why a control request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("tandem is not running (no control socket at {path}): {source}")]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path} is served by uid {uid}, not by you: refusing to talk to it")]
    NotOurs { path: PathBuf, uid: u32 },
    #[error("control socket {path}: the daemon closed the connection without answering")]
    NoAnswer { path: PathBuf },
    #[error("control socket {path}: unreadable answer: {message}")]
    BadAnswer { path: PathBuf, message: String },
}

/// Sends one request and waits (at most `timeout`) for its answer.
pub fn request(
    socket: &Path,
    command: &str,
    args: Value,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let io = |source| ClientError::Io {
        path: socket.to_owned(),
        source,
    };
    let stream = UnixStream::connect(socket).map_err(|source| ClientError::NotRunning {
        path: socket.to_owned(),
        source,
    })?;
    // Whoever listens gets our commands and we believe their answers: it
    // must be our own daemon, not a socket another user put in the path.
    let uid = super::peer_uid(&stream).map_err(io)?;
    if uid != super::current_uid() {
        return Err(ClientError::NotOurs {
            path: socket.to_owned(),
            uid,
        });
    }
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_vec(&Request {
        command: command.to_owned(),
        args,
    })
    .map_err(|e| ClientError::BadAnswer {
        path: socket.to_owned(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    if answer.is_empty() {
        return Err(ClientError::NoAnswer {
            path: socket.to_owned(),
        });
    }
    serde_json::from_str(&answer).map_err(|e| ClientError::BadAnswer {
        path: socket.to_owned(),
        message: e.to_string(),
    })
}
