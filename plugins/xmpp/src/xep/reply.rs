//! XEP-0461 message replies, and the XEP-0428 fallback that quotes the
//! original for clients that do not know replies. The quote must go before
//! the text is used: relayed to a SIP peer it would repeat, to them, what
//! they wrote.

use xmpp_parsers::minidom::Element;

pub const NS_REPLY: &str = "urn:xmpp:reply:0";
/// XEP-0428's namespace, and the one its earlier versions used (still sent
/// by clients of 2022–2023).
const NS_FALLBACK: [&str; 2] = ["urn:xmpp:fallback:0", "urn:xmpp:feature-fallback:0"];

/// The id of the message `payloads` answer (`<reply id='…'/>`), if any.
pub fn reply_to(payloads: &[Element]) -> Option<String> {
    payloads
        .iter()
        .find(|p| p.is("reply", NS_REPLY))
        .and_then(|p| p.attr("id"))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// `body` without the ranges a reply's fallback marks (code points,
/// `start` inclusive, `end` exclusive, XEP-0426), trimmed. A fallback with
/// no range covers the whole body; ranges outside the body are ignored.
pub fn without_fallback(body: &str, payloads: &[Element]) -> String {
    let chars: Vec<char> = body.chars().collect();
    let mut quoted = vec![false; chars.len()];
    for fallback in payloads
        .iter()
        .filter(|p| NS_FALLBACK.iter().any(|ns| p.is("fallback", *ns)))
        .filter(|p| p.attr("for") == Some(NS_REPLY))
    {
        let ranges: Vec<&Element> = fallback.children().filter(|c| c.name() == "body").collect();
        if ranges.is_empty() {
            return String::new();
        }
        for range in ranges {
            let bound = |name: &str| range.attr(name).and_then(|v| v.parse::<usize>().ok());
            let (Some(start), Some(end)) = (bound("start"), bound("end")) else {
                continue;
            };
            for q in quoted.iter_mut().take(end.min(chars.len())).skip(start) {
                *q = true;
            }
        }
    }
    let kept: String = chars
        .iter()
        .zip(&quoted)
        .filter(|(_, q)| !**q)
        .map(|(c, _)| c)
        .collect();
    kept.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Vec<Element> {
        let message: Element = xml.parse().unwrap();
        message.children().cloned().collect()
    }

    #[test]
    fn a_conversations_reply_loses_its_quote() {
        // As Conversations sends it: the quote, a newline, then the answer.
        let body = "> Bob <sip:bob@example.org>: lunch?\nyes, at 1";
        let payloads = parse(
            "<message xmlns='jabber:client'>\
             <reply xmlns='urn:xmpp:reply:0' id='n-1' to='alice@example.org/tandem'/>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>\
             <body start='0' end='36'/></fallback></message>",
        );
        assert_eq!(reply_to(&payloads).as_deref(), Some("n-1"));
        assert_eq!(without_fallback(body, &payloads), "yes, at 1");
    }

    #[test]
    fn ranges_count_code_points_not_bytes() {
        let body = "> Zoë: ça va?\noui";
        let quote_len = "> Zoë: ça va?\n".chars().count();
        let payloads = parse(&format!(
            "<message xmlns='jabber:client'>\
             <fallback xmlns='urn:xmpp:feature-fallback:0' for='urn:xmpp:reply:0'>\
             <body start='0' end='{quote_len}'/></fallback></message>"
        ));
        assert_eq!(without_fallback(body, &payloads), "oui");
    }

    #[test]
    fn other_fallbacks_bad_ranges_and_plain_messages_keep_the_text() {
        let other = parse(
            "<message xmlns='jabber:client'>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:sfs:0'>\
             <body start='0' end='3'/></fallback></message>",
        );
        assert_eq!(without_fallback("abc def", &other), "abc def");
        let beyond = parse(
            "<message xmlns='jabber:client'>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>\
             <body start='4' end='999'/><body start='x' end='2'/></fallback></message>",
        );
        assert_eq!(without_fallback("abc def", &beyond), "abc");
        assert_eq!(without_fallback("hi", &[]), "hi");
        assert_eq!(reply_to(&[]), None);
    }

    #[test]
    fn a_fallback_without_ranges_is_the_whole_body() {
        let all = parse(
            "<message xmlns='jabber:client'>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'/></message>",
        );
        assert_eq!(without_fallback("> quoted only", &all), "");
    }
}
