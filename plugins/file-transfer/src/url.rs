//! HTTP(S) URLs as a peer gives them: only what a GET or PUT needs.

use std::fmt;

use thiserror::Error;

/// Why a URL cannot be fetched.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("`{0}` is not an http:// or https:// address")]
    Scheme(String),
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{0}` has a bad port")]
    Port(String),
    #[error("`{0}` carries a user name or password, which Tandem does not send")]
    UserInfo(String),
    #[error("the address has spaces or control characters")]
    Characters,
}

/// An `http://` or `https://` URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub secure: bool,
    /// The host name or address (IPv6 without its brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`; the fragment dropped.
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let text = text.trim();
        if text.chars().any(|c| c.is_control() || c == ' ') {
            return Err(UrlError::Characters);
        }
        let lower = text.to_ascii_lowercase();
        let (secure, rest) = if lower.starts_with("https://") {
            (true, &text[8..])
        } else if lower.starts_with("http://") {
            (false, &text[7..])
        } else {
            return Err(UrlError::Scheme(text.to_owned()));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo(text.to_owned()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6
                .find(']')
                .ok_or_else(|| UrlError::NoHost(text.to_owned()))?;
            (&v6[..close], v6[close + 1..].strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost(text.to_owned()));
        }
        let port = match port {
            Some(p) => p
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| UrlError::Port(text.to_owned()))?,
            None if secure => 443,
            None => 80,
        };
        let tail = tail.split('#').next().unwrap_or("");
        let path = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Ok(Url {
            secure,
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// `host[:port]` for the Host header: the port only when not the default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.secure, self.port) {
            (true, 443) | (false, 80) => host,
            (_, port) => format!("{host}:{port}"),
        }
    }

    /// A `Location` relative to this URL, made absolute.
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        if location.contains("://") {
            return Url::parse(location);
        }
        let base = format!(
            "{}://{}",
            if self.secure { "https" } else { "http" },
            self.authority()
        );
        if location.starts_with('/') {
            return Url::parse(&format!("{base}{location}"));
        }
        let dir = self.path.split('?').next().unwrap_or("/");
        let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
        Url::parse(&format!("{base}{dir}{location}"))
    }

    /// The last path segment, percent-decoded: a name when none was given.
    pub fn file_name(&self) -> Option<String> {
        let path = self.path.split('?').next()?;
        let last = path.rsplit('/').next().filter(|s| !s.is_empty())?;
        Some(percent_decode(last))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// `%2e%2E%2f` → `../`; invalid escapes are kept as written, invalid
/// UTF-8 replaced (the name is sanitised afterwards anyway).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_urls_apart() {
        let u = Url::parse("https://files.example.org/a/b%20c.jpg?x=1#frag").unwrap();
        assert_eq!(
            (u.secure, u.host.as_str(), u.port, u.path.as_str()),
            (true, "files.example.org", 443, "/a/b%20c.jpg?x=1")
        );
        assert_eq!(u.file_name().as_deref(), Some("b c.jpg"));
        assert_eq!(u.authority(), "files.example.org");
        let u = Url::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.authority()),
            (8080, "/", "127.0.0.1:8080".into())
        );
        let u = Url::parse("http://[::1]:81/x").unwrap();
        assert_eq!((u.host.as_str(), u.authority()), ("::1", "[::1]:81".into()));
        assert_eq!(u.to_string(), "http://[::1]:81/x");
    }

    #[test]
    fn refuses_what_it_cannot_fetch() {
        assert!(matches!(Url::parse("ftp://x/y"), Err(UrlError::Scheme(_))));
        assert!(matches!(
            Url::parse("file:///etc/passwd"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            Url::parse("http://user:pw@x/"),
            Err(UrlError::UserInfo(_))
        ));
        assert!(matches!(
            Url::parse("http://:80/"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(
            Url::parse("http://x:99999/"),
            Err(UrlError::Port(_))
        ));
        assert_eq!(Url::parse("http://x/a b"), Err(UrlError::Characters));
        assert_eq!(
            Url::parse("http://x/a\r\nHost: y"),
            Err(UrlError::Characters)
        );
    }

    #[test]
    fn joins_redirects() {
        let base = Url::parse("http://x:81/a/b?q").unwrap();
        assert_eq!(base.join("/c").unwrap().to_string(), "http://x:81/c");
        assert_eq!(base.join("d").unwrap().to_string(), "http://x:81/a/d");
        assert_eq!(base.join("https://y/z").unwrap().to_string(), "https://y/z");
    }
}
