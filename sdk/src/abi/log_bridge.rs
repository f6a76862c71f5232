//! Libraries inside a plugin (tokio-xmpp, rsipstack, ...) log through the
//! `log` crate (or `tracing`, which falls back to `log` when no subscriber
//! is set, as in a plugin). A cdylib has its own copy of `log`'s global
//! logger, which nobody sets, so their lines would vanish. The first plugin
//! start in a library installs this bridge: records go to the host's log,
//! with the plugin id as target and the library's module path in the
//! message, down to the level the host keeps for that plugin (so
//! `RUST_LOG=sip=debug` reaches into the plugin and nothing finer is even
//! formatted).
//!
//! A library's `info` is written for its developers, not for the person
//! running Tandem (rsipstack logs every SIP message it sends or receives,
//! bodies included, at info), so records from outside the plugin's own
//! crate count as `debug` at most: the default log shows the plugin's own
//! lines and its libraries' warnings and errors.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::host::{HostBackend, Level};

struct Bridge {
    host: Arc<dyn HostBackend>,
    max: log::LevelFilter,
    /// The plugin's own crate (`tandem_plugin_sip`): its records keep their
    /// level.
    own_crate: &'static str,
}

impl Bridge {
    fn level_of(&self, metadata: &log::Metadata) -> log::Level {
        let target = metadata.target();
        let own = target
            .strip_prefix(self.own_crate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
        match metadata.level() {
            log::Level::Info if !own => log::Level::Debug,
            level => level,
        }
    }
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.level_of(metadata) <= self.max
    }

    fn log(&self, record: &log::Record) {
        let level = self.level_of(record.metadata());
        if level > self.max {
            return;
        }
        let level = match level {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        self.host.log(
            level,
            &hide_credentials(&format!("[{}] {}", record.target(), record.args())),
        );
    }

    fn flush(&self) {}
}

/// `text` with the credentials libraries log at debug and trace taken out:
/// rsipstack logs whole SIP messages, whose `Authorization` and
/// `Proxy-Authorization` lines are a digest of the password that can be
/// cracked offline; tokio-xmpp logs the stream, whose SASL `<auth>` (PLAIN:
/// the password in base64) and `<response>` are as bad. `RUST_LOG=sip=debug`
/// must be safe to paste into a bug report.
pub(crate) fn hide_credentials(text: &str) -> Cow<'_, str> {
    // ASCII lowercasing keeps every byte offset.
    let lower = text.to_ascii_lowercase();
    let mut cuts = Vec::new();
    for (at, found) in lower.match_indices("authorization") {
        // SIP's HCOLON allows blanks before the colon
        // (`Authorization : Digest ...`); `<authorization/>` is no header.
        let after = at + found.len();
        let blanks = lower.as_bytes()[after..]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        if lower.as_bytes().get(after + blanks) != Some(&b':') {
            continue;
        }
        let start = after + blanks + 1;
        cuts.push((start, header_end(&lower, start)));
    }
    // SASL both ways: what the client sends (`auth`, `response`), and what
    // the server sends back (`challenge`, `success`: SCRAM's salt, nonces
    // and server signature, enough with the JID to guess the password
    // offline where no channel binding ties them to the TLS session).
    for (open, close) in [
        ("<auth", "</auth>"),
        ("<response", "</response>"),
        ("<challenge", "</challenge>"),
        ("<success", "</success>"),
    ] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(open) {
            let after = from + i + open.len();
            from = after;
            // `<authorization>` or `<responses>` are other elements.
            if !matches!(
                lower.as_bytes().get(after),
                Some(b' ' | b'\t' | b'\n' | b'>')
            ) {
                continue;
            }
            let Some(gt) = lower[after..].find('>') else {
                break;
            };
            if lower[..after + gt].ends_with('/') {
                continue; // <auth .../> holds nothing
            }
            let start = after + gt + 1;
            let end = lower[start..]
                .find(close)
                .map_or(lower.len(), |e| start + e);
            cuts.push((start, end));
            from = end;
        }
    }
    if cuts.is_empty() {
        return Cow::Borrowed(text);
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut kept = 0;
    for (start, end) in cuts {
        if start < kept {
            continue;
        }
        out.push_str(&text[kept..start]);
        out.push_str(" [hidden]");
        kept = end;
    }
    out.push_str(&text[kept..]);
    Cow::Owned(out)
}

