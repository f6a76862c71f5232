//! A small pre-pass over an incoming message for what RFC 3261 allows and
//! rsip's parser misreads (RFC 4475 §3.1.1.1, §3.3.16). It rewrites only
//! the header block, and only when it must:
//!
//! - a header value continued on the next line (§7.3.1 line folding) is
//!   joined into one line, the line break and its whitespace becoming one
//!   space;
//! - in From and To, the whitespace the grammar allows around `;` and `=`
//!   (§25.1 SEMI and EQUAL: `;  tag = 98asjd8`) is removed outside quoted
//!   strings and `<...>`: rsip reads no tag in `; tag = x`, so a tagged To
//!   looked like a new request and a tagged From like none;
//! - over UDP, a request whose From has no tag (an RFC 2543 peer, which
//!   §8.2.6.2 and §12.2.2 ask us to serve) is given one, derived from its
//!   Call-ID and From so that the peer's later requests in that call get
//!   the same: rsipstack cannot make a transaction without one. The tag
//!   is taken out again of everything sent back ([`strip_added_tags`]), so
//!   the peer sees its own From and To as it wrote them. Such a request
//!   without Contact (RFC 2543 had none required) gets one naming the
//!   address it came from, where RFC 2543 would send the call's requests:
//!   rsipstack makes no dialog without it. Over TCP and TLS, rsipstack
//!   writes itself, so there the request still fails.
//!
//! Nothing here is a security boundary: the screen still judges the
//! rewritten message as it judges any other.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

/// What precedes the 16 hex digits of a tag this pre-pass added.
const ADDED_TAG: &[u8] = b";tag=rfc2543-";
const ADDED_TAG_DIGITS: usize = 16;

/// The message as rsip's parser can read it, or `None` when it needs no
/// change (or is no text: the screen deals with that). `udp_source`: the
/// sender of a datagram, whose request without a From tag gets one (and a
/// Contact if it has none; UDP only, see the module doc).
pub fn rewrite(message: &[u8], udp_source: Option<SocketAddr>) -> Option<Vec<u8>> {
    let head_end = find(message, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&message[..head_end]).ok()?;
    let mut lines: Vec<String> = Vec::new();
    let mut changed = false;
    for (n, line) in head.split("\r\n").enumerate() {
        match lines.last_mut() {
            Some(last) if n > 1 && line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim_start_matches([' ', '\t']));
                changed = true;
            }
            _ => lines.push(line.to_owned()),
        }
    }
    let is_request = !head.starts_with("SIP/");
    let call_id = lines.iter().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        is_named(name, "call-id", "i").then(|| value.trim().to_owned())
    });
    let has_contact = lines.iter().skip(1).any(|line| {
        line.split_once(':')
            .is_some_and(|(name, _)| is_named(name, "contact", "m"))
    });
    let mut tagged = false;
    for line in lines.iter_mut().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let from = is_named(name, "from", "f");
        if !from && !is_named(name, "to", "t") {
            continue;
        }
        let mut value = tighten(value.trim());
        if from && udp_source.is_some() && is_request && !has_tag(&value) {
            if let Some(call_id) = &call_id {
                value.push_str(&added_tag(call_id, &value));
                tagged = true;
            }
        }
        let rewritten = format!("{}: {value}", name.trim());
        if rewritten != *line {
            *line = rewritten;
            changed = true;
        }
    }
    if let Some(source) = udp_source.filter(|_| tagged && !has_contact) {
        lines.push(format!("Contact: <sip:{source}>"));
        changed = true;
    }
    if !changed {
        return None;
    }
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&message[head_end..]);
    Some(out)
}

