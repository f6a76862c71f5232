//! Kamailio, a real SIP registrar, on a free loopback port: digest
//! authentication with SHA-256 (RFC 8760) and qop=auth, the password of
//! every user the one given, bindings kept in memory.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::netns::{Network, Place, REGISTRAR};
use crate::sipp::free_udp_port;

pub struct Kamailio {
    pub port: u16,
    /// Where it takes SIP over TLS, when started with `start_tls`.
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Child,
    /// Its config file, to start it again (`restart`).
    file: std::path::PathBuf,
    log: Arc<Mutex<String>>,
}

/// Where Debian puts Kamailio's modules.
pub(crate) const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

impl Kamailio {
    /// Starts a registrar challenging with `algorithm` ("SHA-256" or "MD5").
    pub fn start(algorithm: &str, password: &str) -> Kamailio {
        Kamailio::start_with(algorithm, password, None, Site::loopback(), None)
    }

    /// Like `start`, also listening for SIP over TLS with the certificate
    /// in `certs` (`server.pem`, `server.key`, from `certs::make`).
    pub fn start_tls(algorithm: &str, password: &str, certs: &std::path::Path) -> Kamailio {
        Kamailio::start_with(algorithm, password, Some(certs), Site::loopback(), None)
    }

    /// A registrar that is also the proxy between its users (MD5 digest on
    /// REGISTER only), on the public side of `network`; with
    /// `ProviderHelp::Nathelper`, it rewrites the private addresses of users
    /// behind a NAT as many providers do.
    pub fn start_proxy(network: &Network, help: ProviderHelp, password: &str) -> Kamailio {
        let site = Site {
            address: REGISTRAR.to_owned(),
            command: network.command(Place::Public, "kamailio"),
        };
        Kamailio::start_with("MD5", password, None, site, Some(help))
    }

    /// A registrar that is also the proxy between its users (MD5 digest on
    /// REGISTER only, no NAT help), on the loopback address `address`
    /// (127.0.0.2, say): requests it relays come from an address no test
    /// peer on 127.0.0.1 shares, so what came through it can be told from
    /// what came straight.
    pub fn start_loopback_proxy(address: &str, password: &str) -> Kamailio {
        let site = Site {
            address: address.to_owned(),
            command: Command::new("kamailio"),
        };
        Kamailio::start_with("MD5", password, None, site, Some(ProviderHelp::Plain))
    }

