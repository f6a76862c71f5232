//! Any datagram as RTP, RTCP or an RFC 4733 event: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_plugin_sip::media::{dtmf, rtcp, rtp};

fuzz_target!(|data: &[u8]| {
    if let Ok((_, payload)) = rtp::parse(data) {
        let _ = dtmf::ToneEvent::parse(payload);
    }
    let _ = rtcp::packet_types(data);
});
