//! Any datagram as a SIP message, through the parser the plugin receives
//! with (rsipstack's), including the typed headers the plugin reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsipstack::sip::headers::ToTypedHeader;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = SipMessage::try_from(data) else { return };
    let _ = message.to_string();
    let headers = match &message {
        SipMessage::Request(r) => &r.headers,
        SipMessage::Response(r) => &r.headers,
    };
    let _ = headers.iter().count();
    if let SipMessage::Response(response) = &message {
        if let Some(h) = response.www_authenticate_header() {
            let _ = h.typed();
        }
    }
    if let SipMessage::Request(request) = &message {
        let _ = request.from_header().map(|h| h.typed());
        let _ = request.to_header().map(|h| h.typed());
        let _ = request.call_id_header();
    }
});
