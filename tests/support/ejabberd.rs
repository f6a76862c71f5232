//! A throwaway ejabberd (Debian's 23.01) on loopback, like the Prosody one:
//! own config, Mnesia spool and log in a temp folder, the test CA's
//! certificate for `localhost`, free ports, STARTTLS required, and the
//! stock modules a public server runs, `mod_fail2ban` included.
//!
//! Started with `erl` directly rather than `ejabberdctl foreground`: the
//! script only runs as root or the `ejabberd` user (and as root switches to
//! `ejabberd`, who cannot read the test's folder). The node is not
//! distributed (`nonode@nohost`: no `-sname`), so no epmd is started and no
//! distribution port listens at all, which is stricter than
//! `ERL_DIST_PORT` with `INET_DIST_INTERFACE=127.0.0.1`. Accounts are made
//! through the node's standard input: a small read-eval loop the launcher
//! passes with `-eval` (what `ejabberdctl register` would do over
//! distribution); the node halts when its input closes, so a test that
//! dies takes its server with it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::prosody::{free_port, DOMAIN};

/// Where Debian's package puts ejabberd and its Erlang libraries.
const ERL_LIBS: &str = "/usr/lib/x86_64-linux-gnu";

/// Reads one Erlang expression a line, evaluates it, prints `=> Value`;
/// halts the node at the end of input.
const REPL: &str = "Loop = fun L() -> case io:get_line(\"\") of eof -> erlang:halt(); Line -> \
    {ok, T, _} = erl_scan:string(Line), {ok, E} = erl_parse:parse_exprs(T), \
    {value, V, _} = erl_eval:exprs(E, []), io:format(\"=> ~p~n\", [V]), L() end end, Loop().";

/// How the server is set up.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `mod_fail2ban`'s `c2s_max_auth_failures` (Debian's default: 20).
    pub max_auth_failures: u32,
    /// Clients may create accounts (XEP-0077, `mod_register`).
    pub registration: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_auth_failures: 20,
            registration: false,
        }
    }
}

pub struct Ejabberd {
    dir: tempfile::TempDir,
    child: Option<Running>,
    pub port: u16,
    /// Where it takes XEP-0368 direct TLS.
    pub direct_tls_port: u16,
}

struct Running {
    child: Child,
    stdin: Mutex<ChildStdin>,
    answers: Mutex<mpsc::Receiver<String>>,
}

