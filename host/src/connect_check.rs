//! `tandem check --connect`: logs in to the XMPP server once with the
//! config, as `tandem run` would, and says in plain words what happened and
//! which certificate the server showed, in the form `pin_sha256` takes, so
//! that the user of a self-signed server can pin it (as Profanity's
//! `/tls trust` does).
//!
//! The host knows no XMPP: it starts the XMPP plugin alone (no other plugin,
//! no rule) and reads `xmpp.status` until it is online, refused, or stuck
//! on the certificate. A refused login is not tried again (`auth_tries =
//! 1` for this run): the check must not get the user's address banned by
//! the server's login limits. No value from the config is printed.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};
use tandem_sdk::commands::xmpp::Status;
use tandem_sdk::Payload;

use crate::config::Config;
use crate::daemon::Daemon;

/// The plugin section tried.
const SECTION: &str = "xmpp";

/// What the one login came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Logged in and bound as `jid`.
    Online { jid: String },
    /// The server refused the login (the reason as the plugin words it).
    Refused { reason: String },
    /// The server's certificate was not trusted.
    Untrusted { reason: String },
    /// Nothing came of it within the time given.
    NotReached { waited: Duration },
}

/// The outcome and the certificate the server showed, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Tried {
    pub outcome: Outcome,
    pub certificate: Option<String>,
}

