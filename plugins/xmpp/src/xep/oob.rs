//! XEP-0066 out-of-band data: the `<x xmlns='jabber:x:oob'><url>` that
//! Gajim, Dino and Conversations send with a file they uploaded (the body
//! being that same URL) and show inline when they receive one.

use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

pub const OOB: &str = "jabber:x:oob";

/// `<x xmlns='jabber:x:oob'>` for `url`.
pub fn oob(url: &str) -> Element {
    Oob {
        url: url.to_owned(),
        desc: None,
    }
    .into()
}

/// The URL of a message's OOB element, when it has one that is `http://`
/// or `https://` (what a shared upload is; other schemes are not files
/// Tandem can offer).
pub fn url(payloads: &[Element]) -> Option<String> {
    payloads
        .iter()
        .filter(|p| p.is("x", OOB))
        .filter_map(|p| Oob::try_from(p.clone()).ok())
        .map(|oob| oob.url.trim().to_owned())
        .find(|url| is_http(url))
}

/// An `http://` or `https://` URL (scheme case-insensitive).
pub fn is_http(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_the_url() {
        let url = "https://upload.example.org/a1/holiday.jpg";
        let text = String::from(&oob(url));
        assert!(text.contains("jabber:x:oob"), "{text}");
        assert!(text.contains(&format!("<url>{url}</url>")), "{text}");
        assert_eq!(super::url(&[oob(url)]).as_deref(), Some(url));
    }

    #[test]
    fn reads_only_web_links() {
        let x: Element = "<x xmlns='jabber:x:oob'><url>file:///etc/passwd</url></x>"
            .parse()
            .unwrap();
        assert_eq!(url(&[x]), None);
        let other: Element = "<x xmlns='jabber:x:data'/>".parse().unwrap();
        assert_eq!(url(&[other]), None);
    }
}
