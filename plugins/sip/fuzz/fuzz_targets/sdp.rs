//! Any bytes as an SDP offer: parsing and negotiating must return an error,
//! never panic; what negotiates must give an answer that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_plugin_sip::media::sdp;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = sdp::parse(data) else { return };
    let Ok(agreed) = offer.negotiate() else { return };
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let answer = sdp::answer(&offer, &agreed, 1, ip, 16384);
    sdp::parse(answer.as_bytes()).expect("our own answer parses");
});
