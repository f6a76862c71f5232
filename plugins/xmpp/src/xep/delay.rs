//! XEP-0203 delayed delivery: `<delay stamp='…' from='…'/>` on a message
//! that waited, with XEP-0082's UTC time, so the user's client shows when
//! it was written rather than when it arrived.

use xmpp_parsers::minidom::rxml::NcName;
use xmpp_parsers::minidom::Element;

pub const NS: &str = "urn:xmpp:delay";

/// The element for a message written at `secs` (Unix seconds), delayed by
/// `from` (the sidecar's JID) when known.
pub fn element(secs: u64, from: Option<&str>) -> Element {
    let name = |n: &'static str| NcName::try_from(n).expect("a valid XML name");
    let mut delay = Element::builder("delay", NS).attr(name("stamp"), xep0082(secs));
    if let Some(from) = from {
        delay = delay.attr(name("from"), from);
    }
    delay.build()
}

/// `secs` as XEP-0082's UTC form, `2026-12-06T17:05:09Z`.
pub fn xep0082(secs: u64) -> String {
    tandem_sdk::util::utc::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_xep_0082_utc() {
        assert_eq!(xep0082(0), "1970-01-01T00:00:00Z");
        assert_eq!(xep0082(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(xep0082(1_796_576_709), "2026-12-06T17:05:09Z");
        let e = element(0, Some("alice@example.org/tandem"));
        assert_eq!(e.attr("stamp"), Some("1970-01-01T00:00:00Z"));
        assert_eq!(e.attr("from"), Some("alice@example.org/tandem"));
        assert!(e.is("delay", NS));
    }
}