/// Why the connection could not even be tried.
#[derive(Debug, thiserror::Error)]
pub enum ConnectCheckError {
    #[error("{0}: there is no [plugins.xmpp] section to connect with")]
    NoSection(String),
    #[error("the XMPP plugin was not found in the plugin folders, or did not start: {0}")]
    NoPlugin(String),
    #[error("could not start: {0}")]
    Start(#[from] std::io::Error),
}

/// `config` for the one try: the XMPP plugin alone, no rules, one login,
/// no account created.
fn for_one_login(config: &Config) -> Config {
    let mut config = config.clone();
    config.host.script_dirs.clear();
    let discovery = crate::plugins::discover(&crate::daemon::plugin_dirs(&config));
    for library in &discovery.loaded {
        let section = &library.manifest.config_section;
        if section != SECTION && !config.disabled_plugins.contains(section) {
            config.disabled_plugins.push(section.clone());
        }
    }
    if let Some(section) = config.plugins.get_mut(SECTION) {
        section.insert("auth_tries".into(), json!(1));
        // A check looks and changes nothing: the bridge account it cannot
        // log into is reported, not created (`tandem run` may create it).
        section.insert("bridge_register".into(), json!(false));
    }
    config
}

/// Logs in once with `config`'s `[plugins.xmpp]`, waiting at most `wait`.
pub fn try_login(config: &Config, wait: Duration) -> Result<Tried, ConnectCheckError> {
    let file = config
        .file
        .as_ref()
        .map_or("the config".to_owned(), |f| f.display().to_string());
    if !config.plugins.contains_key(SECTION) || config.disabled_plugins.iter().any(|s| s == SECTION)
    {
        return Err(ConnectCheckError::NoSection(file));
    }
    let config = for_one_login(config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (daemon, report) = Daemon::start(&config)?;
    if !report.plugins.iter().any(|(id, _)| id == SECTION) {
        daemon.shutdown();
        return Err(ConnectCheckError::NoPlugin(
            report.plugin_failures.join("; "),
        ));
    }
    let started = Instant::now();
    let tried = runtime.block_on(async {
        loop {
            let status = status(&daemon).await;
            let certificate = status.certificate_sha256.clone();
            let outcome = match (status.state.as_str(), status.reason, status.jid) {
                ("online", _, Some(jid)) => Some(Outcome::Online { jid }),
                ("auth_failed", reason, _) => Some(Outcome::Refused {
                    reason: reason.unwrap_or_default(),
                }),
                (_, Some(reason), _) => Some(Outcome::Untrusted { reason }),
                _ if started.elapsed() >= wait => Some(Outcome::NotReached { waited: wait }),
                _ => None,
            };
            if let Some(outcome) = outcome {
                return Tried {
                    outcome,
                    certificate,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    daemon.shutdown();
    Ok(tried)
}

async fn status(daemon: &Daemon) -> Status {
    let answer = crate::bus::call(
        &daemon.bus,
        "xmpp.status",
        Payload::from(json!({})),
        Duration::from_secs(2),
    )
    .await;
    answer
        .ok()
        .and_then(|p| p.decode::<Value>().ok())
        .and_then(|v| Status::deserialize(v).ok())
        .unwrap_or_default()
}

/// The lines `tandem check --connect` prints: (is it an error, text).
pub fn describe(tried: &Tried) -> Vec<(bool, String)> {
    let mut lines = match &tried.outcome {
        Outcome::Online { jid } => vec![(false, format!("logged in to the XMPP server as {jid}"))],
        Outcome::Refused { reason } => vec![(true, format!("the XMPP server refused the login ({reason}); it was tried once only"))],
        Outcome::Untrusted { reason } => vec![(true, reason.clone())],
        Outcome::NotReached { waited } => vec![(
            true,
            format!(
                "no answer from the XMPP server in {} s: check the server's address (jid, host, port) and that it runs (the log lines above say what failed)",
                waited.as_secs()
            ),
        )],
    };
    if let Some(certificate) = &tried.certificate {
        let trusted = matches!(
            tried.outcome,
            Outcome::Online { .. } | Outcome::Refused { .. }
        );
        lines.push((
            false,
            format!(
                "the server's certificate has SHA-256 {certificate}{}",
                if trusted {
                    " (trusted)".to_owned()
                } else {
                    format!("; if that is the server's own (check it on the server), pin_sha256 = \"{certificate}\" in [plugins.xmpp] trusts exactly it")
                }
            ),
        ));
    }
    lines
}

/// Wraps [`try_login`] for the CLI: loads `config_file` first.
pub fn check_connect(config_file: &Path, wait: Duration) -> Result<Tried, String> {
    let config = Config::load(config_file).map_err(|e| e.to_string())?;
    try_login(&config, wait).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_try_logs_in_once_and_creates_no_account() {
        let mut config = Config::defaults();
        config.host.plugin_dirs.clear();
        let mut xmpp = serde_json::Map::new();
        xmpp.insert("bridge_register".into(), json!(true));
        xmpp.insert("auth_tries".into(), json!(5));
        config.plugins.insert(SECTION.into(), xmpp);
        let once = for_one_login(&config);
        assert_eq!(once.plugins[SECTION]["bridge_register"], json!(false));
        assert_eq!(once.plugins[SECTION]["auth_tries"], json!(1));
        assert!(once.host.script_dirs.is_empty());
    }

    #[test]
    fn each_outcome_reads_in_plain_words_with_the_pin_when_untrusted() {
        let fp = "AB:CD".to_owned();
        let online = describe(&Tried {
            outcome: Outcome::Online {
                jid: "alice@example.org/tandem".into(),
            },
            certificate: Some(fp.clone()),
        });
        assert_eq!(
            online[0],
            (
                false,
                "logged in to the XMPP server as alice@example.org/tandem".into()
            )
        );
        assert!(online[1].1.ends_with("AB:CD (trusted)"), "{online:?}");
        let untrusted = describe(&Tried {
            outcome: Outcome::Untrusted {
                reason: "the server's certificate for example.org has expired".into(),
            },
            certificate: Some(fp),
        });
        assert!(untrusted[0].0);
        assert!(
            untrusted[1].1.contains("pin_sha256 = \"AB:CD\""),
            "{untrusted:?}"
        );
        let refused = describe(&Tried {
            outcome: Outcome::Refused {
                reason: "not-authorized".into(),
            },
            certificate: None,
        });
        assert_eq!(refused.len(), 1);
        assert!(refused[0].1.contains("tried once only"), "{refused:?}");
    }
}
