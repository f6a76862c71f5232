//! `listen`: one address (`"0.0.0.0:5060"`, `"[::1]:5060"`), as it always
//! was, or a list of one address per family (`["0.0.0.0:5060",
//! "[::]:5060"]`, or `"0.0.0.0:5060, [::]:5060"` where only a string can
//! be written, an environment variable), so one Tandem is reached over
//! IPv4 and IPv6 at once (decision 0075). Each peer is then answered from,
//! and told, the address of its own family.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

/// Where SIP listens: one address, or one per family (IPv4 first when both
/// are given, whatever the order written: the first is the default for
/// anything that names no peer).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Written")]
pub struct Listen(Vec<SocketAddr>);

/// What the config may say: a string or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    One(String),
    Many(Vec<String>),
}

/// A `listen` list that cannot be bound as one dual-stack listener.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error("listen {0:?} is not an address and port such as \"0.0.0.0:5060\" or \"[::1]:5060\"")]
    Address(String),
    #[error("listen is an empty list: name an address such as \"0.0.0.0:5060\"")]
    Empty,
    #[error(
        "listen names two {family} addresses ({first} and {second}): give at most one \
         IPv4 and one IPv6 address (a wildcard such as \"0.0.0.0:5060\" or \"[::]:5060\" \
         takes every address of its family)"
    )]
    SameFamily {
        family: &'static str,
        first: SocketAddr,
        second: SocketAddr,
    },
}

impl TryFrom<Written> for Listen {
    type Error = ListenError;

    fn try_from(written: Written) -> Result<Self, Self::Error> {
        let parse = |text: String| text.parse().map_err(|_| ListenError::Address(text));
        match written {
            // The list written as one string, as an environment variable
            // (`TANDEM_PLUGINS__SIP__LISTEN`) can only say it.
            Written::One(addrs) if addrs.contains(',') => {
                let addrs = addrs.split(',').map(|a| a.trim().to_owned());
                Listen::both(addrs.map(parse).collect::<Result<_, _>>()?)
            }
            Written::One(addr) => Ok(Listen::one(parse(addr)?)),
            Written::Many(addrs) => {
                Listen::both(addrs.into_iter().map(parse).collect::<Result<_, _>>()?)
            }
        }
    }
}

impl Listen {
    /// One address, exactly as `listen = "…"` always meant.
    pub fn one(addr: SocketAddr) -> Listen {
        Listen(vec![addr])
    }

    /// One address per family, IPv4 first.
    pub fn both(mut addrs: Vec<SocketAddr>) -> Result<Listen, ListenError> {
        addrs.sort_by_key(|a| a.is_ipv6());
        match addrs.as_slice() {
            [] => Err(ListenError::Empty),
            [first, second, ..] if first.is_ipv6() == second.is_ipv6() => {
                Err(ListenError::SameFamily {
                    family: family(first.ip()),
                    first: *first,
                    second: *second,
                })
            }
            [_, _, third, ..] => Err(ListenError::SameFamily {
                family: family(third.ip()),
                first: addrs[usize::from(third.is_ipv6())],
                second: *third,
            }),
            _ => Ok(Listen(addrs)),
        }
    }

    /// The first address: the one for anything that names no peer.
    pub fn first(&self) -> SocketAddr {
        self.0[0]
    }

    /// Every address, IPv4 first.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.0
    }

    /// Whether both families are listened on, each on its own socket.
    pub fn is_dual(&self) -> bool {
        self.0.len() > 1
    }

    /// The address of `peer`'s family (an IPv4-mapped IPv6 address counts
    /// as IPv4), else the first: a peer of a family we do not listen on is
    /// answered as it always was.
    pub fn toward(&self, peer: Option<IpAddr>) -> SocketAddr {
        peer.and_then(|p| {
            let v6 = p.to_canonical().is_ipv6();
            self.0.iter().find(|a| a.is_ipv6() == v6).copied()
        })
        .unwrap_or(self.0[0])
    }

    /// Every address with its port changed to `port`.
    pub fn with_port(&self, port: u16) -> Listen {
        Listen(
            self.0
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect(),
        )
    }
}

/// The family's name as a person reads it.
pub fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&written.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Listen, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn one_address_means_what_it_always_meant() {
        let listen = parse(r#""[::1]:5060""#).unwrap();
        assert_eq!(listen.addrs(), ["[::1]:5060".parse().unwrap()]);
        assert!(!listen.is_dual());
        // A peer of the other family is told the one address there is.
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(listen.toward(Some(v4)), listen.first());
    }

    #[test]
    fn a_list_gives_each_family_its_own_address_ipv4_first() {
        let listen = parse(r#"["[::1]:5060", "127.0.0.1:5060"]"#).unwrap();
        assert!(listen.is_dual());
        assert_eq!(listen.first(), "127.0.0.1:5060".parse().unwrap());
        let v6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(listen.toward(Some(v6)), "[::1]:5060".parse().unwrap());
        assert_eq!(listen.toward(Some(mapped)), listen.first());
        assert_eq!(listen.toward(None), listen.first());
        assert_eq!(listen.to_string(), "127.0.0.1:5060 and [::1]:5060");
        assert_eq!(
            listen.with_port(7).addrs()[1],
            "[::1]:7".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn a_list_may_be_written_as_one_string_for_the_environment() {
        let written = parse(r#""127.0.0.1:0, [::1]:0""#).unwrap();
        assert_eq!(written, parse(r#"["127.0.0.1:0", "[::1]:0"]"#).unwrap());
    }

    #[test]
    fn a_list_of_one_is_one_address() {
        let listen = parse(r#"["0.0.0.0:5060"]"#).unwrap();
        assert_eq!(listen, Listen::one("0.0.0.0:5060".parse().unwrap()));
    }

    #[test]
    fn two_of_a_family_or_none_at_all_are_refused_in_plain_words() {
        let error = parse(r#"["127.0.0.1:5060", "192.0.2.1:5060"]"#).unwrap_err();
        assert!(error.contains("two IPv4 addresses"), "{error}");
        assert!(error.contains("192.0.2.1:5060"), "{error}");
        let error = parse(r#"["127.0.0.1:5060", "[::1]:5060", "[::]:5060"]"#).unwrap_err();
        assert!(error.contains("two IPv6 addresses"), "{error}");
        assert!(parse("[]").unwrap_err().contains("empty"));
        let error = parse(r#""localhost:5060""#).unwrap_err();
        assert!(
            error.contains("\"localhost:5060\" is not an address"),
            "{error}"
        );
    }
}
