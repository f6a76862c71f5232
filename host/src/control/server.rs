//! The daemon side of the control socket.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tandem_sdk::Payload;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{current_uid, Request, Response, MAX_LINE};
use crate::bus::{self, Bus};

/// How much of an oversize request is read and thrown away before closing.
const DRAIN_LIMIT: u64 = 1 << 20;

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket folder {path} is not private: other users could replace the socket (owner uid {owner}, mode {mode:o}); refusing to use it")]
    NotPrivate {
        path: PathBuf,
        owner: u32,
        mode: u32,
    },
    #[error(
        "control socket folder {0} is a symbolic link; refusing to use it (give a real folder)"
    )]
    Symlink(PathBuf),
    #[error("control socket {0} exists and is not a socket; refusing to replace it (check `[host] control_socket`)")]
    NotASocket(PathBuf),
    #[error("another tandem is already running (its control socket {0} answers)")]
    AlreadyRunning(PathBuf),
    #[error("control socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` privately. A stale socket left by a crashed daemon is
    /// replaced; a live one means another daemon runs and is an error.
    pub async fn bind(path: &Path) -> Result<ControlSocket, ControlError> {
        if let Some(folder) = path.parent() {
            private_folder(folder)?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if UnixStream::connect(path).await.is_ok() {
                return Err(ControlError::AlreadyRunning(path.to_owned()));
            }
            // Only a stale socket is ours to replace: a path that names the
            // config (or any other file) by mistake must not be deleted.
            if !meta.file_type().is_socket() {
                return Err(ControlError::NotASocket(path.to_owned()));
            }
            let _ = std::fs::remove_file(path);
        }
        let bind_error = |source| ControlError::Bind {
            path: path.to_owned(),
            source,
        };
        let listener = UnixListener::bind(path).map_err(bind_error)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(bind_error)?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves connections until the future is dropped. Each request is a
    /// bus call with `timeout`.
    pub async fn serve(&self, bus: Bus, timeout: Duration) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("control socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == current_uid() => {
                    tokio::spawn(connection(stream, bus.clone(), timeout));
                }
                Ok(cred) => tracing::warn!(
                    uid = cred.uid(),
                    "control socket: connection from another user refused"
                ),
                Err(e) => tracing::warn!("control socket: no peer credentials, refused: {e}"),
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates `folder` (0700) or checks that an existing one is ours and that
/// nobody else can write to it (and so swap the socket for theirs), as ssh
/// does for its files. The socket itself is 0600 and peers are checked.
fn private_folder(folder: &Path) -> Result<(), ControlError> {
    let folder_error = |source| ControlError::Folder {
        path: folder.to_owned(),
        source,
    };
    if !folder.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(folder_error)?;
    }
    // Not followed: a symlink could be re-pointed by its owner later.
    let meta = std::fs::symlink_metadata(folder).map_err(folder_error)?;
    if meta.file_type().is_symlink() {
        return Err(ControlError::Symlink(folder.to_owned()));
    }
    let mode = meta.mode() & 0o777;
    if meta.uid() != current_uid() || mode & 0o022 != 0 {
        return Err(ControlError::NotPrivate {
            path: folder.to_owned(),
            owner: meta.uid(),
            mode,
        });
    }
    Ok(())
}

async fn connection(stream: UnixStream, bus: Bus, timeout: Duration) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Read at most MAX_LINE + 1 bytes, so an endless line cannot grow memory.
        let n = match (&mut lines)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if n > MAX_LINE {
            let response = refuse("invalid_arguments", "request longer than 64 KiB");
            let _ = send(&mut write, &response).await;
            // Read the rest of the line (bounded) before closing: closing
            // with unread input resets the connection, and the client could
            // lose the answer or see its own write fail.
            let mut rest = Vec::new();
            let _ = (&mut lines)
                .take(DRAIN_LIMIT)
                .read_until(b'\n', &mut rest)
                .await;
            return;
        }
        let response = answer(&line, &bus, timeout).await;
        if send(&mut write, &response).await.is_err() {
            return;
        }
    }
}

async fn answer(line: &[u8], bus: &Bus, timeout: Duration) -> Response {
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                "invalid_arguments",
                &format!("not a request ({{\"command\": …, \"args\": …}}): {e}"),
            )
        }
    };
    let args = if request.args.is_null() {
        serde_json::json!({})
    } else {
        request.args
    };
    tracing::debug!(command = %request.command, "control request");
    match bus::call(bus, &request.command, Payload::from(args), timeout).await {
        Ok(payload) => match payload.decode() {
            Ok(value) => Response::Ok(value),
            Err(e) => refuse("internal", &e.to_string()),
        },
        Err(e) => refuse(e.kind.name(), &e.message),
    }
}

fn refuse(kind: &str, message: &str) -> Response {
    Response::Error {
        kind: kind.to_owned(),
        message: message.to_owned(),
    }
}

async fn send(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    response: &Response,
) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec());
    text.push(b'\n');
    write.write_all(&text).await
}
