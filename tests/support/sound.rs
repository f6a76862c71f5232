//! A sound server for tests of the sound device: PulseAudio on its own
//! socket, with two null sinks that run on a real clock — `speaker` (what
//! a program plays; its monitor is recorded) and `mic` (a WAV played into
//! it; its monitor is the default microphone). Programs reach it through
//! ALSA's pulse plugin, as they do on a desktop, so the code under test
//! goes through the same ALSA calls it makes on a user's machine.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SoundServer {
    dir: tempfile::TempDir,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// A program playing into or recording from the server; stopped on drop.
pub struct Stream(Child);

impl SoundServer {
    pub fn start() -> SoundServer {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        crate::write(
            dir.path(),
            "default.pa",
            &format!(
                "load-module module-native-protocol-unix socket={} auth-anonymous=1\n\
                 load-module module-null-sink sink_name=speaker\n\
                 load-module module-null-sink sink_name=mic\n\
                 set-default-sink speaker\n\
                 set-default-source mic.monitor\n",
                socket.display()
            ),
        );
        // What ALSA programs given `env()` read: everything to this server.
        let server = format!("unix:{}", socket.display());
        crate::write(
            dir.path(),
            "config/alsa/asoundrc",
            &format!(
                "pcm.!default {{ type pulse; server \"{server}\" }}\n\
                 ctl.!default {{ type pulse; server \"{server}\" }}\n"
            ),
        );
        let mut child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
            ])
            .arg("-F")
            .arg(dir.path().join("default.pa"))
            // Its state and cookie in the temp folder, not the user's.
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run pulseaudio (apt-get install pulseaudio)");
        let log = crate::capture_output(&mut child);
        let mut sound = SoundServer { dir, child, log };
        sound.wait_until_ready();
        sound
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = Command::new("pactl")
                .arg(format!("--server={}", self.server()))
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pulseaudio exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "pulseaudio not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn server(&self) -> String {
        format!("unix:{}", self.dir.path().join("native").display())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The environment under which a program's ALSA default device is
    /// this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![(
            "XDG_CONFIG_HOME".into(),
            self.dir.path().join("config").display().to_string(),
        )]
    }

    /// Plays `wav` into the microphone, in real time.
    pub fn speak_into_microphone(&self, wav: &Path) -> Stream {
        Stream(
            Command::new("paplay")
                .arg(format!("--server={}", self.server()))
                .arg("--device=mic")
                .arg(wav)
                .stdin(Stdio::null())
                .spawn()
                .expect("cannot run paplay (apt-get install pulseaudio-utils)"),
        )
    }

    /// Records what programs play to the speaker, as 8 kHz mono WAV.
    pub fn record_speaker(&self, wav: &Path) -> Stream {
        self.record_speaker_at(wav, 8000)
    }

    /// Like `record_speaker`, at `rate` (16000 for a wideband call).
    pub fn record_speaker_at(&self, wav: &Path, rate: u32) -> Stream {
        Stream(
            Command::new("parecord")
                .arg(format!("--server={}", self.server()))
                .args([
                    // Small fragments: what parecord still buffers when it
                    // is interrupted is lost (seconds, at its default).
                    "--latency-msec=20",
                    "--device=speaker.monitor",
                    "--file-format=wav",
                    &format!("--rate={rate}"),
                    "--channels=1",
                    "--format=s16le",
                ])
                .arg(wav)
                .stdin(Stdio::null())
                .spawn()
                .expect("cannot run parecord (apt-get install pulseaudio-utils)"),
        )
    }
}

impl Stream {
    /// Stops it the way a user would (Ctrl-C), so a recording is closed
    /// with a complete WAV header.
    pub fn stop(mut self) {
        crate::stop_gently(&mut self.0, "-INT");
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            crate::stop_gently(&mut self.0, "-INT");
        }
    }
}

impl Drop for SoundServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
