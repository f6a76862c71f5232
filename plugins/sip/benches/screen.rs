//! The UDP door screens every datagram before rsipstack parses it, so each
//! good request is parsed twice. This measures what that costs per
//! datagram, beside rsipstack's own parse of the same bytes: at the
//! ≈ 2,000 calls/s the load bench reaches, about 6,000 requests a second
//! come in (INVITE, ACK, BYE).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rsipstack::sip::SipMessage;
use std::hint::black_box;
use tandem_plugin_sip::transport::screen::{screen, Verdict};

const INVITE: &str = "INVITE sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5099>;tag=1SIPpTag001\r\n\
To: <sip:alice@127.0.0.1:5060>\r\n\
Call-ID: 1-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5099\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const UNKNOWN: &str = "FROBNICATE sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5099>;tag=1SIPpTag001\r\n\
To: <sip:alice@127.0.0.1:5060>\r\n\
Call-ID: 1-1@127.0.0.1\r\n\
CSeq: 1 FROBNICATE\r\n\
Content-Length: 0\r\n\r\n";

fn door(c: &mut Criterion) {
    let mut group = c.benchmark_group("screen");
    group.throughput(Throughput::Elements(1)); // one datagram
    group.bench_function("rsipstack_parse_invite", |b| {
        b.iter(|| SipMessage::try_from(black_box(INVITE.as_bytes())).is_ok())
    });
    group.bench_function("screen_good_invite", |b| {
        b.iter(|| assert_eq!(screen(black_box(INVITE.as_bytes())), Verdict::Pass))
    });
    group.bench_function("screen_unknown_method", |b| {
        b.iter(|| screen(black_box(UNKNOWN.as_bytes())))
    });
    group.finish();
}

criterion_group!(benches, door);
criterion_main!(benches);
