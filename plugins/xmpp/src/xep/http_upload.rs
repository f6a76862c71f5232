//! XEP-0363 HTTP file upload: which of the server's services gives upload
//! slots (and up to what size), and the slot request and answer.

use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::http_upload::SlotResult;

pub const NS: &str = "urn:xmpp:http:upload:0";

/// Whether this disco#info is an upload service's: `Some(limit)` if it
/// is, with the largest file it takes when it says (XEP-0363 §3).
pub fn service_limit(info: &DiscoInfoResult) -> Option<Option<u64>> {
    if !info.features.iter().any(|f| f == NS) {
        return None;
    }
    let limit = info
        .extensions
        .iter()
        .filter(|form| form.form_type() == Some(NS))
        .flat_map(|form| form.fields.iter())
        .filter(|field| field.var.as_deref() == Some("max-file-size"))
        .find_map(|field| field.values.first()?.trim().parse().ok());
    Some(limit)
}

/// A slot as the SDK says it: PUT here with these headers, share that.
pub fn slot(result: SlotResult) -> tandem_sdk::commands::xmpp::Slot {
    tandem_sdk::commands::xmpp::Slot {
        put_url: result.put.url,
        get_url: result.get.url,
        headers: result
            .put
            .headers
            .into_iter()
            .map(|h| (h.name.as_str().to_owned(), h.value))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::minidom::Element;

    #[test]
    fn an_upload_service_is_found_with_its_limit() {
        // XEP-0363 §3's example 2.
        let info: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='store' type='file' name='HTTP File Upload'/>\
             <feature var='urn:xmpp:http:upload:0'/>\
             <x type='result' xmlns='jabber:x:data'>\
               <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>\
               <field var='max-file-size'><value>5242880</value></field>\
             </x></query>"
            .parse()
            .unwrap();
        let info = DiscoInfoResult::try_from(info).unwrap();
        assert_eq!(service_limit(&info), Some(Some(5_242_880)));
    }

    #[test]
    fn a_service_without_the_feature_is_not_one() {
        let info: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='conference' type='text' name='Rooms'/>\
             <feature var='http://jabber.org/protocol/muc'/></query>"
            .parse()
            .unwrap();
        let info = DiscoInfoResult::try_from(info).unwrap();
        assert_eq!(service_limit(&info), None);
    }

    #[test]
    fn a_slot_keeps_its_urls_and_headers() {
        // XEP-0363 §4's example 5.
        let answer: Element = "<slot xmlns='urn:xmpp:http:upload:0'>\
             <put url='https://upload.montague.tld/4a771ac1/tr%C3%A8s%20cool.jpg'>\
               <header name='Authorization'>Basic Base64String==</header>\
               <header name='Cookie'>foo=bar; user=romeo</header>\
             </put>\
             <get url='https://download.montague.tld/4a771ac1/tr%C3%A8s%20cool.jpg'/>\
             </slot>"
            .parse()
            .unwrap();
        let slot = slot(SlotResult::try_from(answer).unwrap());
        assert!(slot.put_url.starts_with("https://upload.montague.tld/"));
        assert!(slot.get_url.starts_with("https://download.montague.tld/"));
        assert_eq!(
            slot.headers,
            [
                (
                    "Authorization".to_owned(),
                    "Basic Base64String==".to_owned()
                ),
                ("Cookie".to_owned(), "foo=bar; user=romeo".to_owned())
            ]
        );
    }
}
