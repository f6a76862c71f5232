//! RFC 3994's `application/im-iscomposing+xml` document, read and written.
//!
//! The document is tiny and flat (`<isComposing>` with `state`, `refresh`,
//! `lastactive`, `contenttype`), and it comes from anyone who can send a
//! MESSAGE: so it is read by a small scanner with a size cap, not a
//! general XML parser, and anything it does not understand is refused
//! whole rather than half-read.

use std::fmt;

/// The MIME type, compared by type/subtype, case-insensitively.
pub const CONTENT_TYPE: &str = "application/im-iscomposing+xml";
const NAMESPACE: &str = "urn:ietf:params:xml:ns:im-iscomposing";
/// Bigger documents are refused: a real one is about 300 bytes.
pub const MAX_SIZE: usize = 4096;
/// RFC 3994 §4: without a `refresh`, `active` lapses after 120 s.
pub const DEFAULT_REFRESH: u32 = 120;

/// RFC 3994's two states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Idle,
}

/// One is-composing indication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indication {
    pub state: State,
    /// Seconds until `active` lapses unless refreshed (only with `active`).
    pub refresh: Option<u32>,
    /// What is being composed (`text/plain`, `audio`...).
    pub content_type: Option<String>,
}

/// Why a document was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentError {
    TooBig(usize),
    NotIsComposing,
    NoState,
    BadState(String),
    BadRefresh(String),
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::TooBig(n) => write!(f, "{n} bytes, more than {MAX_SIZE}"),
            DocumentError::NotIsComposing => write!(f, "not an <isComposing> document"),
            DocumentError::NoState => write!(f, "no <state>"),
            DocumentError::BadState(s) => write!(f, "<state> is `{s}`, not active or idle"),
            DocumentError::BadRefresh(s) => {
                write!(f, "<refresh> is `{s}`, not a number of seconds")
            }
        }
    }
}

impl Indication {
    /// Reads a document.
    pub fn parse(body: &str) -> Result<Indication, DocumentError> {
        if body.len() > MAX_SIZE {
            return Err(DocumentError::TooBig(body.len()));
        }
        if !body.contains(NAMESPACE) || open_tag(body, "isComposing").is_none() {
            return Err(DocumentError::NotIsComposing);
        }
        let state = match element_text(body, "state").ok_or(DocumentError::NoState)? {
            "active" => State::Active,
            "idle" => State::Idle,
            other => return Err(DocumentError::BadState(other.chars().take(40).collect())),
        };
        let refresh = match element_text(body, "refresh") {
            None => None,
            Some(text) => Some(
                text.parse::<u32>()
                    .map_err(|_| DocumentError::BadRefresh(text.chars().take(40).collect()))?,
            ),
        };
        let content_type = element_text(body, "contenttype")
            .filter(|t| !t.is_empty())
            .map(|t| t.chars().take(100).collect());
        Ok(Indication {
            state,
            refresh,
            content_type,
        })
    }

    /// Writes a document (RFC 3994 §3.1's form).
    pub fn to_xml(&self) -> String {
        let state = match self.state {
            State::Active => "active",
            State::Idle => "idle",
        };
        let mut doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<isComposing xmlns=\"{NAMESPACE}\">\n  <state>{state}</state>\n"
        );
        if let Some(content_type) = &self.content_type {
            doc.push_str(&format!(
                "  <contenttype>{}</contenttype>\n",
                escape(content_type)
            ));
        }
        if let Some(refresh) = self.refresh {
            doc.push_str(&format!("  <refresh>{refresh}</refresh>\n"));
        }
        doc.push_str("</isComposing>\n");
        doc
    }

    /// Seconds until `active` lapses: the `refresh` given (at least 1),
    /// else 120.
    pub fn lapses_after(&self) -> u32 {
        self.refresh.unwrap_or(DEFAULT_REFRESH).max(1)
    }
}

/// Whether `content_type` is is-composing (parameters and case ignored).
pub fn is_iscomposing(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Where the start tag of element `local` (any prefix) ends, if present.
fn open_tag(doc: &str, local: &str) -> Option<usize> {
    let mut rest = doc;
    let mut offset = 0;
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt + 1..];
        let name_end = after
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(after.len());
        let name = &after[..name_end];
        let name = name.rsplit(':').next().unwrap_or(name);
        if name == local {
            let gt = after.find('>')?;
            if after[..gt].ends_with('/') {
                return None; // empty element: no text
            }
            return Some(offset + lt + 1 + gt + 1);
        }
        offset += lt + 1;
        rest = after;
    }
    None
}

