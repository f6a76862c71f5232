//! `tandem init`: a commented starting config at
//! `$XDG_CONFIG_HOME/tandem/tandem.toml` (where the systemd user unit reads
//! it), from the example that ships (`dist/tandem.toml.example`), with the
//! user's XMPP address and SIP account filled in. Passwords never go in
//! the TOML: each gets a file of its own beside it, mode 0600, created
//! empty for the user to fill when none was given. An existing config is
//! left alone unless `--force`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The example config, as installed in `share/tandem/tandem.toml.example`.
const EXAMPLE: &str = include_str!("../../dist/tandem.toml.example");

/// What goes into the config.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub jid: String,
    pub sip_user: String,
    /// None: calls reach this machine's address only.
    pub registrar: Option<String>,
    pub xmpp_password: Option<String>,
    pub sip_password: Option<String>,
}

/// Why no config was written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} exists already: not overwritten (--force replaces it)")]
    Exists(PathBuf),
    #[error("`{0}` is not an XMPP address such as alice@example.org")]
    BadJid(String),
    #[error("no config folder: neither XDG_CONFIG_HOME nor HOME is set (give --config)")]
    NoFolder,
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `$XDG_CONFIG_HOME/tandem/tandem.toml`, else `~/.config/tandem/tandem.toml`.
pub fn default_path() -> Result<PathBuf, InitError> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or(InitError::NoFolder)?;
    Ok(base.join("tandem/tandem.toml"))
}

/// The shipped rules' folder for this binary: `<prefix>/share/tandem/scripts`
/// when it is installed in `<prefix>/bin`, as the example names for /usr.
fn shipped_rules() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?;
    let dir = bin.parent()?.join("share/tandem/scripts");
    (bin.ends_with("bin") && dir.is_dir()).then_some(dir)
}

/// The example with `answers` filled in.
pub fn config_text(answers: &Answers, rules: Option<&Path>) -> String {
    let mut text = EXAMPLE
        .replace(
            "jid = \"alice@example.org\"",
            &format!("jid = {:?}", answers.jid),
        )
        .replace(
            "user = \"alice\"",
            &format!("user = {:?}", answers.sip_user),
        );
    text = match &answers.registrar {
        Some(registrar) => text.replace(
            "registrar = \"sip:sip.example.org\"",
            &format!("registrar = {registrar:?}"),
        ),
        None => text.replace(
            "registrar = \"sip:sip.example.org\"",
            "# registrar = \"sip:sip.example.org\"",
        ),
    };
    if let Some(rules) = rules {
        text = text.replace(
            "\"/usr/share/tandem/scripts\"",
            &format!("{:?}", rules.display().to_string()),
        );
    }
    text
}

/// Writes the config at `path` and the two password files beside it;
/// answers the files written.
pub fn write(path: &Path, answers: &Answers, force: bool) -> Result<Vec<PathBuf>, InitError> {
    if !answers.jid.contains('@') || answers.jid.contains(char::is_whitespace) {
        return Err(InitError::BadJid(answers.jid.clone()));
    }
    if path.exists() && !force {
        return Err(InitError::Exists(path.to_owned()));
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Write { path, source }
    };
    std::fs::create_dir_all(folder).map_err(failed(folder))?;
    let text = config_text(answers, shipped_rules().as_deref());
    private_file(path, text.as_bytes())?;
    let mut written = vec![path.to_owned()];
    for (name, secret) in [
        ("xmpp-password", &answers.xmpp_password),
        ("sip-password", &answers.sip_password),
    ] {
        let file = folder.join(name);
        // A password file already there is the user's: kept.
        if secret.is_none() && file.exists() {
            continue;
        }
        private_file(&file, secret.as_deref().unwrap_or_default().as_bytes())?;
        written.push(file);
    }
    Ok(written)
}

/// Writes `bytes` to `path`, readable by the owner only (0600) from the
/// first byte.
fn private_file(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    let failed = |source| InitError::Write {
        path: path.to_owned(),
        source,
    };
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    file.write_all(bytes).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_config_has_the_answers_and_no_secret_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tandem/tandem.toml");
        let answers = Answers {
            jid: "bob@example.net".into(),
            sip_user: "bob".into(),
            registrar: None,
            xmpp_password: Some("xmpp-secret".into()),
            sip_password: None,
        };
        let written = write(&path, &answers, false).unwrap();
        assert_eq!(written.len(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("jid = \"bob@example.net\""), "{text}");
        assert!(text.contains("user = \"bob\""), "{text}");
        assert!(text.contains("# registrar ="), "{text}");
        assert!(!text.contains("secret"), "{text}");
        for file in &written {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        let password = std::fs::read_to_string(dir.path().join("tandem/xmpp-password")).unwrap();
        assert_eq!(password, "xmpp-secret");
        assert!(matches!(
            write(&path, &answers, false),
            Err(InitError::Exists(_))
        ));
        assert!(write(&path, &answers, true).is_ok());
        let bad = Answers {
            jid: "nobody".into(),
            ..answers
        };
        assert!(matches!(
            write(&path, &bad, true),
            Err(InitError::BadJid(_))
        ));
    }
}