/// Where the header line starting at `start` ends: at a line break, or at
/// an escaped one (`\r`, `\n`), as a message logged with `{:?}` has. An
/// escape is read as a pair, so an escaped backslash followed by `n`
/// (`CORP\\nancy`, a user name) does not end the line early.
fn line_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' | b'\n' => return i,
            b'\\' if matches!(bytes.get(i + 1), Some(b'r' | b'n')) => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Where the header value starting at `start` ends: at the end of its
/// line, or further when the next lines are folded into it (a line break
/// followed by a blank continues a SIP header), raw or escaped.
fn header_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut from = start;
    loop {
        let end = line_end(text, from);
        let rest = &bytes[end..];
        let skip = [&b"\r\n"[..], b"\n", b"\r", b"\\r\\n", b"\\n", b"\\r"]
            .iter()
            .find(|brk| rest.starts_with(brk))
            .map_or(0, |brk| brk.len());
        let next = &rest[skip..];
        if skip == 0
            || !(next.starts_with(b" ") || next.starts_with(b"\t") || next.starts_with(b"\\t"))
        {
            return end;
        }
        from = end + skip;
    }
}

fn filter_of(level: Option<Level>) -> log::LevelFilter {
    match level {
        None => log::LevelFilter::Off,
        Some(Level::Error) => log::LevelFilter::Error,
        Some(Level::Warn) => log::LevelFilter::Warn,
        Some(Level::Info) => log::LevelFilter::Info,
        Some(Level::Debug) => log::LevelFilter::Debug,
        Some(Level::Trace) => log::LevelFilter::Trace,
    }
}

/// Installs the bridge once per library; later starts keep the first.
/// `own_crate` is the crate that defines the plugin.
pub(crate) fn install(host: Arc<dyn HostBackend>, own_crate: &'static str) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let max = filter_of(host.log_level());
        let bridge = Bridge {
            host,
            max,
            own_crate,
        };
        if log::set_boxed_logger(Box::new(bridge)).is_ok() {
            log::set_max_level(max);
        }
    });
}

