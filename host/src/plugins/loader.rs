//! Finding plugin libraries and opening them safely.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RErr, ROk};
use tandem_sdk::abi::__private::{AbiHeaderRef, LibraryError, RawLibrary};
use tandem_sdk::abi::{PluginModuleRef, PLUGIN_SYMBOL, PLUGIN_SYMBOL_WITH_NUL};
use tandem_sdk::{Manifest, SDK_VERSION};

/// A plugin library, opened and checked, not yet started.
pub struct PluginLibrary {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub(super) module: PluginModuleRef,
}

/// Why a file is not a usable plugin. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot open the library: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("{path}: not a Tandem plugin (no `{PLUGIN_SYMBOL}` symbol)")]
    NotAPlugin { path: PathBuf },
    #[error("{path}: built for Tandem SDK {plugin_sdk}, this host has SDK {host_sdk}; rebuild the plugin against SDK {host_sdk}")]
    IncompatibleSdk {
        path: PathBuf,
        plugin_sdk: String,
        host_sdk: String,
    },
    #[error(
        "{path}: its ABI does not match this host's (same SDK version, different layout): {detail}"
    )]
    Abi { path: PathBuf, detail: String },
    #[error("{path}: the plugin failed to describe itself: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("{path}: plugin id `{id}` is already loaded from {other}")]
    DuplicateId {
        path: PathBuf,
        id: String,
        other: PathBuf,
    },
}

/// A file that could not be loaded, and why.
#[derive(Debug)]
pub struct LoadFailure {
    pub path: PathBuf,
    pub error: LoadError,
}

/// What a scan of the plugin folders found.
#[derive(Default)]
pub struct Discovery {
    pub loaded: Vec<PluginLibrary>,
    pub failed: Vec<LoadFailure>,
}

/// The default plugin folders: next to the binary (a build's
/// `target/release`), `<prefix>/lib/tandem/plugins` for a binary installed
/// in `<prefix>/bin` (tools/install, the Debian package), then
/// `$XDG_DATA_HOME/tandem/plugins` (or `~/.local/share/tandem/plugins`).
pub fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        let installed = exe_dir
            .parent()
            .filter(|_| exe_dir.ends_with("bin"))
            .map(|prefix| prefix.join("lib/tandem/plugins"));
        dirs.push(exe_dir);
        dirs.extend(installed);
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(data_home) = data_home {
        dirs.push(data_home.join("tandem/plugins"));
    }
    dirs
}

/// Shared-library files in `dirs` (not recursive), in a stable order, each once.
pub fn library_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let suffix = std::env::consts::DLL_SUFFIX;
    crate::folders::files_in(dirs, |p| p.to_string_lossy().ends_with(suffix))
}

/// Loads every library in `dirs`; failures are collected, never fatal.
pub fn discover(dirs: &[PathBuf]) -> Discovery {
    let mut discovery = Discovery::default();
    let mut ids: HashMap<String, PathBuf> = HashMap::new();
    for path in library_files(dirs) {
        match load(&path) {
            Ok(library) => {
                if let Some(other) = ids.get(&library.manifest.id) {
                    discovery.failed.push(LoadFailure {
                        error: LoadError::DuplicateId {
                            path: path.clone(),
                            id: library.manifest.id.clone(),
                            other: other.clone(),
                        },
                        path,
                    });
                    continue;
                }
                ids.insert(library.manifest.id.clone(), path);
                discovery.loaded.push(library);
            }
            Err(error) => discovery.failed.push(LoadFailure { path, error }),
        }
    }
    discovery
}

