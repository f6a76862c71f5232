//! One accepted offer, start to end: download to the folder (by HTTP, or
//! over MSRP for a file offered in a SIP session), ask the user's XMPP
//! server for an upload slot, PUT the file there, share it with the
//! user's clients; then `file_transfer.completed` or `.failed`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tandem_sdk::commands::file_transfer::TransferState;
use tandem_sdk::commands::xmpp::{NotifyUser, SharedFile, UploadSlot};
use tandem_sdk::events::file_transfer::{Completed, Failed};

use crate::context::Context;
use crate::error::TransferError;
use crate::fetched::Fetched;
use crate::http::download::{self, Fetch};
use crate::http::upload;
use crate::offer::Source;
use crate::offers::Entry;

/// Runs the transfer of `entry` (already marked `downloading`) and
/// publishes how it ended.
pub async fn run(ctx: Arc<Context>, entry: Entry, thread: Option<String>) {
    let outcome = transfer(&ctx, &entry, thread).await;
    crate::interrupted::end(&ctx.dir, &entry.id).await;
    if let Source::Session(offer) = &entry.offer.source {
        // Whatever happened, the session is over (a second end of one
        // already ended changes nothing).
        crate::direct::end(&ctx.host, &offer.session).await;
        ctx.sessions.forget(&offer.session);
    }
    // Gone from the table already: `file_transfer.cancel` took it out and
    // said so; nothing more to say.
    if ctx.offers().remove(&entry.id).is_none() {
        return;
    }
    match outcome {
        Ok(done) => {
            ctx.host.info(&format!(
                "{} from {}: {} bytes shared with the user",
                entry.name, entry.peer, done.size
            ));
            ctx.host.publish(&done);
        }
        Err((e, kept)) => {
            let mut reason = e.to_string();
            if let Some(kept) = kept {
                reason.push_str(&format!(" (the file is saved as {})", kept.display()));
            }
            ctx.host.warn(&format!(
                "{} from {} failed: {reason}",
                entry.name, entry.peer
            ));
            ctx.host.publish(&Failed {
                id: entry.id.clone(),
                peer: entry.peer.clone(),
                name: entry.name.clone(),
                reason,
            });
        }
    }
}

/// The failure, and where the complete download was kept, if it was.
type Failure = (TransferError, Option<PathBuf>);

async fn transfer(
    ctx: &Context,
    entry: &Entry,
    thread: Option<String>,
) -> Result<Completed, Failure> {
    // Announced larger than taken: refused without a connection.
    if entry.offer.size.is_some_and(|size| size > ctx.max_size) {
        let limit = ctx.max_size;
        return Err((TransferError::TooLarge { limit }, None));
    }
    let disk = |source| {
        (
            TransferError::Disk {
                dir: ctx.dir.clone(),
                source,
            },
            None,
        )
    };
    tokio::fs::create_dir_all(&ctx.dir).await.map_err(disk)?;
    let part = download::part_path(&ctx.dir, &entry.id);
    let record = crate::interrupted::Record {
        peer: entry.peer.clone(),
        name: entry.name.clone(),
    };
    crate::interrupted::begin(&ctx.dir, &entry.id, &record).await;
    let fetched = match &entry.offer.source {
        Source::Link(url) => {
            download::fetch(
                Fetch {
                    url: url.clone(),
                    offered: entry.offer.size,
                    max_size: ctx.max_size,
                    part: &part,
                    progress: entry.received.clone(),
                },
                &ctx.tls,
            )
            .await
        }
        Source::Session(offer) => crate::direct::receive::receive(ctx, entry, offer, &part).await,
    }
    .map_err(|e| (e, None))?;

    // A complete download is kept under its own name (or the part goes
    // once uploaded): never a half-written file in the folder.
    let (path, kept) = if ctx.keep_files {
        let path = keep(&part, &ctx.dir, &entry.name).await.map_err(disk)?;
        (path.clone(), Some(path))
    } else {
        (part.clone(), None)
    };
    let result = share(ctx, entry, thread, &path, &fetched).await;
    if !ctx.keep_files {
        let _ = tokio::fs::remove_file(&part).await;
    }
    let url = result.map_err(|e| (e, kept.clone()))?;
    Ok(Completed {
        id: entry.id.clone(),
        peer: entry.peer.clone(),
        name: entry.name.clone(),
        size: fetched.size,
        media_type: Some(media_type(entry, &fetched)),
        sha256: fetched.sha256.clone(),
        url,
        path: kept.map(|p| p.display().to_string()),
    })
}

/// The offer's type, else the server's, else "some bytes".
fn media_type(entry: &Entry, fetched: &Fetched) -> String {
    entry
        .offer
        .media_type
        .clone()
        .or_else(|| {
            fetched
                .content_type
                .as_deref()
                .and_then(crate::offer::clean_media_type)
        })
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// Upload slot, PUT, note: answers the URL the user's clients fetch.
async fn share(
    ctx: &Context,
    entry: &Entry,
    thread: Option<String>,
    path: &Path,
    fetched: &Fetched,
) -> Result<String, TransferError> {
    ctx.offers().set_state(&entry.id, TransferState::Uploading);
    let media_type = media_type(entry, fetched);
    let slot = ctx
        .host
        .call(&UploadSlot {
            filename: entry.name.clone(),
            size: fetched.size,
            content_type: Some(media_type.clone()),
        })
        .await
        .map_err(|e| TransferError::Slot(e.message))?;
    upload::put(
        &slot.put_url,
        &slot.headers,
        &media_type,
        path,
        fetched.size,
        &ctx.tls,
    )
    .await?;
    ctx.host
        .call(&NotifyUser {
            text: String::new(),
            thread,
            file: Some(SharedFile {
                url: slot.get_url.clone(),
                name: entry.name.clone(),
                size: fetched.size,
                media_type: Some(media_type),
                sha256: Some(fetched.sha256.clone()),
            }),
        })
        .await
        .map_err(|e| TransferError::Share(e.message))?;
    Ok(slot.get_url)
}

/// Gives the part file its name in `dir`: `name`, else `name (2)`, … —
/// never over an existing file (a hard link fails rather than replace).
async fn keep(part: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    for n in 1..1000 {
        let candidate = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        match tokio::fs::hard_link(part, &candidate).await {
            Ok(()) => {
                tokio::fs::remove_file(part).await?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("999 files called {name} are there already"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_file_never_replaces_another() {
        let dir = tempfile::tempdir().unwrap();
        for (i, expected) in ["a.txt", "a (2).txt", "a (3).txt"].into_iter().enumerate() {
            let part = dir.path().join(format!(".{i}.part"));
            std::fs::write(&part, format!("{i}")).unwrap();
            let kept = keep(&part, dir.path(), "a.txt").await.unwrap();
            assert_eq!(kept, dir.path().join(expected));
            assert!(!part.exists());
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "0"
        );
    }
}
