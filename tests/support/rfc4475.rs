//! The RFC 4475 torture messages, byte for byte as the RFC's Appendix A
//! archive has them. They are not kept in this repository: they come from
//! crates.io, in the `sipx-testkit` crate (MIT or Apache-2.0), whose
//! `corpus/rfc4475/` holds the archive's 49 files recovered from the RFC
//! itself. The `.crate` file is pinned by version and SHA-256 and fetched
//! once per machine into `target/rfc4475/` (as the pjsua2 wheel is into
//! `target/test-venv/`); nothing of that crate is built or run.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const CRATE: &str = "sipx-testkit-1.0.0-beta.5";
const URL: &str = "https://static.crates.io/crates/sipx-testkit/sipx-testkit-1.0.0-beta.5.crate";
const SHA256: &str = "cbca4ae97e18949a95a9d0a42e673739e41e283ac50ecd587d36986c74474a67";

/// The folder of `<name>.dat` files. The first caller on this machine
/// fetches and checks the crate; others, in this process or another, wait
/// on a lock file and then reuse it. A folder left half-made by an
/// interrupted run is made again (the marker is written last).
pub fn corpus() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let root = crate::target_dir().parent().unwrap().join("rfc4475");
        std::fs::create_dir_all(&root).unwrap();
        let folder = root.join(CRATE);
        let marker = folder.join("tandem-sha256");
        let lock = std::fs::File::create(root.join("rfc4475.lock")).unwrap();
        // SAFETY: flock on a descriptor this function owns.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "cannot lock {}", root.display());
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(SHA256) {
            let _ = std::fs::remove_dir_all(&folder);
            std::fs::create_dir_all(&folder).unwrap();
            let file = root.join(format!("{CRATE}.crate"));
            crate::run_checked(
                Command::new("curl")
                    .args(["--silent", "--show-error", "--fail", "--location"])
                    .args(["--retry", "3", "--max-time", "60", "--output"])
                    .arg(&file)
                    .arg(URL),
                "curl: fetch the RFC 4475 messages from crates.io",
            );
            let sum = Command::new("sha256sum").arg(&file).output().unwrap();
            let sum = String::from_utf8_lossy(&sum.stdout);
            assert!(
                sum.starts_with(SHA256),
                "{URL} is not the pinned file (sha256 {sum}, wanted {SHA256})"
            );
            crate::run_checked(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&file)
                    .arg("-C")
                    .arg(&folder)
                    .arg("--strip-components=3")
                    .arg(format!("{CRATE}/corpus/rfc4475")),
                "tar: unpack the RFC 4475 messages",
            );
            let _ = std::fs::remove_file(&file);
            std::fs::write(&marker, SHA256).unwrap();
        }
        drop(lock);
        folder
    })
}

/// One message's bytes, by its RFC 4475 file name (`wsinv`, `intmeth`, …).
pub fn message(name: &str) -> Vec<u8> {
    let path = corpus().join(format!("{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
