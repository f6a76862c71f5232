//! Reload on change: an inotify watch on the script folders (no polling).

use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher};

/// Watches `dirs` and calls `changed` with each `.lua` file that was
/// created, modified, renamed or removed. Dropping the watcher stops it.
pub fn watch_scripts(
    dirs: &[PathBuf],
    changed: impl Fn(PathBuf) + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let Ok(event) = result else { return };
        if event.kind.is_access() {
            return;
        }
        for path in event.paths {
            if is_script(&path) {
                changed(path);
            }
        }
    })?;
    for dir in dirs {
        if dir.is_dir() {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(watcher)
}

/// `.lua` files, not editor droppings (`.#x.lua`, `x.lua~`, swap files).
pub fn is_script(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with(".lua") && !name.starts_with('.')
}

/// The scripts in `dirs`, sorted by path within each folder, each once.
pub fn script_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    crate::folders::files_in(dirs, is_script)
}
