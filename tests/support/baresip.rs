//! baresip, a real SIP softphone, as the peer: a throwaway config folder,
//! a tone WAV as its microphone, and its own recordings (sndfile) of what
//! it sent and received.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::netns::{Network, Place, HOME, PEER, REGISTRAR};
use crate::sipp::free_udp_port;

pub struct Baresip {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// baresip's UDP console (`cons` module): each datagram is a key press.
    console: u16,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// Writes `seconds` of a sine at `hz` as 8 kHz mono 16-bit PCM.
pub fn write_tone(path: &std::path::Path, hz: f64, seconds: u32) {
    write_tone_at(path, hz, seconds, (8000, 1));
}

/// Like `write_tone`, at `rate` with `channels` (baresip's `aufile` wants
/// the codec's: Opus is 48 kHz stereo to it).
pub fn write_tone_at(path: &std::path::Path, hz: f64, seconds: u32, (rate, channels): (u32, u16)) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..rate * seconds {
        let t = f64::from(i) / f64::from(rate);
        let sample = (std::f64::consts::TAU * hz * t).sin() * 8000.0;
        for _ in 0..channels {
            writer.write_sample(sample as i16).unwrap();
        }
    }
    writer.finalize().unwrap();
}

/// The frequency of the tone in a recording, from the zero crossings of its
/// audible 20 ms blocks (gaps, such as DTMF time, are skipped): independent
/// of the plugin's own Goertzel analysis. At the file's own rate: baresip
/// records what it decoded at the codec's (16 kHz for G.722, 48 for Opus).
pub fn tone_in(path: &std::path::Path) -> f64 {
    let spec = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .spec();
    // The first channel: a stereo file's samples alternate.
    let samples: Vec<i16> = read_wav(path)
        .into_iter()
        .step_by(usize::from(spec.channels.max(1)))
        .collect();
    let audible: Vec<&[i16]> = samples
        .chunks_exact(spec.sample_rate as usize / 50)
        .filter(|block| block.iter().map(|s| i32::from(*s).abs()).max() > Some(1000))
        .collect();
    assert!(
        audible.len() > 50,
        "{}: only {} audible blocks of {} samples",
        path.display(),
        audible.len(),
        samples.len()
    );
    let crossings: usize = audible
        .iter()
        .map(|block| {
            block
                .windows(2)
                .filter(|w| (w[0] < 0) != (w[1] < 0))
                .count()
        })
        .sum();
    crossings as f64 / 2.0 / (audible.len() as f64 * 0.02)
}

