//! The per-packet work of a call, which runs 50 times a second per call in
//! each direction: G.711 coding of a 20 ms frame, RTP header write and
//! parse, and the receive path as the media loop runs it (parse, decode,
//! reorder). At 100 concurrent calls this is 10,000 frames a second. And
//! the sound device's rate conversion, per 20 ms of audio. And SRTP:
//! protecting a packet as the sender does, and checking and decrypting it
//! as the receiver does, for both suites. And G.722: encode + decode of a
//! 20 ms frame, ours beside spandsp's (the C library baresip uses) in the
//! same run, and as a call does it (16 kHz in and out, decision 0074);
//! Opus at 16 kHz, through our wrapper and libopus called directly.

#[path = "../tests/reference/spandsp.rs"]
mod spandsp;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tandem_plugin_sip::media::codec::{Codec, Coder};
use tandem_plugin_sip::media::g711::{self, Law};
use tandem_plugin_sip::media::jitter::JitterBuffer;
use tandem_plugin_sip::media::resample::Linear;
use tandem_plugin_sip::media::rtp::{self, RtpHeader, SequenceExtender};
use tandem_plugin_sip::media::srtp::{Inbound, MasterKey, Outbound, Suite};
use tandem_plugin_sip::media::{g722, opus};

/// 20 ms of a 440 Hz tone at 8 kHz.
fn frame() -> Vec<i16> {
    (0..160)
        .map(|i| ((std::f64::consts::TAU * 440.0 * f64::from(i) / 8000.0).sin() * 8000.0) as i16)
        .collect()
}

fn media(c: &mut Criterion) {
    let pcm = frame();
    let mut group = c.benchmark_group("media");
    group.throughput(Throughput::Elements(1)); // one 20 ms frame

    for (codec, name) in [(Law::Mu, "PCMU"), (Law::A, "PCMA")] {
        let mut encoded = Vec::with_capacity(160);
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                encoded.clear();
                g711::encode(codec, black_box(&pcm), &mut encoded);
            })
        });
        let mut bytes = Vec::new();
        g711::encode(codec, &pcm, &mut bytes);
        let mut decoded = Vec::with_capacity(160);
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                decoded.clear();
                g711::decode(codec, black_box(&bytes), &mut decoded);
            })
        });
    }

    let mut payload = Vec::new();
    g711::encode(Law::Mu, &pcm, &mut payload);
    let mut header = RtpHeader {
        payload_type: 0,
        ssrc: 0x1234_5678,
        ..Default::default()
    };
    let mut packet = Vec::with_capacity(172);
    group.bench_function("send_frame", |b| {
        // What the sender does per tick: encode, header, packet.
        let mut encoded = Vec::with_capacity(160);
        b.iter(|| {
            header.sequence = header.sequence.wrapping_add(1);
            header.timestamp = header.timestamp.wrapping_add(160);
            encoded.clear();
            g711::encode(Law::Mu, black_box(&pcm), &mut encoded);
            packet.clear();
            rtp::write(&header, &encoded, &mut packet);
        })
    });

    let packets: Vec<Vec<u8>> = (0..64u16)
        .map(|i| {
            let mut p = Vec::new();
            let h = RtpHeader {
                sequence: i,
                timestamp: u32::from(i) * 160,
                ..header
            };
            rtp::write(&h, &payload, &mut p);
            p
        })
        .collect();
    group.bench_function("receive_frame", |b| {
        // What the receiver does per packet: parse, extend, decode, reorder.
        let mut sequences = SequenceExtender::default();
        let mut jitter = JitterBuffer::default();
        let mut played = 0usize;
        let mut n = 0usize;
        b.iter(|| {
            let (h, body) = rtp::parse(black_box(&packets[n % packets.len()])).unwrap();
            let seq = sequences.extend(h.sequence.wrapping_add((n / 64 * 64) as u16));
            let mut decoded = Vec::with_capacity(160);
            g711::decode(Law::Mu, body, &mut decoded);
            jitter.push(seq, decoded, |f| played += f.len());
            n += 1;
        });
        black_box(played);
    });

    // SRTP on a 172-byte G.711 packet: protect (encrypt + HMAC-SHA1) then
    // unprotect (replay check, HMAC, decrypt): one packet each way, as a
    // call in both directions does every 20 ms.
    for suite in Suite::ALL {
        let key = MasterKey::random().unwrap();
        let mut outbound = Outbound::new(suite, &key);
        let mut inbound = Inbound::new(suite, &key);
        let mut h = header;
        let mut wire = Vec::with_capacity(200);
        group.bench_function(format!("srtp_protect_unprotect_{}", suite.name()), |b| {
            b.iter(|| {
                h.sequence = h.sequence.wrapping_add(1);
                rtp::write(&h, black_box(&payload), &mut wire);
                outbound.protect_rtp(&mut wire);
                let len = inbound.unprotect_rtp(&mut wire).unwrap();
                black_box(&wire[..len]);
            })
        });
    }
    let key = MasterKey::random().unwrap();
    let mut outbound = Outbound::new(Suite::AesCm128HmacSha1_80, &key);
    group.bench_function("srtp_protect_only", |b| {
        let mut h = header;
        let mut wire = Vec::with_capacity(200);
        b.iter(|| {
            h.sequence = h.sequence.wrapping_add(1);
            rtp::write(&h, black_box(&payload), &mut wire);
            outbound.protect_rtp(&mut wire);
        })
    });

    // The sound device's callbacks: 20 ms of a 48 kHz card to the call's
    // 8 kHz (microphone), and back (speaker), one frame per element.
    let card: Vec<f32> = (0..960)
        .map(|i| (std::f32::consts::TAU * 440.0 * i as f32 / 48000.0).sin() * 0.25)
        .collect();
    group.bench_function("resample_48k_to_8k", |b| {
        let mut converter = Linear::new(48000, 8000);
        let mut out = Vec::with_capacity(161);
        b.iter(|| {
            out.clear();
            for &sample in black_box(&card) {
                converter.push(sample, |y| out.push(y));
            }
        })
    });
    group.bench_function("resample_8k_to_48k", |b| {
        let mut converter = Linear::new(8000, 48000);
        let mut out = vec![0f32; 960];
        b.iter(|| {
            let mut input = pcm.iter().map(|&s| f32::from(s) / 32768.0);
            for sample in out.iter_mut() {
                *sample = converter.pull(|| input.next().unwrap_or(0.0));
            }
            black_box(&out);
        })
    });
    group.finish();
}

