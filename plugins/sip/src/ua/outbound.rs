//! RFC 5626 outbound: one flow to the registrar named by this device's
//! instance and a registration id, so that the registrar replaces the
//! binding when the flow changes (a restart, a NAT that rebound) instead
//! of adding one, and sends calls down the flow we opened.
//!
//! Every REGISTER's Contact carries `;reg-id=1;+sip.instance="<urn:uuid:…>"`
//! (§4.2). The instance is made once and kept in a state file, so it
//! survives restarts. When the registrar's 2xx names `outbound` in
//! `Require` or `Supported` (§4.2.1, §6), the flow is in use: dialogs
//! through the registrar get `;ob` in their Contact (§4.3). Without it,
//! the registrar is a plain one and nothing else changes. A registrar
//! that answers 439 (First Hop Lacks Outbound Support) or 421 is asked
//! again without the two parameters, and the log says so once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rsipstack::sip::param::{OtherParam, OtherParamValue};
use rsipstack::sip::{Header, Param, Response};
use serde::{Deserialize, Serialize};
use tandem_sdk::util::state_file::{self, StateFileError};

/// What the state file holds.
const WHAT: &str = "this device's SIP instance id";

/// Our one registration id: one flow, to one registrar (§4.2).
const REG_ID: &str = "1";

/// The state file's contents.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    /// `urn:uuid:…` (RFC 4122), made once.
    instance: String,
}

/// Where outbound stands with the registrar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Offered; no 2xx yet.
    Offered,
    /// The registrar's 2xx named `outbound`: the flow is ours.
    Used,
    /// The registrar's 2xx did not: a plain registrar, as before.
    NotSupported,
    /// Not offered: `outbound = false`, no instance id, or the registrar
    /// refused it (439, 421).
    Off,
}

/// This device's outbound state: its instance id and what the registrar
/// made of it.
#[derive(Debug)]
pub struct Outbound {
    /// `urn:uuid:…`, none when outbound is off.
    instance: Option<String>,
    support: Mutex<Support>,
}

impl Outbound {
    /// Outbound as the config says: with the instance kept at `path`
    /// (made and kept there the first time). A file that cannot be read
    /// or written still gives an instance for this run, with the problem
    /// to log: a restart then adds a binding, which the registrar lets
    /// expire.
    pub fn new(enabled: bool, path: Option<PathBuf>) -> (Outbound, Option<String>) {
        if !enabled {
            return (Outbound::off(), None);
        }
        let (instance, problem) = match path {
            Some(path) => match kept_instance(&path) {
                Ok(instance) => (instance, None),
                Err(e) => (new_instance(), Some(e.to_string())),
            },
            None => (
                new_instance(),
                Some(
                    "no folder to keep this device's SIP instance id in (neither \
                     XDG_STATE_HOME nor HOME is set): each start registers anew"
                        .to_owned(),
                ),
            ),
        };
        let support = if instance.is_some() {
            Support::Offered
        } else {
            Support::Off
        };
        (
            Outbound {
                instance,
                support: Mutex::new(support),
            },
            problem,
        )
    }

    pub fn off() -> Outbound {
        Outbound {
            instance: None,
            support: Mutex::new(Support::Off),
        }
    }

    /// The default place of the state file for `account`.
    pub fn default_path(account: &str) -> Option<PathBuf> {
        state_file::default_path("instance", account)
    }

    pub fn support(&self) -> Support {
        *self.support.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, support: Support) {
        *self.support.lock().unwrap_or_else(|e| e.into_inner()) = support;
    }

    /// Whether dialogs through the registrar use the flow (`;ob`).
    pub fn in_use(&self) -> bool {
        self.support() == Support::Used
    }

    /// The Contact parameters of a REGISTER: `reg-id` and `+sip.instance`,
    /// unless outbound is off.
    pub fn contact_params(&self) -> Vec<Param> {
        match (&self.instance, self.support()) {
            (_, Support::Off) | (None, _) => vec![],
            (Some(instance), _) => vec![
                Param::Other(
                    OtherParam::new("reg-id"),
                    Some(OtherParamValue::new(REG_ID)),
                ),
                Param::Other(
                    OtherParam::new("+sip.instance"),
                    Some(OtherParamValue::new(format!("\"<{instance}>\""))),
                ),
            ],
        }
    }

    /// Reads a REGISTER's 2xx: does the registrar do outbound?
    pub fn registered(&self, response: &Response) {
        if self.support() == Support::Off {
            return;
        }
        let now = if names_outbound(response) {
            Support::Used
        } else {
            Support::NotSupported
        };
        if self.support() != now {
            match now {
                Support::Used => log::info!(
                    "the registrar keeps our connection as this device's way in \
                     (RFC 5626 outbound): calls come back the way the registration went"
                ),
                _ => log::debug!("the registrar does not do RFC 5626 outbound"),
            }
        }
        self.set(now);
    }

