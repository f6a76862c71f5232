//! Transfers a stopped Tandem left half-done: each download under way has
//! a small record beside its part file (`.<id>.meta`: who sent what), so
//! that the next start can tell the user which file was cut off instead
//! of silently forgetting it, and remove what was half-written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tandem_sdk::events::file_transfer::Failed;
use tandem_sdk::Host;

/// What the next start needs to say what was lost.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub peer: String,
    pub name: String,
}

/// `<dir>/.<id>.meta`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(".{id}.meta"))
}

/// Notes that transfer `id` is under way (best effort: without the record
/// the part file is still removed at the next start, only not reported).
pub async fn begin(dir: &Path, id: &str, record: &Record) {
    if let Ok(text) = tandem_sdk::serde_json::to_vec(record) {
        let _ = tokio::fs::write(path(dir, id), text).await;
    }
}

/// The transfer ended, whichever way.
pub async fn end(dir: &Path, id: &str) {
    let _ = tokio::fs::remove_file(path(dir, id)).await;
}

/// At start: removes the part files and records a previous run left, and
/// answers a `file_transfer.failed` for each transfer it can name.
pub fn collect(host: &Host, dir: &Path) -> Vec<Failed> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut failed = Vec::new();
    for entry in read.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(id) = file.strip_prefix('.') else {
            continue;
        };
        if let Some(id) = id.strip_suffix(".meta") {
            let record = std::fs::read(entry.path())
                .ok()
                .and_then(|t| tandem_sdk::serde_json::from_slice::<Record>(&t).ok());
            let _ = std::fs::remove_file(entry.path());
            if let Some(record) = record {
                failed.push(Failed {
                    id: id.to_owned(),
                    peer: record.peer,
                    name: record.name,
                    reason: "Tandem stopped while the file was being fetched; ask the sender to send it again".into(),
                });
            }
        } else if id.ends_with(".part") && std::fs::remove_file(entry.path()).is_ok() {
            host.warn(&format!(
                "removed {}, left by a transfer that was cut off when Tandem stopped",
                entry.path().display()
            ));
        }
    }
    failed
}
