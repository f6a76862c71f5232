//! `tandem ctl`: the running daemon's local control socket.
//!
//! One JSON object per line each way. A request names a bus command and its
//! arguments; the answer is `{"ok": …}` or `{"error": {"kind", "message"}}`.
//! The socket is the owner's alone: its folder is created `0700` and must
//! not be reachable by others, the socket is `0600`, and every connection's
//! peer credentials are checked against the daemon's own user, so nobody
//! else on the machine can make calls or change presence.

pub mod calls;
pub mod client;
pub mod commands;
pub mod server;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest request line accepted; anything longer is refused.
pub const MAX_LINE: usize = 64 * 1024;

/// One request on the socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub command: String,
    #[serde(default)]
    pub args: Value,
}

/// The answer to one request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    Ok(Value),
    Error { kind: String, message: String },
}

/// The socket path when the config names none.
pub fn default_socket() -> PathBuf {
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("tandem"),
        None => std::env::temp_dir().join(format!("tandem-{}", current_uid())),
    };
    base.join("control.sock")
}

/// The socket path for `config`.
pub fn socket_for(config: &crate::config::Config) -> PathBuf {
    config
        .host
        .control_socket
        .clone()
        .unwrap_or_else(default_socket)
}

pub(crate) fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The user on the other end of a Unix socket (`SO_PEERCRED`).
pub(crate) fn peer_uid(stream: &impl std::os::fd::AsRawFd) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given;
    // the descriptor is borrowed for the call only.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    match rc {
        0 => Ok(cred.uid),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_of_our_own_socket_is_us() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), current_uid());
    }

    #[tokio::test]
    async fn only_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        // A stale socket (its listener gone, the file left) is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let socket = server::ControlSocket::bind(&path).await.unwrap();
        drop(socket);
        // Anything else at the path is left alone.
        std::fs::write(&path, "not a socket").unwrap();
        let err = server::ControlSocket::bind(&path).await.err().unwrap();
        assert!(matches!(err, server::ControlError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    }

    #[tokio::test]
    async fn a_symlinked_socket_folder_is_refused() {
        use std::os::unix::fs::DirBuilderExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&real)
            .unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = server::ControlSocket::bind(&link.join("control.sock"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, server::ControlError::Symlink(_)), "{err}");
    }
}