/// Opens one library and checks that it is a compatible Tandem plugin.
pub fn load(path: &Path) -> Result<PluginLibrary, LoadError> {
    let open_error = |detail: String| LoadError::Open {
        path: path.to_owned(),
        detail,
    };
    let raw = RawLibrary::load_at(path).map_err(|e| open_error(open_error_text(path, &e)))?;
    // SAFETY: the symbol is the `LibHeader` static that `export_plugin!`
    // defines; the header's own checks (magic, abi_stable version, C ABI)
    // run in `upgrade` before anything else is read.
    let header = unsafe { raw.get::<AbiHeaderRef>(PLUGIN_SYMBOL_WITH_NUL.as_bytes()) }
        .map(|symbol| *symbol)
        .map_err(|_| LoadError::NotAPlugin {
            path: path.to_owned(),
        })?;
    // Libraries are never unloaded: what they hand out must stay valid.
    std::mem::forget(raw);
    let header = header.upgrade().map_err(|e| LoadError::Abi {
        path: path.to_owned(),
        detail: library_error_text(&e),
    })?;

    let plugin_sdk = header.version_strings().version.as_str().to_owned();
    if !sdk_compatible(SDK_VERSION, &plugin_sdk) {
        return Err(LoadError::IncompatibleSdk {
            path: path.to_owned(),
            plugin_sdk,
            host_sdk: SDK_VERSION.to_owned(),
        });
    }
    let module = header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| LoadError::Abi {
            path: path.to_owned(),
            detail: library_error_text(&e),
        })?;
    let manifest_json = match (module.manifest())() {
        ROk(json) => json.into_string(),
        RErr(e) => {
            return Err(LoadError::Manifest {
                path: path.to_owned(),
                detail: e.into_string(),
            })
        }
    };
    let manifest: Manifest =
        serde_json::from_str(&manifest_json).map_err(|e| LoadError::Manifest {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if manifest.id.is_empty() {
        return Err(LoadError::Manifest {
            path: path.to_owned(),
            detail: "the manifest has an empty id".to_owned(),
        });
    }
    Ok(PluginLibrary {
        path: path.to_owned(),
        manifest,
        module,
    })
}

/// SDK compatibility, stricter than `abi_stable`'s own check: 0.x versions
/// must share the minor version; from 1.0 the major must match and the
/// plugin's SDK must not be newer than the host's (it may use API the host
/// lacks).
pub fn sdk_compatible(host: &str, plugin: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split(['.', '-', '+']);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (parse(host), parse(plugin)) {
        (Some((0, host_minor)), Some((0, plugin_minor))) => host_minor == plugin_minor,
        (Some((host_major, host_minor)), Some((plugin_major, plugin_minor))) => {
            host_major == plugin_major && host_major > 0 && plugin_minor <= host_minor
        }
        _ => false,
    }
}

/// Why the system loader refused the file, without the path (the error
/// names it already), as `dlopen` says it: "file too short", "invalid ELF
/// header", a missing dependency.
fn open_error_text(path: &Path, error: &LibraryError) -> String {
    match error {
        LibraryError::OpenError { err, .. } => {
            let text = err.to_string();
            let prefix = format!("{}: ", path.display());
            text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
        }
        other => library_error_text(other),
    }
}

/// `abi_stable`'s layout errors run to pages; the first lines say enough.
fn library_error_text(error: &LibraryError) -> String {
    let text = error.to_string();
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect();
    if text.lines().count() > 6 {
        lines.push("...");
    }
    lines.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_compatibility_rules() {
        assert!(sdk_compatible("0.1.0", "0.1.0"));
        assert!(sdk_compatible("0.1.3", "0.1.0"));
        assert!(sdk_compatible("0.1.0", "0.1.7"));
        assert!(!sdk_compatible("0.1.0", "0.2.0"));
        assert!(!sdk_compatible("0.2.0", "0.1.0"));
        assert!(sdk_compatible("1.4.0", "1.2.9"));
        assert!(!sdk_compatible("1.2.0", "1.4.0"));
        assert!(!sdk_compatible("1.0.0", "2.0.0"));
        assert!(!sdk_compatible("0.1.0", "garbage"));
    }

    #[test]
    fn a_text_file_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(format!("libfake{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&path, "not a library").unwrap();
        let err = load(&path).err().unwrap();
        assert!(matches!(err, LoadError::Open { .. }), "{err}");
        let text = err.to_string();
        // The path once, then dlopen's reason.
        assert_eq!(text.matches("libfake").count(), 1, "{text}");
        assert!(text.contains("cannot open the library: "), "{text}");
        assert!(
            text.contains("file too short") || text.contains("header"),
            "{text}"
        );
    }

    #[test]
    fn only_library_files_are_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let suffix = std::env::consts::DLL_SUFFIX;
        std::fs::write(dir.path().join(format!("b{suffix}")), "").unwrap();
        std::fs::write(dir.path().join(format!("a{suffix}")), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let dirs = vec![dir.path().to_owned(), dir.path().to_owned()];
        let files = library_files(&dirs);
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("a{suffix}"), format!("b{suffix}")]);
    }
}
