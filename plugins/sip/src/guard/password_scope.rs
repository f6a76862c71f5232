//! Where the SIP password may go: the user's own SIP service, nowhere else.
//!
//! rsipstack answers a 401 or 407 with the credential its request carries,
//! and Tandem sends INVITE and MESSAGE straight to the callee's host (there
//! is no outbound proxy). With the credential on every request, any callee
//! (a URI a stranger publishes) could challenge and take home a digest of
//! the registrar password to crack offline. So a request carries it only
//! when its target is the service: the registrar's host (and port, when
//! the registrar URI names one), or the domain of the user's own address
//! (`domain`), which is the service's by definition. Every other callee
//! that challenges fails the call or the MESSAGE, and says why.
//!
//! What the scope cannot see: an in-dialog request (a BYE, a re-INVITE for
//! hold) of a call placed through the service goes where the callee's
//! Contact says, and rsipstack answers a challenge to it with the dialog's
//! credential. A service that is a B2BUA or records the route keeps those
//! requests on itself.

use std::fmt;
use std::net::IpAddr;

use rsipstack::sip::{Host, HostWithPort, Uri};

use crate::uri::{host_ip, transport_of};

/// The hosts the password may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordScope {
    hosts: Vec<ServiceHost>,
}

/// One host of the service, with the port its URI named, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServiceHost {
    host: HostKey,
    port: Option<u16>,
    /// As configured, for the person reading why a call failed.
    written: String,
}

/// A host as compared: an address, or a name in lower case without the
/// trailing dot of a fully qualified name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostKey {
    Ip(IpAddr),
    Name(String),
}

impl HostKey {
    fn of(host: &Host) -> Self {
        match host_ip(host) {
            Some(ip) => HostKey::Ip(ip),
            None => HostKey::Name(host.to_string().trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

impl PasswordScope {
    /// The registrar's host and, when set, the `domain` of our own address
    /// (`example.org` beside a registrar at `sip.example.org`).
    pub fn new(registrar: &Uri, registrar_written: &str, domain: &str) -> Self {
        let mut hosts = vec![ServiceHost::of(
            &registrar.host_with_port,
            registrar_written.trim(),
        )];
        if let Ok(domain_host) = HostWithPort::try_from(domain) {
            let host = ServiceHost::of(&domain_host, domain.trim());
            if !domain.trim().is_empty() && !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        PasswordScope { hosts }
    }

    /// Whether a request to `target` may carry the credential: its host is
    /// one of the service's, on the port the service named, if it named one
    /// (a target without a port means the default port of its transport).
    pub fn covers(&self, target: &Uri) -> bool {
        let host = HostKey::of(&target.host_with_port.host);
        let port = target
            .host_with_port
            .port
            .map(u16::from)
            .unwrap_or_else(|| default_port(target));
        self.hosts
            .iter()
            .any(|service| service.host == host && service.port.is_none_or(|p| p == port))
    }
}

impl ServiceHost {
    fn of(host_with_port: &HostWithPort, written: &str) -> Self {
        ServiceHost {
            host: HostKey::of(&host_with_port.host),
            port: host_with_port.port.map(u16::from),
            written: written.to_owned(),
        }
    }
}

/// 5061 for TLS (RFC 3261 §19.1.2), 5060 otherwise.
fn default_port(uri: &Uri) -> u16 {
    match transport_of(uri) {
        Some(rsipstack::sip::transport::Transport::Tls) => 5061,
        _ => 5060,
    }
}

/// `sip:sip.example.org and example.org`: where the password goes.
impl fmt::Display for PasswordScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written: Vec<&str> = self.hosts.iter().map(|h| h.written.as_str()).collect();
        f.write_str(&written.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::parse_target;

    fn scope(registrar: &str, domain: &str) -> PasswordScope {
        PasswordScope::new(&parse_target(registrar).unwrap(), registrar, domain)
    }

    fn covers(scope: &PasswordScope, target: &str) -> bool {
        scope.covers(&parse_target(target).unwrap())
    }

    #[test]
    fn a_callee_elsewhere_never_gets_the_password() {
        let service = scope("sip:sip.example.org", "example.org");
        for stranger in [
            "sip:mallory@evil.example.com",
            "sip:bob@sip.example.org.evil.example.com",
            "sip:bob@192.0.2.66",
            "sip:sip.example.org@evil.example.com",
            "sip:bob@evil.example.com;maddr=sip.example.org",
        ] {
            assert!(!covers(&service, stranger), "{stranger}");
        }
    }

    #[test]
    fn the_registrar_and_the_users_domain_get_it() {
        let service = scope("sip:sip.example.org", "example.org");
        for own in [
            "sip:bob@sip.example.org",
            "sip:bob@SIP.Example.ORG.",
            "sips:bob@sip.example.org:5061",
            "sip:bob@example.org",
            "sip:+4930123@example.org;user=phone",
        ] {
            assert!(covers(&service, own), "{own}");
        }
        assert_eq!(service.to_string(), "sip:sip.example.org and example.org");
    }

    #[test]
    fn a_registrar_port_is_the_only_one_on_its_host() {
        // On loopback many peers share the registrar's address.
        let service = scope("sip:127.0.0.1:5070", "");
        assert!(covers(&service, "sip:bob@127.0.0.1:5070"));
        assert!(!covers(&service, "sip:bob@127.0.0.1:5080"));
        assert!(!covers(&service, "sip:bob@127.0.0.1"));
        let default_port = scope("sip:192.0.2.1:5060", "");
        assert!(covers(&default_port, "sip:bob@192.0.2.1"));
        assert!(!covers(&default_port, "sips:bob@192.0.2.1"), "5061");
        assert_eq!(service.to_string(), "sip:127.0.0.1:5070");
    }

    #[test]
    fn addresses_compare_as_addresses() {
        let service = scope("sip:[2001:db8::1]:5060", "");
        assert!(covers(&service, "sip:bob@[2001:DB8:0::1]"));
        assert!(!covers(&service, "sip:bob@[2001:db8::2]"));
    }
}
