//! A call whose codec changes rate mid-call (a re-INVITE from G.722 to
//! PCMU): the media task switches coders at once, what it sends is the
//! new codec's 8 kHz audio on the same RTP clock, and the recording,
//! opened at 16 kHz for G.722, stays one 16 kHz file holding both halves
//! of the call. Over real UDP sockets on loopback, a plain socket as the
//! peer: the switch is ours to make, and no SIP peer re-INVITEs to order.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tandem_plugin_sip::media::analysis::dominant;
use tandem_plugin_sip::media::audio::Rate;
use tandem_plugin_sip::media::call_audio::CallAudio;
use tandem_plugin_sip::media::codec::Codec;
use tandem_plugin_sip::media::g711::{self, Law};
use tandem_plugin_sip::media::g722;
use tandem_plugin_sip::media::rtp::{self, RtpHeader};
use tandem_plugin_sip::media::sdp::{Direction, Negotiated};
use tandem_plugin_sip::media::sink::WavRecorder;
use tandem_plugin_sip::media::source::{AudioSource, Tone};
use tandem_plugin_sip::media::{ActiveMedia, PreparedMedia};
use tandem_sdk::tokio;
use tokio::net::UdpSocket;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn agreed(codec: Codec, peer: SocketAddr) -> Negotiated {
    Negotiated {
        codec,
        payload_type: codec.offered_payload_type(),
        dtmf: None,
        remote_ip: peer.ip(),
        remote_port: peer.port(),
        direction: Direction::SendRecv,
        srtp: None,
        dtls: None,
        secure_profile: false,
    }
}

/// What the peer heard: `frames` packets of payload type `pt` (others
/// skipped), as (timestamp, payload).
async fn receive(peer: &UdpSocket, pt: u8, frames: usize) -> Vec<(u32, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < frames {
        let (len, _) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
            .await
            .expect("the media task stopped sending")
            .unwrap();
        let Ok((header, payload)) = rtp::parse(&buf[..len]) else {
            continue;
        };
        if header.payload_type == pt {
            got.push((header.timestamp, payload.to_vec()));
        }
    }
    got
}

/// The peer sends `frames` packets of `tone` coded by `encode`, 20 ms
/// apart, from `sequence` on.
async fn send(
    peer: &UdpSocket,
    to: SocketAddr,
    pt: u8,
    (tone, rate): (&mut Tone, Rate),
    encode: &mut dyn FnMut(&[i16], &mut Vec<u8>),
    sequence: &mut u16,
    frames: usize,
) {
    let (mut pcm, mut payload, mut packet) = (vec![0i16; rate.frame()], Vec::new(), Vec::new());
    for _ in 0..frames {
        tone.fill(&mut pcm);
        encode(&pcm, &mut payload);
        let header = RtpHeader {
            payload_type: pt,
            sequence: *sequence,
            timestamp: u32::from(*sequence) * 160,
            ssrc: 7,
            ..Default::default()
        };
        rtp::write(&header, &payload, &mut packet);
        peer.send_to(&packet, to).await.unwrap();
        *sequence = sequence.wrapping_add(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_reinvite_from_g722_to_pcmu_switches_the_rate_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("call.wav");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let peer = UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
        let peer_at = peer.local_addr().unwrap();
        let prepared = PreparedMedia::bind(LOOPBACK, [42000, 42998]).await.unwrap();
        let tandem = SocketAddr::new(LOOPBACK, prepared.port);
        // Opened as the call starts: G.722, so at 16 kHz.
        let audio = CallAudio::new(
            Box::new(Tone::new(1000.0, 8000.0, Rate::Wide)),
            Box::new(WavRecorder::create(&recording, Rate::Wide).unwrap()),
            Rate::Wide,
        );
        let media = ActiveMedia::start(
            prepared,
            agreed(Codec::G722, peer_at),
            audio,
            "test@127.0.0.1".into(),
            None,
            |_| {},
        )
        .unwrap();

        // G.722: 6 kHz from the peer, 160-byte payloads of 1 kHz to it.
        let mut sequence = 100;
        let mut encoder = g722::Encoder::default();
        send(
            &peer,
            tandem,
            9,
            (&mut Tone::new(6000.0, 8000.0, Rate::Wide), Rate::Wide),
            &mut |pcm, out| encoder.encode(pcm, out),
            &mut sequence,
            50,
        )
        .await;
        let wide = receive(&peer, 9, 10).await;
        assert!(wide.iter().all(|(_, p)| p.len() == 160));

        // The re-INVITE agrees PCMU.
        media.update(agreed(Codec::Pcmu, peer_at));
        let narrow = receive(&peer, 0, 40).await;
        // 160 μ-law bytes a frame (20 ms at 8 kHz), on the same 8000 Hz
        // RTP clock, 160 a frame.
        assert!(narrow.iter().all(|(_, p)| p.len() == 160));
        assert!(narrow
            .windows(2)
            .all(|w| w[1].0.wrapping_sub(w[0].0) % 160 == 0));
        let mut heard = Vec::new();
        for (_, payload) in &narrow[10..] {
            let mut pcm = Vec::new();
            g711::decode(Law::Mu, payload, &mut pcm);
            heard.extend(pcm);
        }
        assert_eq!(
            dominant(&heard, &[500.0, 1000.0, 2000.0, 3000.0], 8000.0),
            Some(1000.0),
            "the 16 kHz tone, brought to 8 kHz, is still 1 kHz"
        );
        // The peer now sends PCMU: 2 kHz.
        send(
            &peer,
            tandem,
            0,
            (&mut Tone::new(2000.0, 8000.0, Rate::Narrow), Rate::Narrow),
            &mut |pcm, out| g711::encode(Law::Mu, pcm, out),
            &mut sequence,
            50,
        )
        .await;
        let stats = media.stop().await;
        assert_eq!(stats.codec, "PCMU");
    });

    // One 16 kHz file: the G.722 second holds 6 kHz, the PCMU second
    // 2 kHz (brought up to 16 kHz), and nothing is lost at the switch.
    let reader = hound::WavReader::open(&recording).unwrap();
    assert_eq!(reader.spec().sample_rate, 16000);
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert!(samples.len() >= 16000 * 19 / 10, "{}", samples.len());
    let candidates = [1000.0, 2000.0, 4000.0, 6000.0];
    let first = &samples[3200..14400];
    let last = &samples[samples.len() - 12800..samples.len() - 1600];
    assert_eq!(dominant(first, &candidates, 16000.0), Some(6000.0));
    assert_eq!(dominant(last, &candidates, 16000.0), Some(2000.0));
}
