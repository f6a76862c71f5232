//! A SIP URI reduced to what RFC 3261 §19.1.4 compares, so two spellings
//! of one address meet in a hash map and two addresses never do.
//!
//! Kept: the scheme (`sip` and `sips` differ), the user part exactly (it is
//! case-sensitive) after `%HH` escapes are decoded, the host in lower case,
//! the port as written (a missing port is not 5060, §19.1.4), and the
//! parameters that must match when either side has them (`user`, `ttl`,
//! `method`, `maddr`). Dropped: the other parameters (`transport`, `lr`,
//! ...), which say how to reach an address, not whose it is. A URI with
//! headers (`?subject=…`) is no address of anyone's and has no key.
//!
//! Never a substring or "contains" match: `sip:bob@example.org` does not
//! match `sip:bob@example.org.evil` nor `sip:xbob@example.org`.

/// Longer text is not looked at: nobody's address is near this long.
const MAX_URI: usize = 512;

/// The comparable form of a SIP URI; equal keys are equal URIs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipKey {
    secure: bool,
    user: Option<Vec<u8>>,
    host: String,
    port: Option<u16>,
    /// `user`, `ttl`, `method`, `maddr`, as `name=value` in lower case,
    /// sorted.
    params: Vec<String>,
}

/// Parameters that §19.1.4 requires on both sides when either has one.
const STRICT_PARAMS: [&str; 4] = ["user", "ttl", "method", "maddr"];

impl SipKey {
    /// The key of `uri` (`sip:` or `sips:`), or None when it is not a SIP
    /// URI this can compare.
    pub fn parse(uri: &str) -> Option<SipKey> {
        let uri = uri.trim();
        if uri.len() > MAX_URI || uri.contains('?') {
            return None;
        }
        let (scheme, rest) = uri.split_once(':')?;
        let secure = if scheme.eq_ignore_ascii_case("sips") {
            true
        } else if scheme.eq_ignore_ascii_case("sip") {
            false
        } else {
            return None;
        };
        let (address, params) = match rest.split_once(';') {
            Some((address, params)) => (address, Some(params)),
            None => (rest, None),
        };
        let (user, hostport) = match address.rsplit_once('@') {
            Some((user, hostport)) if !user.is_empty() => (Some(unescape(user)?), hostport),
            Some(_) => return None,
            None => (None, address),
        };
        let (host, port) = split_port(hostport)?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        {
            return None;
        }
        let mut strict: Vec<String> = params
            .into_iter()
            .flat_map(|p| p.split(';'))
            .filter_map(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                let name = name.trim().to_ascii_lowercase();
                let value = match name.as_str() {
                    // Method names are case-sensitive (RFC 3261 §7.1).
                    "method" => value.trim().to_owned(),
                    _ => value.trim().to_ascii_lowercase(),
                };
                STRICT_PARAMS
                    .contains(&name.as_str())
                    .then(|| format!("{name}={value}"))
            })
            .collect();
        strict.sort();
        Some(SipKey {
            secure,
            user,
            host: host.to_ascii_lowercase(),
            port,
            params: strict,
        })
    }
}

/// `host` and its port, when one is written (`[v6]:port` too).
fn split_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    let colon = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        match &hostport[end + 1..] {
            "" => None,
            rest if rest.starts_with(':') => Some(end + 1),
            _ => return None,
        }
    } else {
        hostport.find(':')
    };
    match colon {
        Some(at) => Some((&hostport[..at], Some(hostport[at + 1..].parse().ok()?))),
        None => Some((hostport, None)),
    }
}

/// The user part with `%HH` decoded (an escaped and a plain character are
/// the same character, §19.1.4); a broken escape is no address.
pub(super) fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        SipKey::parse(a).unwrap() == SipKey::parse(b).unwrap()
    }

    #[test]
    fn the_equal_uris_of_rfc_3261_19_1_4_have_one_key() {
        assert!(same(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(same(
            "SIP:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(same(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com"
        ));
        assert!(same(
            "sip:biloxi.com;transport=tcp;method=REGISTER",
            "sip:biloxi.com;method=REGISTER"
        ));
        assert!(same(
            "sip:bob@[2001:DB8::1]:5062",
            "sip:bob@[2001:db8::1]:5062"
        ));
    }

    #[test]
    fn the_unequal_uris_of_rfc_3261_19_1_4_and_near_misses_differ() {
        for (a, b) in [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
            ("sip:bob@biloxi.com;user=phone", "sip:bob@biloxi.com"),
            (
                "sip:carol@chicago.com;maddr=239.255.255.1",
                "sip:carol@chicago.com",
            ),
            ("sip:bob@example.org", "sip:bob@example.org.evil"),
            ("sip:bob@example.org", "sip:xbob@example.org"),
            ("sip:bob@example.org", "sip:bo@example.org"),
            ("sip:+15551234@example.org", "sip:+155512345@example.org"),
        ] {
            assert!(!same(a, b), "{a} == {b}");
        }
    }

    #[test]
    fn what_is_no_sip_address_has_no_key() {
        for uri in [
            "",
            "tel:+15551234",
            "xmpp:bob@example.org",
            "sip:",
            "sip:@example.org",
            "sip:bob@",
            "sip:bob@example.org:port",
            "sip:bob%4@example.org",
            "sip:bob@example.org?subject=hi",
            "sip:bob@exa mple.org",
        ] {
            assert_eq!(SipKey::parse(uri), None, "{uri:?}");
        }
        assert_eq!(SipKey::parse(&format!("sip:{}@x", "a".repeat(600))), None);
    }
}