/// `bytes` without the tags [`rewrite`] added, or `None` when it has none.
pub fn strip_added_tags(bytes: &[u8]) -> Option<Vec<u8>> {
    find(bytes, ADDED_TAG)?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = find(rest, ADDED_TAG) {
        let digits = &rest[at + ADDED_TAG.len()..];
        let ours = digits.len() >= ADDED_TAG_DIGITS
            && digits[..ADDED_TAG_DIGITS].iter().all(u8::is_ascii_hexdigit);
        let skip = if ours {
            ADDED_TAG.len() + ADDED_TAG_DIGITS
        } else {
            ADDED_TAG.len()
        };
        out.extend_from_slice(&rest[..at]);
        if !ours {
            out.extend_from_slice(ADDED_TAG);
        }
        rest = &rest[at + skip..];
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// The same tag for every request of one RFC 2543 call: its Call-ID and
/// From do not change.
fn added_tag(call_id: &str, from: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (call_id, from).hash(&mut hasher);
    format!(
        "{}{:0width$x}",
        String::from_utf8_lossy(ADDED_TAG),
        hasher.finish(),
        width = ADDED_TAG_DIGITS
    )
}

fn is_named(name: &str, long: &str, short: &str) -> bool {
    let name = name.trim();
    name.eq_ignore_ascii_case(long) || name.eq_ignore_ascii_case(short)
}

/// A From or To value without whitespace around `;` and `=` outside
/// quoted strings and `<...>`.
fn tighten(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut skip_space = false;
    for (c, outside) in outside_quotes_and_brackets(value) {
        if outside && skip_space && (c == ' ' || c == '\t') {
            continue;
        }
        skip_space = false;
        if outside && (c == ';' || c == '=') {
            let kept = out.trim_end_matches([' ', '\t']).len();
            out.truncate(kept);
            skip_space = true;
        }
        out.push(c);
    }
    out
}

/// Each character of a header value, and whether it stands outside quoted
/// strings and `<...>`, where `;`, `,` and `=` separate parameters (the
/// quotes and brackets themselves count as inside).
pub(crate) fn outside_quotes_and_brackets(value: &str) -> impl Iterator<Item = (char, bool)> + '_ {
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    value.chars().map(move |c| {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if angle {
            angle = c != '>';
        } else if c == '"' {
            quoted = true;
        } else if c == '<' {
            angle = true;
        } else {
            return (c, true);
        }
        (c, false)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether a To value has a `tag` parameter: among the header's own
/// parameters (after the `>` of a name-addr), `;tag` with optional spaces
/// around the `=` (RFC 3261 §25.1 SEMI and EQUAL).
pub(crate) fn has_tag(to: &str) -> bool {
    let params = match to.rfind('>') {
        Some(end) => &to[end + 1..],
        None => to.split_once(';').map_or("", |(_, params)| params),
    };
    params.split(';').any(|param| {
        param
            .split_once('=')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("tag"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("rewritten")).unwrap()
    }

    #[test]
    fn folded_lines_are_joined_and_tag_spacing_removed() {
        let folded = "INVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:a@b ;   tag    = 1918\r\n\
            from   : \"J \\\\\\\"\"  <sip:j@b>\r\n  ;\r\n  tag = 98asjd8\r\n\
            Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nv=0\n";
        let out = text(rewrite(folded.as_bytes(), None));
        assert!(out.contains("\r\nTO: sip:a@b;tag=1918\r\n"), "{out}");
        assert!(
            out.contains("\r\nfrom: \"J \\\\\\\"\"  <sip:j@b>;tag=98asjd8\r\n"),
            "{out}"
        );
        assert!(out.ends_with("\r\n\r\nv=0\n"), "the body is untouched");
        let request = rsipstack::sip::Request::try_from(out.as_str()).unwrap();
        use rsipstack::sip::prelude::HeadersExt;
        assert_eq!(
            request
                .to_header()
                .unwrap()
                .tag()
                .unwrap()
                .unwrap()
                .to_string(),
            "1918"
        );
    }

    #[test]
    fn spacing_inside_quotes_and_brackets_is_kept() {
        assert_eq!(
            tighten("\"a ; b = c\" <sip:x@y; lr = 1> ; tag = 2"),
            "\"a ; b = c\" <sip:x@y; lr = 1>;tag=2"
        );
    }

    #[test]
    fn a_plain_message_is_left_alone() {
        let plain = b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\n\r\n";
        let udp = Some(SocketAddr::from(([127, 0, 0, 1], 5070)));
        assert_eq!(rewrite(plain, udp), None);
        assert_eq!(rewrite(b"\xff\xfe\r\n\r\n", udp), None);
        assert_eq!(rewrite(b"no header block end", udp), None);
    }

    #[test]
    fn an_rfc2543_from_gets_a_stable_tag_that_never_goes_back() {
        let invite = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP g\r\n\
            From: <sip:+1303@ift>\r\nTo: sip:+1650@ss1\r\nCall-ID: inv2543.1717\r\nCSeq: 56 INVITE\r\n\r\n";
        let udp = Some(SocketAddr::from(([127, 0, 0, 1], 5070)));
        let first = text(rewrite(invite, udp));
        let again = text(rewrite(invite, udp));
        assert_eq!(first, again, "the same call, the same tag");
        assert!(
            first.contains("From: <sip:+1303@ift>;tag=rfc2543-"),
            "{first}"
        );
        assert!(
            first.contains("\r\nContact: <sip:127.0.0.1:5070>\r\n\r\n"),
            "{first}"
        );
        assert_eq!(rewrite(invite, None), None, "over TCP nothing is added");
        // An answer copies the tagged From: it goes back as the peer wrote it.
        let from = first.lines().find(|l| l.starts_with("From:")).unwrap();
        let answer = format!("SIP/2.0 180 Ringing\r\n{from}\r\nTo: sip:+1650@ss1;tag=9\r\n\r\n");
        let stripped = text(strip_added_tags(answer.as_bytes()));
        assert!(
            stripped.contains("\r\nFrom: <sip:+1303@ift>\r\n"),
            "{stripped}"
        );
        assert_eq!(
            strip_added_tags(b"SIP/2.0 200 OK\r\nFrom: <sip:a@b>;tag=1\r\n\r\n"),
            None
        );
        // A peer's own look-alike tag is not ours to cut.
        let lookalike = b"From: <sip:a@b>;tag=rfc2543-xyz\r\n";
        assert_eq!(text(strip_added_tags(lookalike)).as_bytes(), lookalike);
    }
}
