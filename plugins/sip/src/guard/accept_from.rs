//! `accept_from`: whose INVITE and MESSAGE are taken at all.
//!
//! A request's From header is whatever its sender wrote: it proves nothing,
//! and a rule that picks up calls "from bob" would stream the microphone to
//! anyone who writes bob's address. The transport address a request came
//! from is the sender's own (over TCP and TLS it cannot be forged; over UDP
//! only from a network that lets its hosts spoof source addresses), so that
//! is what the plugin checks: requests from the registrar's addresses, or
//! from configured addresses and prefixes, or from anyone. The others get
//! 403 Forbidden before they become a call or an event.
//!
//! Requests inside a dialog are not checked: the dialog was accepted (or
//! placed by us) already, and a callee we called must be able to hang up.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rsipstack::resolver::SipResolver;
use rsipstack::sip::{Host, Uri};
use serde::Deserialize;
use tandem_sdk::tokio;
use tokio_util::sync::CancellationToken;

/// How often the registrar's name is looked up again (its DNS may move).
const REFRESH: Duration = Duration::from_secs(600);
/// How soon after a failed lookup.
const RETRY: Duration = Duration::from_secs(30);
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// `accept_from` as written: one word or a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AcceptFromSetting {
    One(String),
    List(Vec<String>),
}

/// Whom requests are taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptFrom {
    Anyone,
    /// The registrar's addresses (when `registrar`) and these prefixes.
    Only {
        registrar: bool,
        prefixes: Vec<Prefix>,
    },
}

/// An `accept_from` that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AcceptFromError {
    #[error(
        "accept_from entry {0:?} is not \"anyone\", \"registrar\", an IP address or a CIDR prefix (192.0.2.0/24)"
    )]
    Entry(String),
    #[error("accept_from names \"registrar\" but no registrar is configured")]
    NoRegistrar,
}

impl AcceptFrom {
    /// The policy `setting` asks for; unset, `"registrar"` when a registrar
    /// is configured (the service is who calls us) and `"anyone"` when not
    /// (peer-to-peer calls come from anywhere).
    pub fn from_setting(
        setting: Option<&AcceptFromSetting>,
        has_registrar: bool,
    ) -> Result<Self, AcceptFromError> {
        let entries: Vec<&str> = match setting {
            None if has_registrar => vec!["registrar"],
            None => return Ok(AcceptFrom::Anyone),
            Some(AcceptFromSetting::One(word)) if word.trim().eq_ignore_ascii_case("anyone") => {
                return Ok(AcceptFrom::Anyone)
            }
            Some(AcceptFromSetting::One(word)) => vec![word.as_str()],
            Some(AcceptFromSetting::List(list)) => list.iter().map(String::as_str).collect(),
        };
        let mut registrar = false;
        let mut prefixes = Vec::new();
        for entry in entries {
            if entry.trim().eq_ignore_ascii_case("registrar") {
                if !has_registrar {
                    return Err(AcceptFromError::NoRegistrar);
                }
                registrar = true;
            } else {
                let prefix = entry
                    .parse()
                    .map_err(|_| AcceptFromError::Entry(entry.to_owned()))?;
                prefixes.push(prefix);
            }
        }
        Ok(AcceptFrom::Only {
            registrar,
            prefixes,
        })
    }

    /// Whether a request from `ip` is taken, the registrar being at
    /// `registrar` now.
    pub fn admits(&self, ip: IpAddr, registrar: &[IpAddr]) -> bool {
        let ip = ip.to_canonical();
        match self {
            AcceptFrom::Anyone => true,
            AcceptFrom::Only {
                registrar: from_registrar,
                prefixes,
            } => {
                (*from_registrar && registrar.contains(&ip))
                    || prefixes.iter().any(|p| p.contains(ip))
            }
        }
    }

    fn uses_registrar(&self) -> bool {
        matches!(
            self,
            AcceptFrom::Only {
                registrar: true,
                ..
            }
        )
    }
}

/// An address or a CIDR prefix: `192.0.2.7`, `192.0.2.0/24`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl std::str::FromStr for Prefix {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (addr, len) = match text.trim().split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text.trim(), None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| ())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => len.parse::<u8>().map_err(|_| ())?,
            None => max,
        };
        (len <= max).then_some(Prefix { addr, len }).ok_or(())
    }
}

impl Prefix {
    /// Whether `ip` (canonical: an IPv4-mapped IPv6 address is IPv4) is in it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, width) = match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => (u32::from(net).into(), u32::from(ip).into(), 32),
            (IpAddr::V6(net), IpAddr::V6(ip)) => (u128::from(net), u128::from(ip), 128),
            _ => return false,
        };
        let len = u32::from(self.len);
        len == 0 || (net >> (width - len)) == (ip >> (width - len))
    }
}

/// `accept_from` at work: the policy and the registrar's addresses, looked
/// up again now and then when the registrar is a name.
pub struct Gate {
    policy: AcceptFrom,
    registrar: Option<Uri>,
    registrar_addrs: RwLock<Vec<IpAddr>>,
}

impl Gate {
    /// A registrar given by address is known at once; a name is looked up
    /// by [`Gate::keep_looked_up`], and until then nothing is taken from it.
    pub fn new(policy: AcceptFrom, registrar: Option<Uri>) -> Self {
        let known: Vec<IpAddr> = registrar
            .as_ref()
            .and_then(|r| crate::uri::host_ip(&r.host_with_port.host))
            .into_iter()
            .collect();
        Gate {
            policy,
            registrar,
            registrar_addrs: RwLock::new(known),
        }
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        let registrar = self
            .registrar_addrs
            .read()
            .unwrap_or_else(|e| e.into_inner());
        self.policy.admits(ip, &registrar)
    }