impl Ejabberd {
    /// Starts a server (Debian's defaults) and waits until it accepts
    /// connections.
    pub fn start() -> Ejabberd {
        Ejabberd::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Ejabberd {
        assert!(
            std::path::Path::new(ERL_LIBS)
                .join("ejabberd-23.01-1")
                .exists()
                || std::fs::read_dir(ERL_LIBS)
                    .map(|mut d| d.any(|e| {
                        e.map(|e| e.file_name().to_string_lossy().starts_with("ejabberd-"))
                            .unwrap_or(false)
                    }))
                    .unwrap_or(false),
            "ejabberd is not installed (apt-get install ejabberd; .ci/run does it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        crate::certs::make(d);
        std::fs::create_dir(d.join("spool")).unwrap();
        let port = free_port();
        let direct_tls_port = free_port();
        let config = format!(
            r#"hosts: ["{DOMAIN}"]
loglevel: info
log_rotate_count: 0
certfiles: ["{d}/server.pem", "{d}/server.key"]
ca_file: "{d}/ca.pem"
listen:
  - port: {port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
  - port: {direct_tls_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    tls: true
    max_stanza_size: 262144
s2s_access: none
auth_method: internal
auth_password_format: scram
acl:
  local: {{user_regexp: ""}}
access_rules:
  local: {{allow: local}}
  c2s: {{allow: all}}
  pubsub_createnode: {{allow: local}}
modules:
  mod_adhoc: {{}}
  mod_caps: {{}}
  mod_carboncopy: {{}}
  mod_disco: {{}}
  mod_fail2ban:
    c2s_max_auth_failures: {max_failures}
    c2s_auth_ban_lifetime: 1h
  mod_last: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_private: {{}}
  mod_pubsub:
    plugins: [flat, pep]
  mod_roster: {{versioning: true}}
  mod_stream_mgmt: {{}}
  mod_vcard: {{}}
{register}"#,
            d = d.display(),
            max_failures = options.max_auth_failures,
            register = if options.registration {
                "  mod_register: {access: all}\n"
            } else {
                ""
            },
        );
        std::fs::write(d.join("ejabberd.yml"), config).unwrap();
        let mut server = Ejabberd {
            dir,
            child: None,
            port,
            direct_tls_port,
        };
        server.resume();
        server
    }

    /// Starts a stopped server again on the same ports and spool.
    pub fn resume(&mut self) {
        let d = self.dir.path();
        let mut child = Command::new("erl")
            .arg("-noshell")
            .arg("-mnesia")
            .arg("dir")
            .arg(format!("\"{}\"", d.join("spool").display()))
            .args(["-s", "ejabberd", "-eval", REPL])
            .current_dir(d)
            .env("ERL_LIBS", ERL_LIBS)
            .env("EJABBERD_CONFIG_PATH", d.join("ejabberd.yml"))
            .env("EJABBERD_LOG_PATH", d.join("ejabberd.log"))
            .env("ERL_CRASH_DUMP", d.join("erl_crash.dump"))
            .env_remove("ERL_FLAGS")
            .env_remove("ERL_AFLAGS")
            .env_remove("ERL_ZFLAGS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start erl (apt-get install ejabberd)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(answer) = line.strip_prefix("=> ") {
                    let _ = tx.send(answer.to_owned());
                }
            }
        });
        self.child = Some(Running {
            child,
            stdin: Mutex::new(stdin),
            answers: Mutex::new(rx),
        });
        self.wait_until_listening();
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let listening = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !listening(self.port) || !listening(self.direct_tls_port) {
            let running = self.child.as_mut().unwrap();
            if let Some(status) = running.child.try_wait().unwrap() {
                panic!("ejabberd exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "ejabberd does not listen on {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Evaluates one Erlang expression on the node; answers what it printed.
    fn eval(&self, expression: &str) -> String {
        let running = self.child.as_ref().expect("ejabberd is stopped");
        writeln!(running.stdin.lock().unwrap(), "{expression}").unwrap();
        running
            .answers
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("ejabberd did not answer {expression}:\n{}", self.log()))
    }

    /// Creates `user@localhost`.
    pub fn register(&self, user: &str, password: &str) -> String {
        let answer = self.eval(&format!(
            "ejabberd_auth:try_register(<<{user:?}>>, <<{DOMAIN:?}>>, <<{password:?}>>)."
        ));
        assert_eq!(answer, "ok", "registering {user}");
        format!("{user}@{DOMAIN}")
    }

    /// Successful logins of `jid` (bare) so far, from the server's log.
    pub fn logins(&self, jid: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("Accepted c2s") && l.contains(&format!(" for {jid}")))
            .count()
    }

    /// Waits (20 s at most: ejabberd writes its log a little late) until
    /// `count` says at least `n`; answers the count then.
    pub fn wait_for_count(&self, n: usize, count: impl Fn(&Ejabberd) -> usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = count(self);
            if seen >= n || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Failed logins of `jid` (bare) so far, from the server's log.
    pub fn failed_logins(&self, jid: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("Failed c2s") && l.contains(&format!(" for {jid}")))
            .count()
    }

    /// Kills the server (clients see their connection drop).
    /// Stops the node as its operator would (`init:stop()`), so mnesia
    /// writes what it holds: a SIGKILL right after `register` could lose
    /// the account (seen: the login after the restart refused as "Invalid
    /// username or password"). Killed if it has not ended in 15 s.
    pub fn stop(&mut self) {
        if let Some(mut running) = self.child.take() {
            if let Ok(mut stdin) = running.stdin.lock() {
                let _ = writeln!(stdin, "init:stop().");
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = running.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }

    /// Kills the server and starts it again on the same ports and spool.
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ejabberd.log")).unwrap_or_default()
    }
}

impl crate::xmpp_server::XmppServer for Ejabberd {
    fn name(&self) -> &'static str {
        "ejabberd"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn ca(&self) -> PathBuf {
        Ejabberd::ca(self)
    }
    fn register(&self, user: &str, password: &str) -> String {
        Ejabberd::register(self, user, password)
    }
    fn log(&self) -> String {
        Ejabberd::log(self)
    }
    fn restart(&mut self) {
        Ejabberd::restart(self)
    }
}

impl Drop for Ejabberd {
    fn drop(&mut self) {
        self.stop();
    }
}
