//! The MSRP URI (RFC 4975 §6): `msrp://host:port/session-id;tcp`, or
//! `msrps://` for TLS. A path (`To-Path`, `From-Path`, SDP `a=path`) is a
//! list of them separated by spaces, relays first, the endpoint last.

use std::fmt;

use super::error::FrameError;

/// One MSRP URI. The session id is what a relay or endpoint matches on;
/// RFC 4975 §6.1 compares scheme, host (case-insensitively), port and
/// session id, and ignores the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpUri {
    /// `msrps`: the connection is TLS.
    pub secure: bool,
    /// `user@` before the host, as relays put in AUTH (RFC 4976).
    pub user: Option<String>,
    pub host: String,
    /// Absent: 2855 (RFC 4975 §6).
    pub port: Option<u16>,
    /// Absent only in a relay's own URI (RFC 4976 §5).
    pub session_id: Option<String>,
    /// `tcp` for every URI Tandem makes.
    pub transport: String,
}

/// The port MSRP uses when a URI names none.
pub const DEFAULT_PORT: u16 = 2855;
/// The longest URI taken from a peer.
const MAX_URI: usize = 512;

impl MsrpUri {
    /// An endpoint's URI over plain TCP.
    pub fn tcp(host: &str, port: u16, session_id: &str) -> MsrpUri {
        MsrpUri {
            secure: false,
            user: None,
            host: host.to_owned(),
            port: Some(port),
            session_id: Some(session_id.to_owned()),
            transport: "tcp".to_owned(),
        }
    }

    pub fn parse(text: &str) -> Result<MsrpUri, FrameError> {
        let bad = |why: &'static str| FrameError::Uri {
            uri: text.chars().take(80).collect(),
            why,
        };
        if text.len() > MAX_URI {
            return Err(bad("too long"));
        }
        let (scheme, rest) = text.split_once("://").ok_or(bad("no scheme"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "msrp" => false,
            "msrps" => true,
            _ => return Err(bad("not msrp or msrps")),
        };
        let (rest, transport) = rest.split_once(';').ok_or(bad("no transport"))?;
        if transport.is_empty() || !transport.bytes().all(is_token) {
            return Err(bad("bad transport"));
        }
        let (authority, session_id) = match rest.split_once('/') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if let Some(s) = session_id {
            if s.is_empty() || !s.bytes().all(is_unreserved) {
                return Err(bad("bad session id"));
            }
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or(bad("bad port"))?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        {
            return Err(bad("bad host"));
        }
        Ok(MsrpUri {
            secure,
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
            session_id: session_id.map(str::to_owned),
            transport: transport.to_owned(),
        })
    }

    /// Parses a path: URIs separated by spaces, at least one.
    pub fn parse_path(text: &str) -> Result<Vec<MsrpUri>, FrameError> {
        let path = text
            .split_ascii_whitespace()
            .map(MsrpUri::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if path.is_empty() {
            return Err(FrameError::Header {
                name: "path",
                why: "empty",
            });
        }
        Ok(path)
    }

    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// RFC 4975 §6.1: the same scheme, host, port and session id.
    pub fn same_as(&self, other: &MsrpUri) -> bool {
        self.secure == other.secure
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port_or_default() == other.port_or_default()
            && self.session_id == other.session_id
            && self.transport.eq_ignore_ascii_case(&other.transport)
    }

    /// `host:port` to connect to (IPv6 hosts keep their brackets).
    pub fn socket_address(&self) -> String {
        format!("{}:{}", self.host, self.port_or_default())
    }
}

/// A path as it goes in a header or `a=path`.
pub fn path_text(path: &[MsrpUri]) -> String {
    path.iter()
        .map(MsrpUri::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn split_host_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    // `[v6]:port` or `host:port`; a bare v6 address is not a URI host.
    let colon = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        match &hostport[close + 1..] {
            "" => return Some((hostport, None)),
            rest if rest.starts_with(':') => close + 1,
            _ => return None,
        }
    } else {
        match hostport.rfind(':') {
            Some(i) => i,
            None => return Some((hostport, None)),
        }
    };
    let port = hostport[colon + 1..].parse::<u16>().ok()?;
    Some((&hostport[..colon], Some(port)))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// RFC 3986 unreserved characters plus the few RFC 4975 allows.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@%".contains(&b)
}

impl fmt::Display for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "msrps://" } else { "msrp://" })?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(session) = &self.session_id {
            write!(f, "/{session}")?;
        }
        write!(f, ";{}", self.transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4975_uris_round_trip() {
        for text in [
            "msrp://atlanta.example.com:7654/jshA7weztas;tcp",
            "msrps://bob.example.com:8888/9di4eae923wzd;tcp",
            "msrps://alice@intra.example.com;tcp",
            "msrp://[2001:db8::1]:2855/s1;tcp",
        ] {
            let uri = MsrpUri::parse(text).unwrap();
            assert_eq!(uri.to_string(), text);
        }
        let uri = MsrpUri::parse("msrps://alice@intra.example.com;tcp").unwrap();
        assert_eq!(uri.user.as_deref(), Some("alice"));
        assert_eq!(uri.session_id, None);
        assert_eq!(uri.port_or_default(), 2855);
    }

    #[test]
    fn comparison_ignores_host_case_and_a_default_port() {
        let a = MsrpUri::parse("msrp://Atlanta.Example.com:2855/x1;tcp").unwrap();
        let b = MsrpUri::parse("msrp://atlanta.example.com/x1;tcp").unwrap();
        assert!(a.same_as(&b));
        let c = MsrpUri::parse("msrp://atlanta.example.com/X1;tcp").unwrap();
        assert!(!a.same_as(&c), "session ids are case-sensitive");
    }

    #[test]
    fn malformed_uris_are_errors() {
        for text in [
            "",
            "http://a/b;tcp",
            "msrp://a/b",
            "msrp://a:99999/b;tcp",
            "msrp://a:/b;tcp",
            "msrp:///b;tcp",
            "msrp://a/;tcp",
            "msrp://a/b c;tcp",
            "msrp://[::1/b;tcp",
            "msrp://a/b;",
        ] {
            assert!(MsrpUri::parse(text).is_err(), "{text:?}");
        }
        assert!(MsrpUri::parse_path("  ").is_err());
        let path = MsrpUri::parse_path(
            "msrp://relay.example.com:2855/r1;tcp msrp://bob.example.com:8888/9di;tcp",
        )
        .unwrap();
        assert_eq!(path.len(), 2);
    }
}