    /// Whether `ip` is the registrar's: a request from it passed the
    /// user's SIP service, which authenticates its users, so its From is
    /// vouched for; anyone else's From is whatever the sender wrote.
    pub fn is_registrar(&self, ip: IpAddr) -> bool {
        self.registrar_addrs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&ip.to_canonical())
    }

    /// Looks the registrar's name up as rsipstack does to reach it (RFC
    /// 3263: SRV, then A/AAAA), now and every [`REFRESH`], until `cancel`.
    pub async fn keep_looked_up(self: Arc<Self>, cancel: CancellationToken) {
        let Some(registrar) = self.registrar.clone() else {
            return;
        };
        // An address is known already (`new`); only a name is looked up.
        let Host::Domain(domain) = &registrar.host_with_port.host else {
            return;
        };
        if crate::uri::host_ip(&registrar.host_with_port.host).is_some() {
            return;
        }
        if !self.policy.uses_registrar() {
            return;
        }
        let resolver = SipResolver::new();
        let transport = crate::uri::transport_of(&registrar);
        let secure = registrar.scheme == Some(rsipstack::sip::Scheme::Sips);
        loop {
            let lookup = resolver.lookup(domain, registrar.host_with_port.port, transport, secure);
            let wait = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(targets)) => {
                    let mut addrs: Vec<IpAddr> =
                        targets.iter().map(|t| t.addr.ip().to_canonical()).collect();
                    addrs.sort();
                    addrs.dedup();
                    self.set_registrar_addrs(domain, addrs);
                    REFRESH
                }
                Ok(Err(e)) => {
                    log::warn!("cannot look up the registrar {domain}: {e}; requests from it are refused until it resolves");
                    RETRY
                }
                Err(_) => {
                    log::warn!("looking up the registrar {domain} took over {} s; requests from it are refused until it resolves", LOOKUP_TIMEOUT.as_secs());
                    RETRY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    fn set_registrar_addrs(&self, domain: &rsipstack::sip::Domain, addrs: Vec<IpAddr>) {
        let mut known = self
            .registrar_addrs
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if *known != addrs {
            let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            log::info!(
                "taking calls and messages from the registrar {domain} at {}",
                list.join(", ")
            );
            *known = addrs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn policy(setting: &str, has_registrar: bool) -> Result<AcceptFrom, AcceptFromError> {
        let setting: AcceptFromSetting = serde_json::from_str(setting).unwrap();
        AcceptFrom::from_setting(Some(&setting), has_registrar)
    }

    #[test]
    fn unset_it_is_the_registrar_when_there_is_one_and_anyone_when_not() {
        assert_eq!(
            AcceptFrom::from_setting(None, false),
            Ok(AcceptFrom::Anyone)
        );
        let service = AcceptFrom::from_setting(None, true).unwrap();
        let registrar = [ip("192.0.2.1")];
        assert!(service.admits(ip("192.0.2.1"), &registrar));
        assert!(!service.admits(ip("192.0.2.2"), &registrar));
        assert!(!service.admits(ip("127.0.0.1"), &registrar));
        // An IPv4 source seen on a dual-stack socket is the same address.
        assert!(service.admits(ip("::ffff:192.0.2.1"), &registrar));
    }

    #[test]
    fn a_list_takes_addresses_prefixes_and_the_registrar() {
        let list = policy(
            r#"["registrar", "10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]"#,
            true,
        )
        .unwrap();
        let registrar = [ip("198.51.100.1")];
        for taken in [
            "198.51.100.1",
            "10.1.2.3",
            "2001:db8:1::5",
            "192.0.2.7",
            "::ffff:10.0.0.1",
        ] {
            assert!(list.admits(ip(taken), &registrar), "{taken}");
        }
        for refused in ["11.0.0.1", "192.0.2.8", "2001:db9::1", "198.51.100.2"] {
            assert!(!list.admits(ip(refused), &registrar), "{refused}");
        }
        let everyone = policy(r#""anyone""#, true).unwrap();
        assert!(everyone.admits(ip("203.0.113.9"), &[]));
        let nobody = policy("[]", false).unwrap();
        assert!(!nobody.admits(ip("127.0.0.1"), &[]));
        let all_v4 = policy(r#""0.0.0.0/0""#, false).unwrap();
        assert!(all_v4.admits(ip("203.0.113.9"), &[]));
        assert!(!all_v4.admits(ip("2001:db8::1"), &[]));
    }

    #[test]
    fn what_cannot_work_is_named() {
        assert_eq!(
            policy(r#""registrar""#, false),
            Err(AcceptFromError::NoRegistrar)
        );
        for bad in [
            r#""sip.example.org""#,
            r#"["10.0.0.0/33"]"#,
            r#"["::/129"]"#,
            r#"["10.0.0.1/x"]"#,
            r#"["anyone"]"#,
        ] {
            let err = policy(bad, true).unwrap_err();
            assert!(matches!(err, AcceptFromError::Entry(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn a_registrar_given_by_address_is_known_at_once() {
        let registrar = crate::uri::parse_target("sip:192.0.2.1:5070").unwrap();
        let gate = Gate::new(
            AcceptFrom::from_setting(None, true).unwrap(),
            Some(registrar),
        );
        assert!(gate.admits(ip("192.0.2.1")));
        assert!(!gate.admits(ip("192.0.2.2")));
        let named = crate::uri::parse_target("sip:sip.example.org").unwrap();
        let gate = Gate::new(AcceptFrom::from_setting(None, true).unwrap(), Some(named));
        assert!(!gate.admits(ip("192.0.2.1")), "nothing until looked up");
    }
}
