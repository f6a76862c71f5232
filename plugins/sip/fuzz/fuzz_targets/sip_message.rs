//! Any datagram as a SIP message, through the parser the plugin receives
//! with (rsipstack's), including the typed headers the plugin reads; and
//! through the plugin's UDP screen, whose every answer must itself be a
//! SIP response that parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsipstack::sip::headers::ToTypedHeader;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;
use tandem_plugin_sip::transport::screen::{screen, Verdict};

fuzz_target!(|data: &[u8]| {
    if let Verdict::Answer { bytes, .. } = screen(data) {
        assert!(
            matches!(SipMessage::try_from(&bytes[..]), Ok(SipMessage::Response(_))),
            "the screen answered with something that is not a response: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
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