/// The crate of a type: `tandem_plugin_sip` for `tandem_plugin_sip::Sip`.
pub(crate) fn crate_of<P>() -> &'static str {
    let name = std::any::type_name::<P>();
    name.split("::").next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    fn bridge(max: log::LevelFilter) -> (Bridge, MockHost) {
        let mock = MockHost::new();
        let bridge = Bridge {
            host: Arc::new(mock.clone()),
            max,
            own_crate: "tandem_plugin_sip",
        };
        (bridge, mock)
    }

    fn write(bridge: &Bridge, target: &str, level: log::Level, text: &str) {
        use log::Log;
        bridge.log(
            &log::Record::builder()
                .target(target)
                .level(level)
                .args(format_args!("{text}"))
                .build(),
        );
    }

    #[test]
    fn a_librarys_info_is_debug_and_the_plugins_own_keeps_its_level() {
        let (info, mock) = bridge(log::LevelFilter::Info);
        write(&info, "tandem_plugin_sip::agent", log::Level::Info, "ours");
        write(
            &info,
            "rsipstack::transport::udp",
            log::Level::Info,
            "raw SIP",
        );
        write(
            &info,
            "rsipstack::transport::udp",
            log::Level::Warn,
            "theirs",
        );
        write(
            &info,
            "tandem_plugin_sipx",
            log::Level::Info,
            "another crate",
        );
        let lines: Vec<String> = mock.logs().into_iter().map(|(_, l)| l).collect();
        assert_eq!(
            lines,
            [
                "[tandem_plugin_sip::agent] ours",
                "[rsipstack::transport::udp] theirs"
            ]
        );
        let (debug, mock) = bridge(log::LevelFilter::Debug);
        write(
            &debug,
            "rsipstack::transport::udp",
            log::Level::Info,
            "raw SIP",
        );
        assert_eq!(
            mock.logs(),
            [(
                Level::Debug,
                "[rsipstack::transport::udp] raw SIP".to_owned()
            )]
        );
    }

    #[test]
    fn credentials_never_reach_the_log() {
        let sip = "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nProxy-Authorization: Digest username=\"a\", response=\"d41d8\"\r\nauthorization: Digest response=\"e3b0\"\r\nCSeq: 2 INVITE\r\n\r\n";
        let hidden = hide_credentials(sip);
        assert!(
            !hidden.contains("d41d8") && !hidden.contains("e3b0"),
            "{hidden}"
        );
        assert!(
            hidden.contains("Proxy-Authorization: [hidden]\r\n"),
            "{hidden}"
        );
        assert!(hidden.contains("CSeq: 2 INVITE"), "{hidden}");
        // rsipstack logs the message with {:?}: line breaks are escaped.
        let debugged = format!("{sip:?}");
        let hidden = hide_credentials(&debugged);
        assert!(
            !hidden.contains("d41d8") && !hidden.contains("e3b0"),
            "{hidden}"
        );
        assert!(hidden.contains("CSeq: 2 INVITE"), "{hidden}");

        let sasl = "SEND <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGh1bnRlcjI=</auth><response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response><authorization/>";
        let hidden = hide_credentials(sasl);
        assert!(
            !hidden.contains("AGFsaWNl") && !hidden.contains("Yz1iaXdz"),
            "{hidden}"
        );
        assert!(hidden.ends_with("</response><authorization/>"), "{hidden}");
        let scram = "RECV <challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==</challenge> \
                     <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpSa0ZzS1E9</success>";
        let hidden = hide_credentials(scram);
        assert!(
            !hidden.contains("cj1meWtv") && !hidden.contains("dj1ybUY5"),
            "{hidden}"
        );

        // A backslash in a value, logged with {:?}, is doubled; the line goes on.
        let windows = format!("{:?}", "Authorization: Digest username=\"CORP\\nancy\", response=\"9f86d\"\r\nCSeq: 1 REGISTER\r\n");
        let hidden = hide_credentials(&windows);
        assert!(!hidden.contains("9f86d"), "{hidden}");
        assert!(hidden.contains("CSeq: 1 REGISTER"), "{hidden}");

        // A blank before the colon, and a header folded over two lines
        // (both valid SIP), raw and as {:?} writes them.
        let spaced = "INVITE sip:b@x SIP/2.0\r\nAuthorization : Digest response=\"aa11\"\r\nProxy-Authorization:Digest username=\"a\",\r\n response=\"bb22\",\r\n\tnonce=\"cc33\"\r\nCSeq: 3 INVITE\r\n\r\n";
        for text in [spaced.to_owned(), format!("{spaced:?}")] {
            let hidden = hide_credentials(&text);
            for secret in ["aa11", "bb22", "cc33"] {
                assert!(!hidden.contains(secret), "{secret}: {hidden}");
            }
            assert!(hidden.contains("CSeq: 3 INVITE"), "{hidden}");
        }

        let plain = "nothing to hide";
        assert!(matches!(hide_credentials(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn a_logged_credential_is_hidden() {
        let (bridge, mock) = bridge(log::LevelFilter::Trace);
        write(
            &bridge,
            "tokio_xmpp::xmlstream::capture",
            log::Level::Trace,
            "SEND <auth mechanism='PLAIN'>AGFsaWNlAGh1bnRlcjI=</auth>",
        );
        let lines: Vec<String> = mock.logs().into_iter().map(|(_, l)| l).collect();
        assert_eq!(
            lines,
            ["[tokio_xmpp::xmlstream::capture] SEND <auth mechanism='PLAIN'> [hidden]</auth>"]
        );
    }

    #[test]
    fn the_crate_of_a_type() {
        assert_eq!(crate_of::<Bridge>(), "tandem_sdk");
    }
}