/// 20 ms of a 440 Hz tone at 16 kHz, G.722's rate.
fn wide_frame() -> Vec<i16> {
    (0..320)
        .map(|i| ((std::f64::consts::TAU * 440.0 * f64::from(i) / 16000.0).sin() * 8000.0) as i16)
        .collect()
}

/// G.722 encode + decode of one 20 ms frame (320 samples, 160 bytes),
/// both directions of a call's work: ours, spandsp's, and ours as the
/// call runs it (16 kHz in and out through the `Coder`).
fn codecs(c: &mut Criterion) {
    let wide = wide_frame();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1)); // one 20 ms frame each way

    let (mut encoder, mut decoder) = (g722::Encoder::default(), g722::Decoder::default());
    let (mut bytes, mut pcm) = (Vec::with_capacity(160), Vec::with_capacity(320));
    group.bench_function("g722_encode_decode_ours", |b| {
        b.iter(|| {
            encoder.encode(black_box(&wide), &mut bytes);
            decoder.decode(black_box(&bytes), &mut pcm);
        })
    });
    let reference = spandsp::Spandsp::load();
    let (mut encoder, mut decoder) = (reference.encoder(), reference.decoder());
    group.bench_function("g722_encode_decode_spandsp", |b| {
        b.iter(|| {
            encoder.encode(black_box(&wide), &mut bytes);
            decoder.decode(black_box(&bytes), &mut pcm);
        })
    });
    let (mut sender, mut receiver) = (
        Coder::new(Codec::G722).unwrap(),
        Coder::new(Codec::G722).unwrap(),
    );
    group.bench_function("g722_call_frame", |b| {
        b.iter(|| {
            sender.encode(black_box(&wide), &mut bytes);
            receiver.decode(black_box(&bytes), &mut pcm);
        })
    });

    // Opus at 16 kHz, 28 kbit/s, FEC on: the plugin's wrapper, and libopus
    // called straight through its C API with the same settings.
    let (mut encoder, mut decoder) = (opus::Encoder::new().unwrap(), opus::Decoder::new().unwrap());
    group.bench_function("opus_encode_decode_ours", |b| {
        b.iter(|| {
            encoder.encode(black_box(&wide), &mut bytes);
            decoder.decode(black_box(&bytes), &mut pcm);
        })
    });
    let direct = raw_opus::Direct::new(16000);
    let mut packet = [0u8; 1275];
    let mut out = [0i16; 960];
    group.bench_function("opus_encode_decode_libopus", |b| {
        b.iter(|| {
            let n = direct.encode(black_box(&wide), &mut packet);
            black_box(direct.decode(&packet[..n], &mut out));
        })
    });
    // The same at 8 kHz, as calls were coded before decision 0074: what
    // wideband costs, in the same run.
    let narrow = frame();
    let direct = raw_opus::Direct::new(8000);
    group.bench_function("opus_encode_decode_libopus_8k", |b| {
        b.iter(|| {
            let n = direct.encode(black_box(&narrow), &mut packet);
            black_box(direct.decode(&packet[..n], &mut out));
        })
    });
    group.finish();
}