    /// A registrar and proxy on loopback (MD5 digest on REGISTER) that
    /// does RFC 5626 outbound as Kamailio's outbound module's documentation
    /// sets one up when it is its users' first hop (`outbound.so` before
    /// `path.so` and `rr.so`, `stun.so` for STUN keep-alives on its SIP
    /// port, `registrar`'s `outbound_mode` 1), or, with
    /// `Outbound::Refuses439`, one whose first hop lacks outbound: it
    /// answers a REGISTER naming a `reg-id` with 439, as RFC 5626 §6 has a
    /// registrar do behind such an edge proxy. Its bindings are read with
    /// [`Kamailio::bindings`].
    pub fn start_outbound(password: &str, outbound: Outbound) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let ctl = dir.path().join("ctl.sock");
        let refuse = match outbound {
            Outbound::Keeps => "",
            Outbound::Refuses439 => {
                "    if (is_method(\"REGISTER\") && $hdr(Contact) =~ \"reg-id\") {\n        \
                 sl_send_reply(\"439\", \"First Hop Lacks Outbound Support\");\n        exit;\n    }\n"
            }
        };
        let route = proxy_route(password, ProviderHelp::Plain).replacen(
            "request_route {\n",
            &format!("request_route {{\n{refuse}"),
            1,
        );
        let config = format!(
            r#"{head}
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "outbound.so"
loadmodule "stun.so"
loadmodule "path.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "ctl.so"
{PROXY_MODULES}
modparam("ctl", "binrpc", "unix:{ctl}")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "outbound_mode", 1)
modparam("registrar", "use_path", 1)
modparam("auth", "algorithm", "MD5")
modparam("auth", "secret", "tandem-test-nonce-secret")
modparam("auth", "nonce_count", 1)

{route}
"#,
            head = head("127.0.0.1", port),
            ctl = ctl.display(),
        );
        let file = crate::write(dir.path(), "kamailio.cfg", &config);
        Kamailio::spawn(dir, file, port, None, Command::new("kamailio"))
    }

    /// What `kamcmd ul.dump` says of its bindings (needs `start_outbound`).
    pub fn bindings(&self) -> String {
        let ctl = format!("unix:{}", self.dir.path().join("ctl.sock").display());
        let out = Command::new("kamcmd")
            .args(["-s", &ctl, "ul.dump"])
            .output()
            .expect("cannot run kamcmd (it comes with kamailio)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops it, as a crashed registrar or edge proxy stops: its bindings
    /// are in memory, all are lost. `start_again` starts it again.
    pub fn stop(&mut self) {
        stop(&mut self.child);
        self.log.lock().unwrap().push_str("---- stopped ----\n");
    }

    /// Starts it again after `stop`, on the same port with the same
    /// config. Loopback Kamailios only.
    pub fn start_again(&mut self) {
        let (child, log) = Kamailio::run(self.dir.path(), &self.file, Command::new("kamailio"));
        self.child = child;
        let previous = self.log();
        self.log = log;
        self.log.lock().unwrap().insert_str(0, &previous);
        self.wait_for_n("SO_RCVBUF is finally", 2);
    }

    fn start_with(
        algorithm: &str,
        password: &str,
        certs: Option<&std::path::Path>,
        site: Site,
        proxy: Option<ProviderHelp>,
    ) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let address = &site.address;
        let tls_port = certs.map(|_| crate::prosody::free_port());
        let tls = match (certs, tls_port) {
            (Some(certs), Some(tls_port)) => tls_listen(dir.path(), tls_port, certs),
            _ => String::new(),
        };
        let (proxy_modules, route) = match proxy {
            None => (String::new(), registrar_route(password)),
            Some(help) => (
                PROXY_MODULES.to_owned()
                    + if help == ProviderHelp::Nathelper {
                        NATHELPER_MODULE
                    } else {
                        ""
                    },
                proxy_route(password, help),
            ),
        };
        let config = format!(
            r#"{head}
{tls}
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
{proxy_modules}
modparam("usrloc", "db_mode", 0)
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "secret", "tandem-test-nonce-secret")
modparam("auth", "nonce_count", 1)

{route}
"#,
            head = head(address, port),
        );
        let file = crate::write(dir.path(), "kamailio.cfg", &config);
        Kamailio::spawn(dir, file, port, tls_port, site.command)
    }

    fn spawn(
        dir: tempfile::TempDir,
        file: std::path::PathBuf,
        port: u16,
        tls_port: Option<u16>,
        command: Command,
    ) -> Kamailio {
        let (child, log) = Kamailio::run(dir.path(), &file, command);
        let mut kamailio = Kamailio {
            port,
            tls_port,
            dir,
            child,
            file,
            log,
        };
        // The UDP receiver is set up once the workers start.
        kamailio.wait_for("SO_RCVBUF is finally");
        kamailio
    }

    fn run(
        dir: &std::path::Path,
        file: &std::path::Path,
        command: Command,
    ) -> (Child, Arc<Mutex<String>>) {
        let mut child = launch(command, dir, file);
        let log = crate::capture_output(&mut child);
        (child, log)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (20 s at most) for `needle` in Kamailio's log.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_for_n(needle, 1)
    }

    /// Waits (20 s at most) for `needle` `times` times in Kamailio's log.
    pub fn wait_for_n(&mut self, needle: &str, times: usize) -> String {
        crate::wait_for_log(&format!("{needle:?} (x{times}) from kamailio"), || {
            let log = self.log();
            if log.matches(needle).count() >= times {
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
        stop(&mut self.child);
    }
}

/// Runs Kamailio (`command`, which may enter a network namespace first)
/// with `config` written in `dir`, in the foreground, logging to stderr.
pub(crate) fn spawn(command: Command, dir: &std::path::Path, config: &str) -> Child {
    let file = crate::write(dir, "kamailio.cfg", config);
    launch(command, dir, &file)
}

/// Runs Kamailio (`command`) with the config `file`, its working files in
/// `dir`, in the foreground, logging to stderr.
fn launch(mut command: Command, dir: &std::path::Path, file: &std::path::Path) -> Child {
    command
        .arg("-f")
        .arg(file)
        .args(["-DD", "-E", "-w"])
        .arg(dir)
        .arg("-Y")
        .arg(dir)
        // Its own process group: Kamailio forks workers, and the whole
        // group is stopped on drop.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kamailio (apt-get install kamailio)")
}

/// Stops Kamailio and its workers (`spawn` gave them a group of their own).
pub(crate) fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.wait();
}

/// The first lines of every config: logs to stderr, one worker, UDP on
/// `address`:`port`, Debian's modules.
fn head(address: &str, port: u16) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nauto_aliases=no\n\
         listen=udp:{address}:{port}\nmpath=\"{MODULES}\""
    )
}

/// Where Kamailio runs: its address and the command that starts it.
struct Site {
    address: String,
    command: Command,
}

impl Site {
    fn loopback() -> Site {
        Site {
            address: "127.0.0.1".to_owned(),
            command: Command::new("kamailio"),
        }
    }
}

