//! A media relay that keeps what crosses it: it stands at the address
//! Tandem's SDP names (`media_address`), forwards each datagram between
//! Tandem's RTP socket and the peer, and keeps a copy, so a test sees the
//! packets as they were on the wire.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Which way a kept datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    FromTandem,
    ToTandem,
}

type Kept = Arc<Mutex<Vec<(Way, Vec<u8>)>>>;

pub struct MediaRelay {
    /// The address to give Tandem as `media_address`.
    pub address: std::net::IpAddr,
    /// The even port Tandem must bind (`rtp_ports = [port, port + 1]`).
    pub port: u16,
    kept: Kept,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl MediaRelay {
    /// A relay on 127.0.0.2 for Tandem's RTP and RTCP on 127.0.0.1, at a
    /// port pair free on both.
    pub fn start() -> MediaRelay {
        let address = std::net::IpAddr::from([127, 0, 0, 2]);
        let (port, sockets) = (0..200)
            .find_map(|attempt| {
                let port =
                    30_000 + 2 * ((std::process::id() as u16).wrapping_add(attempt * 7) % 5000);
                let rtp = UdpSocket::bind((address, port)).ok()?;
                let rtcp = UdpSocket::bind((address, port + 1)).ok()?;
                // Tandem binds the same ports on 127.0.0.1: they must be free.
                UdpSocket::bind(("127.0.0.1", port)).ok()?;
                UdpSocket::bind(("127.0.0.1", port + 1)).ok()?;
                Some((port, [rtp, rtcp]))
            })
            .expect("no free port pair on 127.0.0.2 for the relay");
        let kept = Kept::default();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = sockets
            .into_iter()
            .enumerate()
            .map(|(i, socket)| {
                let tandem = SocketAddr::from(([127, 0, 0, 1], port + i as u16));
                // RTCP is relayed, not kept: the tests look at RTP.
                let kept = (i == 0).then(|| kept.clone());
                let stop = stop.clone();
                std::thread::spawn(move || relay(socket, tandem, kept, &stop))
            })
            .collect();
        MediaRelay {
            address,
            port,
            kept,
            stop,
            threads,
        }
    }

    /// The config lines that put Tandem's media behind this relay.
    pub fn config(&self) -> String {
        format!(
            "media_bind = \"127.0.0.1\"\nmedia_address = \"{}\"\nrtp_ports = [{}, {}]\n",
            self.address,
            self.port,
            self.port + 1
        )
    }

    /// The RTP datagrams that went `way`, as they were on the wire.
    pub fn kept(&self, way: Way) -> Vec<Vec<u8>> {
        self.kept
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| *w == way)
            .map(|(_, packet)| packet.clone())
            .collect()
    }
}

impl Drop for MediaRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn relay(socket: UdpSocket, tandem: SocketAddr, kept: Option<Kept>, stop: &AtomicBool) {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut peer = None;
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let (way, to) = if from == tandem {
            (Way::FromTandem, peer)
        } else {
            peer = Some(from);
            (Way::ToTandem, Some(tandem))
        };
        if let Some(to) = to {
            let _ = socket.send_to(&buf[..len], to);
        }
        if let Some(kept) = &kept {
            kept.lock().unwrap().push((way, buf[..len].to_vec()));
        }
    }
}

/// How much of a 20 ms μ-law payload's energy is a tone of `hz`
/// (Goertzel, 0 to about 1): a clear tone scores near 1, encrypted bytes
/// read as μ-law are noise and score near 2/160.
pub fn ulaw_tone_share(payload: &[u8], hz: f64) -> f64 {
    let samples: Vec<f64> = payload.iter().map(|&b| f64::from(ulaw(b))).collect();
    let n = samples.len() as f64;
    let coefficient = 2.0 * (std::f64::consts::TAU * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in &samples {
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    let energy: f64 = samples.iter().map(|x| x * x).sum();
    if energy == 0.0 {
        return 0.0;
    }
    power / (n / 2.0 * energy)
}

/// G.711 μ-law to linear (ITU-T G.711), written here apart from the
/// plugin's so the check does not trust the code it checks.
fn ulaw(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}