/// The samples of a WAV file.
pub fn read_wav(path: &std::path::Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

impl Baresip {
    /// Starts baresip as `bob`, auto-answering, sending a tone of `hz`;
    /// with `dial`, it calls that URI once ready.
    pub fn start(hz: f64, dial: Option<&str>) -> Baresip {
        Baresip::start_for(hz, dial, 60)
    }

    /// Like `start`, quitting after `seconds` (a safety net for tests).
    pub fn start_for(hz: f64, dial: Option<&str>, seconds: u32) -> Baresip {
        Baresip::start_with(hz, dial, seconds, None, Site::loopback())
    }

    /// Like `start`, with more of baresip's modules loaded (`srtp`, …)
    /// and parameters added to its account (`mediaenc=srtp`).
    pub fn start_extended(hz: f64, dial: Option<&str>, modules: &[&str], account: &str) -> Baresip {
        let mut site = Site::loopback();
        site.modules = modules.iter().map(|m| format!("module {m}.so\n")).collect();
        site.account = format!("<sip:bob@127.0.0.1>;regint=0;answermode=auto{account}\n");
        Baresip::start_with(hz, dial, 60, None, site)
    }

    /// Like `start`, with `codec`'s module (`g722`, `opus`) in place of
    /// G.711's: baresip then has that codec and no other. baresip 1.0's
    /// `aufile` takes only a file at the codec's rate, `rate`.
    pub fn start_with_codec(hz: f64, dial: Option<&str>, codec: &str, rate: (u32, u16)) -> Baresip {
        let mut site = Site::loopback();
        site.codecs = format!("module {codec}.so\n");
        site.tone_rate = rate;
        Baresip::start_with(hz, dial, 60, None, site)
    }

    /// baresip on the public side of `network` (at `netns::PEER`), as
    /// `bob` registered with the registrar there on `registrar_port` (its
    /// password `password`), auto-answering, sending a tone of `hz`; with
    /// `dial`, it calls that URI once ready.
    pub fn start_public(
        network: &Network,
        hz: f64,
        (registrar_port, password): (u16, &str),
        dial: Option<&str>,
    ) -> Baresip {
        let site = Site {
            address: PEER.to_owned(),
            command: network.command(Place::Public, "baresip"),
            account: format!(
                "<sip:bob@{REGISTRAR}:{registrar_port}>;auth_pass={password};regint=600;answermode=auto\n"
            ),
            modules: String::new(),
            codecs: G711.to_owned(),
            tone_rate: (8000, 1),
        };
        Baresip::start_with(hz, dial, 60, None, site)
    }

    /// baresip at home behind `network`'s NAT (at `netns::HOME`) as
    /// `carol`, not registered, sending a tone of `hz`; with `stun`
    /// (`host:port`), its `stun` module asks that server for its public
    /// media address (`medianat=stun`), the reference for Tandem's STUN.
    pub fn start_home(
        network: &Network,
        hz: f64,
        stun: Option<&str>,
        dial: Option<&str>,
    ) -> Baresip {
        let (modules, nat) = stun_module(stun);
        let site = Site {
            address: HOME.to_owned(),
            command: network.command(Place::Home, "baresip"),
            account: format!("<sip:carol@{HOME}>;regint=0;answermode=auto{nat}\n"),
            modules,
            codecs: G711.to_owned(),
            tone_rate: (8000, 1),
        };
        Baresip::start_with(hz, dial, 60, None, site)
    }

    /// baresip at home behind `network`'s NAT, in Tandem's place: `user`
    /// registered with the registrar on the public side (`registrar_port`,
    /// `password`), auto-answering, sending a tone of `hz`; with `stun`, as
    /// in [`Baresip::start_home`]. The reference UA for calls through a
    /// registrar behind a NAT.
    pub fn start_home_registered(
        network: &Network,
        hz: f64,
        (user, registrar_port, password): (&str, u16, &str),
        stun: Option<&str>,
    ) -> Baresip {
        let (modules, nat) = stun_module(stun);
        let site = Site {
            address: HOME.to_owned(),
            command: network.command(Place::Home, "baresip"),
            account: format!(
                "<sip:{user}@{REGISTRAR}:{registrar_port}>;auth_pass={password};regint=600;answermode=auto{nat}\n"
            ),
            modules,
            codecs: G711.to_owned(),
            tone_rate: (8000, 1),
        };
        Baresip::start_with(hz, None, 60, None, site)
    }

    /// Like `start`, with SIP over TLS too: `certs` holds `ca.pem` (trusted)
    /// and `server.pem`/`server.key` (baresip's own certificate, for
    /// 127.0.0.1). baresip listens for TLS on `port + 1`; its account says
    /// `transport=tls`, so what it dials goes over TLS.
    pub fn start_tls(hz: f64, dial: Option<&str>, certs: &std::path::Path) -> Baresip {
        Baresip::start_with(hz, dial, 60, Some(certs), Site::loopback())
    }

    fn start_with(
        hz: f64,
        dial: Option<&str>,
        seconds: u32,
        tls: Option<&std::path::Path>,
        site: Site,
    ) -> Baresip {
        // Built before `-t` starts counting.
        crate::build_artifacts();
        // A port free for UDP when asked may be taken for TCP (or TLS on
        // the next one) by the time baresip binds both: another test's
        // connection got it. baresip then stops at once; try other ports.
        let mut tries = 0;
        loop {
            match Baresip::try_start(hz, dial, seconds, tls, site.clone()) {
                Ok(baresip) => return baresip,
                Err(log) if tries < 4 => {
                    tries += 1;
                    eprintln!("baresip: its port was taken, trying another:\n{log}");
                }
                Err(log) => panic!("baresip could not bind its ports:\n{log}"),
            }
        }
    }

    /// One start; `Err(log)` when a port it wanted was taken.
    fn try_start(
        hz: f64,
        dial: Option<&str>,
        seconds: u32,
        tls: Option<&std::path::Path>,
        site: Site,
    ) -> Result<Baresip, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let tone = dir.path().join("tone.wav");
        // Longer than any test: at the end of its file aufile stops the call.
        write_tone_at(&tone, hz, 60, site.tone_rate);
        let console = free_udp_port();
        std::fs::create_dir(dir.path().join("dump")).unwrap();
        let config = format!(
            "poll_method epoll\nsip_listen {address}:{port}\nsip_trans_def udp\n\
             audio_source aufile,{tone}\naudio_player\naudio_alert\n\
             audio_srate 8000\naudio_channels 1\n\
             module_path /usr/lib/baresip/modules\n\
             {codecs}{modules}module aufile.so\nmodule sndfile.so\n\
             module_app account.so\nmodule_app menu.so\nmodule cons.so\n\
             cons_listen 127.0.0.1:{console}\n\
             snd_path {dump}\nrtp_ports 20000-59999\n",
            tone = tone.display(),
            dump = dir.path().join("dump").display(),
            address = site.address,
            modules = site.modules,
            codecs = site.codecs,
        );
        let (config, account) = match tls {
            None => (config, site.account.as_str()),
            Some(certs) => {
                // baresip wants its certificate and key in one file.
                let identity = dir.path().join("identity.pem");
                let pem = [certs.join("server.pem"), certs.join("server.key")]
                    .map(|f| std::fs::read_to_string(f).unwrap())
                    .concat();
                std::fs::write(&identity, pem).unwrap();
                (
                    format!(
                        "{config}sip_certificate {}\nsip_cafile {}\n",
                        identity.display(),
                        certs.join("ca.pem").display()
                    ),
                    "<sip:bob@127.0.0.1;transport=tls>;regint=0;answermode=auto\n",
                )
            }
        };
        crate::write(dir.path(), "config", &config);
        crate::write(dir.path(), "accounts", account);
        let mut command = site.command;
        command
            .arg("-f")
            .arg(dir.path())
            .args(["-t", &seconds.to_string()]);
        if let Some(uri) = dial {
            command.args(["-e", &format!("/dial {uri}")]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run baresip (apt-get install baresip)");
        let log = crate::capture_output(&mut child);
        let baresip = Baresip {
            dir,
            port,
            console,
            child,
            log,
        };
        const TAKEN: &str = "Address already in use";
        let log = crate::wait_for_log("\"baresip is ready\" from baresip", || {
            let log = baresip.log();
            if log.contains("baresip is ready") || log.contains(TAKEN) {
                Ok(log)
            } else {
                Err(log)
            }
        });
        if log.contains(TAKEN) {
            return Err(log); // dropped: killed
        }
        Ok(baresip)
    }

    /// Presses `keys` on baresip's console, one at a time; in a call a
    /// digit key sends it as DTMF.
    pub fn press(&self, keys: &str) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for key in keys.bytes() {
            // A key stays down until baresip's KEYCODE_REL (0x04) lets go.
            for byte in [key, 0x04] {
                socket
                    .send_to(&[byte], ("127.0.0.1", self.console))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(150));
            }
        }
    }

    /// The DTMF digits baresip received, each counted once (at its end).
    pub fn received_digits(&self) -> String {
        self.log()
            .lines()
            .filter(|l| l.ends_with("(end=1)"))
            .filter_map(|l| l.split("received event: '").nth(1))
            .filter_map(|rest| rest.chars().next())
            .collect()
    }

    /// Quits as a user's Ctrl-C would (SIGTERM): a call in progress is
    /// hung up (BYE) and the recordings are finished.
    pub fn quit(&mut self) {
        crate::stop_gently(&mut self.child, "-TERM");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (20 s at most) for `needle` in baresip's output.
    pub fn wait_for(&self, needle: &str) -> String {
        crate::wait_for_log(&format!("{needle:?} from baresip"), || {
            let log = self.log();
            if log.contains(needle) {
                Ok(log)
            } else {
                Err(log)
            }
        })
    }

    /// What baresip decoded from the call (sndfile's `-dec.wav`).
    pub fn received_audio(&self) -> PathBuf {
        std::fs::read_dir(self.dir.path().join("dump"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("baresip recorded nothing")
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where baresip runs: its address, the command that starts it, its
/// account line.
struct Site {
    address: String,
    command: Command,
    account: String,
    /// `module x.so` lines beyond the defaults.
    modules: String,
    /// The codec modules' lines (G.711's unless a test wants another).
    codecs: String,
    /// The sample rate and channels of the tone file baresip sends.
    tone_rate: (u32, u16),
}

const G711: &str = "module g711.so\n";

/// The module line and account parameters that make baresip ask `stun`
/// (`host:port`) for its public media address; nothing without one.
fn stun_module(stun: Option<&str>) -> (String, String) {
    match stun {
        Some(server) => (
            "module stun.so\n".to_owned(),
            format!(";medianat=stun;stunserver=stun:{server}"),
        ),
        None => (String::new(), String::new()),
    }
}

impl Clone for Site {
    /// A `Command` is not `Clone`: the same program, arguments and
    /// environment again.
    fn clone(&self) -> Site {
        let mut command = Command::new(self.command.get_program());
        command.args(self.command.get_args());
        for (key, value) in self.command.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = self.command.get_current_dir() {
            command.current_dir(dir);
        }
        Site {
            address: self.address.clone(),
            command,
            account: self.account.clone(),
            modules: self.modules.clone(),
            codecs: self.codecs.clone(),
            tone_rate: self.tone_rate,
        }
    }
}

impl Site {
    fn loopback() -> Site {
        Site {
            address: "127.0.0.1".to_owned(),
            command: Command::new("baresip"),
            account: "<sip:bob@127.0.0.1>;regint=0;answermode=auto\n".to_owned(),
            modules: String::new(),
            codecs: G711.to_owned(),
            tone_rate: (8000, 1),
        }
    }
}
