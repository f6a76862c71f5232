//! The SDP attributes of DTLS-SRTP: `a=fingerprint` (RFC 8122), the hash
//! of the certificate the sender will present, and `a=setup` (RFC 4145,
//! RFC 5763 §5), which side opens the handshake.

use std::fmt;

/// A certificate's SHA-256 fingerprint: `a=fingerprint:sha-256 AB:CD:…`.
/// Only SHA-256 is taken: RFC 8122 §5 makes it the hash to use, and it is
/// what baresip, Linphone and browsers send.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The attribute's value (after `a=fingerprint:`); `None` for another
    /// hash or a malformed one.
    pub fn parse(value: &str) -> Option<Fingerprint> {
        let (hash, hex) = value.trim().split_once(' ')?;
        if !hash.eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let mut bytes = [0u8; 32];
        let mut parts = hex.trim().split(':');
        for byte in &mut bytes {
            let part = parts.next()?;
            if part.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(Fingerprint(bytes))
    }

    /// The whole SDP line, CRLF included.
    pub fn line(&self) -> String {
        format!("a=fingerprint:sha-256 {self}\r\n")
    }
}

/// Upper-case hex pairs joined by colons, as RFC 8122 writes them.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// `a=setup` (RFC 4145 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Active,
    Passive,
    ActPass,
    HoldConn,
}

impl Setup {
    pub fn parse(value: &str) -> Option<Setup> {
        match value.trim().to_ascii_lowercase().as_str() {
            "active" => Some(Setup::Active),
            "passive" => Some(Setup::Passive),
            "actpass" => Some(Setup::ActPass),
            "holdconn" => Some(Setup::HoldConn),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

/// Our side of the handshake: the DTLS client sends the first flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    /// Our role from the peer's `a=setup`, offer or answer alike: a peer
    /// that is `active` connects to us; one that is `passive` waits for
    /// us; to `actpass` in an offer we answer `active` (RFC 5763 §5: the
    /// answerer should be active, so the offerer learns its fingerprint
    /// before the first packet comes). No attribute means `active` (RFC
    /// 4145 §4's default). `holdconn` is no media at all: `None`.
    pub fn against(peer: Option<Setup>) -> Option<Role> {
        match peer.unwrap_or(Setup::Active) {
            Setup::Active => Some(Role::Server),
            Setup::Passive | Setup::ActPass => Some(Role::Client),
            Setup::HoldConn => None,
        }
    }

    /// What our answer says for this role.
    pub fn setup(self) -> Setup {
        match self {
            Role::Client => Setup::Active,
            Role::Server => Setup::Passive,
        }
    }
}

/// The DTLS lines of one media section, or of the session (RFC 8122 §5
/// lets `a=fingerprint` stand at either level; the media's wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtlsLines {
    /// The first SHA-256 fingerprint.
    pub fingerprint: Option<Fingerprint>,
    /// How many `a=fingerprint` lines there were, usable or not.
    pub fingerprint_lines: usize,
    pub setup: Option<Setup>,
}

impl DtlsLines {
    /// Takes `a=<name>:<arg>` if it is one of ours; says whether it was.
    pub fn read(&mut self, name: &str, arg: &str) -> bool {
        match name {
            "fingerprint" => {
                self.fingerprint_lines += 1;
                self.fingerprint = self.fingerprint.or(Fingerprint::parse(arg));
                true
            }
            "setup" => {
                self.setup = Setup::parse(arg);
                true
            }
            _ => false,
        }
    }

    /// The media section's lines, the session's where it has none.
    pub fn or(self, session: &DtlsLines) -> DtlsLines {
        if self.fingerprint_lines > 0 {
            DtlsLines {
                setup: self.setup.or(session.setup),
                ..self
            }
        } else {
            DtlsLines {
                setup: self.setup.or(session.setup),
                ..*session
            }
        }
    }
}

/// DTLS-SRTP as both sides agreed it in SDP: who opens the handshake, and
/// the certificate the peer must present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    pub role: Role,
    pub peer: Fingerprint,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_and_write_as_rfc_8122_spells_them() {
        let hex: Vec<String> = (0u8..32).map(|b| format!("{:02x}", b * 7)).collect();
        let value = format!("SHA-256 {}", hex.join(":"));
        let parsed = Fingerprint::parse(&value).unwrap();
        assert_eq!(parsed.0[1], 7);
        assert_eq!(parsed.0[31], 31 * 7);
        let line = parsed.line();
        assert!(
            line.starts_with("a=fingerprint:sha-256 00:07:0E:15:"),
            "{line}"
        );
        assert!(line.ends_with(":D9\r\n"), "{line}");
        let back = line.trim_end().strip_prefix("a=fingerprint:").unwrap();
        assert_eq!(Fingerprint::parse(back), Some(parsed));
        for bad in [
            "sha-1 00:07:0E:15:1C:23:2A:31:38:3F:46:4D:54:5B:62:69:70:77:7E:85".to_owned(),
            format!("sha-256 {}", hex[..31].join(":")),
            format!("sha-256 {}:00", hex.join(":")),
            format!("sha-256 {}", hex.join(":").replace("07", "7")),
            format!("sha-256 {}", hex.join(":").replace("07", "zz")),
            String::new(),
        ] {
            assert_eq!(Fingerprint::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn setup_gives_the_role_rfc_5763_asks_for() {
        assert_eq!(Role::against(Some(Setup::ActPass)), Some(Role::Client));
        assert_eq!(Role::against(Some(Setup::Passive)), Some(Role::Client));
        assert_eq!(Role::against(Some(Setup::Active)), Some(Role::Server));
        assert_eq!(Role::against(None), Some(Role::Server));
        assert_eq!(Role::against(Some(Setup::HoldConn)), None);
        assert_eq!(Role::Client.setup().name(), "active");
        assert_eq!(Role::Server.setup().name(), "passive");
        for name in ["active", "PASSIVE", "actpass", "holdconn"] {
            assert_eq!(Setup::parse(name).unwrap().name(), name.to_lowercase());
        }
        assert_eq!(Setup::parse("both"), None);
    }

    #[test]
    fn media_lines_win_over_the_sessions() {
        let hex = vec!["AB"; 32].join(":");
        let mut session = DtlsLines::default();
        assert!(session.read("fingerprint", &format!("sha-256 {hex}")));
        assert!(session.read("setup", "actpass"));
        assert!(!session.read("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:x"));
        let mut media = DtlsLines::default();
        media.read("setup", "passive");
        let merged = media.or(&session);
        assert_eq!(merged.fingerprint.unwrap().0, [0xAB; 32]);
        assert_eq!(merged.setup, Some(Setup::Passive));
        media.read("fingerprint", "sha-1 AB:CD");
        let merged = media.or(&session);
        assert_eq!((merged.fingerprint, merged.fingerprint_lines), (None, 1));
    }
}
