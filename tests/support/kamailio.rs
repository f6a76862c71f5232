//! Kamailio, a real SIP registrar, on a free loopback port: digest
//! authentication with SHA-256 (RFC 8760) and qop=auth, the password of
//! every user the one given, bindings kept in memory.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::sipp::free_udp_port;

pub struct Kamailio {
    pub port: u16,
    /// Where it takes SIP over TLS, when started with `start_tls`.
    pub tls_port: Option<u16>,
    _dir: tempfile::TempDir,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// Where Debian puts Kamailio's modules.
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

impl Kamailio {
    /// Starts a registrar challenging with `algorithm` ("SHA-256" or "MD5").
    pub fn start(algorithm: &str, password: &str) -> Kamailio {
        Kamailio::start_with(algorithm, password, None)
    }

    /// Like `start`, also listening for SIP over TLS with the certificate
    /// in `certs` (`server.pem`, `server.key`, from `certs::make`).
    pub fn start_tls(algorithm: &str, password: &str, certs: &std::path::Path) -> Kamailio {
        Kamailio::start_with(algorithm, password, Some(certs))
    }

    fn start_with(algorithm: &str, password: &str, certs: Option<&std::path::Path>) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let tls_port = certs.map(|_| crate::prosody::free_port());
        let tls = match (certs, tls_port) {
            (Some(certs), Some(tls_port)) => {
                let tls_cfg = crate::write(
                    dir.path(),
                    "tls.cfg",
                    &format!(
                        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
                         private_key = {key}\ncertificate = {cert}\n\n[client:default]\nverify_certificate = no\n",
                        key = certs.join("server.key").display(),
                        cert = certs.join("server.pem").display(),
                    ),
                );
                format!(
                    "enable_tls=yes\nlisten=tls:127.0.0.1:{tls_port}\nloadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"{}\")\n",
                    tls_cfg.display()
                )
            }
            _ => String::new(),
        };
        // www_challenge flag 1: offer qop=auth. Each REGISTER that
        // authenticates is logged with its Authorization header, so the test
        // can see the algorithm and qop the client used.
        let config = format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{MODULES}"
{tls}
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "secret", "tandem-test-nonce-secret")
modparam("auth", "nonce_count", 1)

request_route {{
    if (!is_method("REGISTER")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if (!pv_www_authenticate("$td", "{password}", "0")) {{
        xlog("L_NOTICE", "CHALLENGE $fu (result $rc) auth=$hdr(Authorization)\n");
        www_challenge("$td", "1");
        exit;
    }}
    if (!save("location")) {{
        sl_reply_error();
        exit;
    }}
    xlog("L_NOTICE", "REGISTERED $fu proto=$proto expires=$hdr(Expires) contact=$hdr(Contact) auth=$hdr(Authorization)\n");
}}
"#
        );
        let file = crate::write(dir.path(), "kamailio.cfg", &config);
        let mut child = Command::new("kamailio")
            .arg("-f")
            .arg(&file)
            .args(["-DD", "-E", "-w"])
            .arg(dir.path())
            .arg("-Y")
            .arg(dir.path())
            // Its own process group: Kamailio forks workers, and the whole
            // group is stopped on drop.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run kamailio (apt-get install kamailio)");
        let log = crate::capture_output(&mut child);
        let mut kamailio = Kamailio {
            port,
            tls_port,
            _dir: dir,
            child,
            log,
        };
        // The UDP receiver is set up once the workers start.
        kamailio.wait_for("SO_RCVBUF is finally");
        kamailio
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (20 s at most) for `needle` in Kamailio's log.
    pub fn wait_for(&mut self, needle: &str) -> String {
        crate::wait_for_log(&format!("{needle:?} from kamailio"), || {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kamailio exited ({status}):\n{log}");
            }
            Err(log)
        })
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}