    /// Whether a REGISTER refused with `code` should be sent again at
    /// once without outbound: 439 (the registrar's first hop cannot keep
    /// flows) or 421 (it wants an extension we did not name), while
    /// outbound is offered. Says so once.
    pub fn refused(&self, code: u16) -> bool {
        if !matches!(code, 439 | 421) || self.support() == Support::Off {
            return false;
        }
        self.set(Support::Off);
        log::warn!(
            "the registrar answered {code} to a registration that asked it to keep our \
             connection as this device's way in (RFC 5626 outbound): registering without it"
        );
        true
    }
}

/// Whether a 2xx names `outbound` in `Require` or `Supported`.
fn names_outbound(response: &Response) -> bool {
    response.headers.iter().any(|header| {
        let value = match header {
            Header::Require(h) => h.value(),
            Header::Supported(h) => h.value(),
            Header::Other(name, value)
                if name.eq_ignore_ascii_case("Require")
                    || name.eq_ignore_ascii_case("Supported")
                    || name.eq_ignore_ascii_case("k") =>
            {
                value.as_str()
            }
            _ => return false,
        };
        value
            .split(',')
            .any(|tag| tag.trim().eq_ignore_ascii_case("outbound"))
    })
}

/// The instance kept at `path`, made and kept there when there is none;
/// none when the operating system gives no random bytes.
fn kept_instance(path: &Path) -> Result<Option<String>, StateFileError> {
    if let Some(kept) = state_file::load::<Kept>(path, WHAT)? {
        if kept.instance.starts_with("urn:uuid:") {
            return Ok(Some(kept.instance));
        }
    }
    let Some(instance) = new_instance() else {
        return Ok(None);
    };
    state_file::save(
        path,
        WHAT,
        &Kept {
            instance: instance.clone(),
        },
    )?;
    Ok(Some(instance))
}

/// A random (version 4) UUID URN (RFC 4122 §4.4); none when the operating
/// system gives no random bytes.
fn new_instance() -> Option<String> {
    use rand::TryRng;
    let mut bytes = [0u8; 16];
    rand::rngs::SysRng.try_fill_bytes(&mut bytes).ok()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(extra: &str) -> Response {
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\n\
             CSeq: 1 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Response::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn the_instance_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join("state/tandem/instance-alice@example.org.json");
        let (first, problem) = Outbound::new(true, Some(path.clone()));
        assert!(problem.is_none(), "{problem:?}");
        let (again, _) = Outbound::new(true, Some(path));
        let instance = first.instance.clone().unwrap();
        assert_eq!(first.instance, again.instance);
        // RFC 4122 version 4: 8-4-4-4-12 hex digits, "4" and 8..b in place.
        let uuid = instance.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid}");
        assert_eq!(&uuid[14..15], "4", "{uuid}");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
        assert_ne!(new_instance(), new_instance());
    }

    #[test]
    fn a_register_contact_names_the_flow_unless_off() {
        let (outbound, _) = Outbound::new(true, None);
        let params: String = outbound
            .contact_params()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            params.starts_with(";reg-id=1;+sip.instance=\"<urn:uuid:"),
            "{params}"
        );
        assert!(params.ends_with(">\""), "{params}");
        assert!(Outbound::new(false, None).0.contact_params().is_empty());
        assert!(Outbound::off().contact_params().is_empty());
    }

    #[test]
    fn the_registrars_answer_says_whether_the_flow_is_used() {
        let (outbound, _) = Outbound::new(true, None);
        assert_eq!(outbound.support(), Support::Offered);
        outbound.registered(&answer("Require: outbound\r\n"));
        assert!(outbound.in_use());
        outbound.registered(&answer("Supported: path, Outbound\r\n"));
        assert!(outbound.in_use());
        outbound.registered(&answer("Supported: path\r\n"));
        assert_eq!(outbound.support(), Support::NotSupported);
        assert!(!outbound.in_use());
        // Still offered to a plain registrar: it may learn outbound later.
        assert!(!outbound.contact_params().is_empty());
    }

    #[test]
    fn a_439_or_421_turns_outbound_off_once() {
        let (outbound, _) = Outbound::new(true, None);
        assert!(!outbound.refused(403));
        assert!(outbound.refused(439));
        assert!(outbound.contact_params().is_empty());
        assert!(!outbound.refused(439), "asked again only once");
        outbound.registered(&answer("Require: outbound\r\n"));
        assert!(!outbound.in_use(), "off stays off");
        let (other, _) = Outbound::new(true, None);
        assert!(other.refused(421));
    }
}