/// The trimmed text of the first element `local` (any prefix), if it has
/// plain text (no markup inside).
fn element_text<'a>(doc: &'a str, local: &str) -> Option<&'a str> {
    let start = open_tag(doc, local)?;
    let end = start + doc[start..].find('<')?;
    let closing = &doc[end..];
    let closing_name = closing.strip_prefix("</")?;
    let name_end = closing_name.find('>')?;
    let name = closing_name[..name_end].trim();
    (name.rsplit(':').next() == Some(local)).then(|| doc[start..end].trim())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3994 §7's example.
    const RFC_EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
   <isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing
     iscomposing.xsd">
     <state>active</state>
     <contenttype>text/plain</contenttype>
     <refresh>90</refresh>
   </isComposing>"#;

    #[test]
    fn the_rfcs_example_reads() {
        let i = Indication::parse(RFC_EXAMPLE).unwrap();
        assert_eq!(i.state, State::Active);
        assert_eq!(i.refresh, Some(90));
        assert_eq!(i.content_type.as_deref(), Some("text/plain"));
        assert_eq!(i.lapses_after(), 90);
    }

    #[test]
    fn prefixes_idle_and_no_refresh_read_too() {
        let doc = r#"<ic:isComposing xmlns:ic="urn:ietf:params:xml:ns:im-iscomposing"><ic:state> idle </ic:state><ic:lastactive>2003-01-27T10:43:00Z</ic:lastactive></ic:isComposing>"#;
        let i = Indication::parse(doc).unwrap();
        assert_eq!(i.state, State::Idle);
        assert_eq!(i.refresh, None);
        assert_eq!(i.lapses_after(), DEFAULT_REFRESH);
    }

    #[test]
    fn what_is_written_reads_back() {
        let sent = Indication {
            state: State::Active,
            refresh: Some(90),
            content_type: Some("text/plain".into()),
        };
        assert_eq!(Indication::parse(&sent.to_xml()).unwrap(), sent);
        let idle = Indication {
            state: State::Idle,
            refresh: None,
            content_type: None,
        };
        assert_eq!(Indication::parse(&idle.to_xml()).unwrap(), idle);
    }

    #[test]
    fn junk_is_refused_whole() {
        let wrap = |inner: &str| {
            format!("<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">{inner}</isComposing>")
        };
        assert_eq!(
            Indication::parse(&wrap("<state>typing</state>")),
            Err(DocumentError::BadState("typing".into()))
        );
        assert_eq!(
            Indication::parse(&wrap("<state>active</state><refresh>-5</refresh>")),
            Err(DocumentError::BadRefresh("-5".into()))
        );
        assert_eq!(Indication::parse(&wrap("")), Err(DocumentError::NoState));
        assert_eq!(
            Indication::parse(&wrap("<state/>")),
            Err(DocumentError::NoState)
        );
        assert_eq!(
            Indication::parse(&wrap("<state><b>active</b></state>")),
            Err(DocumentError::NoState)
        );
        assert_eq!(
            Indication::parse("<isComposing><state>active</state></isComposing>"),
            Err(DocumentError::NotIsComposing),
            "no namespace"
        );
        assert_eq!(
            Indication::parse("hello"),
            Err(DocumentError::NotIsComposing)
        );
        let big = wrap(&format!("<state>active</state>{}", " ".repeat(MAX_SIZE)));
        assert!(matches!(
            Indication::parse(&big),
            Err(DocumentError::TooBig(_))
        ));
        assert_eq!(Indication::parse("<"), Err(DocumentError::NotIsComposing));
        assert_eq!(
            Indication::parse(&format!("{NAMESPACE}<isComposing")),
            Err(DocumentError::NotIsComposing)
        );
    }

    #[test]
    fn the_content_type_matches_without_parameters_or_case() {
        assert!(is_iscomposing(
            "Application/IM-isComposing+XML; charset=utf-8"
        ));
        assert!(!is_iscomposing("text/plain"));
    }
}
