//! Listing the files of configured folders (plugin folders, script folders).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The files directly in `dirs` (not recursive) that `keep` accepts: folders
/// in the given order, files sorted within each, every file once even when
/// folders overlap. A folder that cannot be read is skipped.
pub fn files_in(dirs: &[PathBuf], keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && keep(p))
            .collect();
        here.sort();
        for path in here {
            let key = path.canonicalize().unwrap_or_else(|_| path.clone());
            if seen.insert(key) {
                files.push(path);
            }
        }
    }
    files
}