/// libopus without the plugin's wrapper: the reference for its overhead.
mod raw_opus {
    use std::os::raw::{c_int, c_void};

    pub struct Direct {
        encoder: *mut c_void,
        decoder: *mut c_void,
        encode: unsafe extern "C" fn(*mut c_void, *const i16, c_int, *mut u8, i32) -> i32,
        decode: unsafe extern "C" fn(*mut c_void, *const u8, i32, *mut i16, c_int, c_int) -> c_int,
        _library: libloading::Library,
    }

    impl Direct {
        /// An encoder and decoder at `rate` Hz.
        pub fn new(rate: i32) -> Direct {
            // SAFETY: opus.h's signatures; states checked non-null; the
            // bench process ends without freeing them.
            unsafe {
                let library = libloading::Library::new("libopus.so.0").unwrap();
                let create: libloading::Symbol<
                    unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void,
                > = library.get(b"opus_encoder_create\0").unwrap();
                let ctl: libloading::Symbol<
                    unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int,
                > = library.get(b"opus_encoder_ctl\0").unwrap();
                let create_decoder: libloading::Symbol<
                    unsafe extern "C" fn(i32, c_int, *mut c_int) -> *mut c_void,
                > = library.get(b"opus_decoder_create\0").unwrap();
                let mut error = 0;
                let encoder = create(rate, 1, 2048, &mut error);
                for (request, value) in [(4002, 28000), (4012, 1), (4014, 10), (4016, 0)] {
                    ctl(encoder, request, value);
                }
                let decoder = create_decoder(rate, 1, &mut error);
                assert!(!encoder.is_null() && !decoder.is_null());
                Direct {
                    encoder,
                    decoder,
                    encode: *library.get(b"opus_encode\0").unwrap(),
                    decode: *library.get(b"opus_decode\0").unwrap(),
                    _library: library,
                }
            }
        }

        pub fn encode(&self, pcm: &[i16], packet: &mut [u8]) -> usize {
            // SAFETY: buffers sized as libopus needs.
            unsafe {
                (self.encode)(
                    self.encoder,
                    pcm.as_ptr(),
                    pcm.len() as c_int,
                    packet.as_mut_ptr(),
                    packet.len() as i32,
                ) as usize
            }
        }

        pub fn decode(&self, packet: &[u8], out: &mut [i16]) -> c_int {
            // SAFETY: as above.
            unsafe {
                (self.decode)(
                    self.decoder,
                    packet.as_ptr(),
                    packet.len() as i32,
                    out.as_mut_ptr(),
                    out.len() as c_int,
                    0,
                )
            }
        }
    }
}

criterion_group!(benches, media, codecs);
criterion_main!(benches);