/// What an outbound registrar does with a REGISTER naming a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// Keeps the flow (RFC 5626 §6): `Require: outbound` in its 2xx.
    Keeps,
    /// Answers 439 First Hop Lacks Outbound Support.
    Refuses439,
}

/// What a proxy does for users behind a NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderHelp {
    /// Nothing: it relays to the addresses users give (rport aside).
    Plain,
    /// `nathelper`: Contacts and SDP addresses replaced by the address
    /// the request came from (`fix_nated_contact`, `fix_nated_register`,
    /// `fix_nated_sdp`), as many providers do.
    Nathelper,
}

/// Challenges, then keeps the binding; logs each REGISTER that
/// authenticates with its Authorization header, so a test can see the
/// algorithm and qop the client used. www_challenge flag 1: offer qop=auth.
fn register_block(password: &str) -> String {
    format!(
        r#"    if (!pv_www_authenticate("$td", "{password}", "0")) {{
        xlog("L_NOTICE", "CHALLENGE $fu (result $rc) auth=$hdr(Authorization)\n");
        www_challenge("$td", "1");
        exit;
    }}
    if (!save("location")) {{
        sl_reply_error();
        exit;
    }}
    xlog("L_NOTICE", "REGISTERED $fu proto=$proto expires=$hdr(Expires) contact=$hdr(Contact) auth=$hdr(Authorization)\n");
"#
    )
}

/// A registrar only: anything but REGISTER is refused.
fn registrar_route(password: &str) -> String {
    format!(
        r#"request_route {{
    if (!is_method("REGISTER")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
{}}}
"#,
        register_block(password)
    )
}

const PROXY_MODULES: &str =
    "loadmodule \"rr.so\"\nloadmodule \"siputils.so\"\nloadmodule \"maxfwd.so\"\n";
const NATHELPER_MODULE: &str = "loadmodule \"nathelper.so\"\n";

/// Registrar and record-routing proxy: requests to its users go to their
/// bindings, other requests to their Request-URI; in-dialog requests
/// follow the Route set. Each request and reply is logged (method, source
/// and Contact), so a test can see what crossed the NAT.
fn proxy_route(password: &str, help: ProviderHelp) -> String {
    let nathelper = help == ProviderHelp::Nathelper;
    // nat_uac_test 19: private Contact, Via not the source, private SDP
    // address, source port not the Via's (nathelper's usual test).
    let fix_request = if nathelper {
        r#"    force_rport();
    if (nat_uac_test("19")) {
        fix_nated_contact();
        if (has_body("application/sdp")) { fix_nated_sdp("3"); }
    }
"#
    } else {
        ""
    };
    let fix_reply = if nathelper {
        r#"    if (nat_uac_test("19")) {
        fix_nated_contact();
        if (has_body("application/sdp")) { fix_nated_sdp("3"); }
    }
"#
    } else {
        ""
    };
    format!(
        r#"modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 10000)

request_route {{
    xlog("L_NOTICE", "REQUEST $rm $ru from $si:$sp contact=$hdr(Contact)\n");
{fix_request}    if (has_totag()) {{
        if (loose_route()) {{ route(RELAY); exit; }}
        if (is_method("ACK") && t_check_trans()) {{ route(RELAY); }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ route(RELAY); }}
        exit;
    }}
    t_check_trans();
    if (is_method("REGISTER")) {{
{register}        exit;
    }}
    if (uri == myself && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    record_route();
    if (uri == myself) {{
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
    }}
    route(RELAY);
}}

route[RELAY] {{
    t_on_reply("REPLY");
    if (!t_relay()) {{ sl_reply_error(); }}
}}

onreply_route[REPLY] {{
    xlog("L_NOTICE", "REPLY $rs $rm from $si:$sp contact=$hdr(Contact)\n");
{fix_reply}}}
"#,
        register = register_block(password),
    )
}

/// The cfg lines of a TLS listener on `port` with the certificate in
/// `certs` (`server.pem`, `server.key`); its tls.cfg is written in `dir`.
/// Kamailio as a TLS client does not check certificates: the tests are of
/// Tandem's checks.
pub fn tls_listen(dir: &std::path::Path, port: u16, certs: &std::path::Path) -> String {
    let tls_cfg = crate::write(
        dir,
        "tls.cfg",
        &format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             private_key = {key}\ncertificate = {cert}\n\n[client:default]\nverify_certificate = no\n",
            key = certs.join("server.key").display(),
            cert = certs.join("server.pem").display(),
        ),
    );
    format!(
        "enable_tls=yes\nlisten=tls:127.0.0.1:{port}\nloadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"{}\")\n",
        tls_cfg.display()
    )
}
