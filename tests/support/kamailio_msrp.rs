//! Kamailio as an MSRP relay (RFC 4976): its `msrp` module on a free
//! loopback TCP port, configured the way the module's documentation shows
//! (README, "Event Route (using htable for MSRP connection tracking)"):
//! an AUTH is challenged with a real HTTP Digest (`pv_www_authenticate`,
//! `auth_get_www_authenticate`, MD5, qop=auth) for any user name and the
//! one password given, then answered 200 with a `Use-Path` naming a
//! fresh session id on the relay and `Expires`; the client's connection
//! is kept in an htable under that id.
//!
//! SEND and REPORT are routed on the first To-Path URI's session id (the
//! relay's own, `$msrp(sessid)`): coming from the client that logged in
//! with it, the frame goes on to the next hop (`msrp_relay()` opens or
//! reuses a connection to that URI's address); coming from anywhere else,
//! it goes down the client's connection (`msrp_set_dst` with the stored
//! address, no new connection). The htable variant rather than
//! `msrp_cmap_save`/`msrp_cmap_lookup`: `msrp_cmap_lookup` also keys on
//! the first To-Path URI, so it would send a client's own outgoing SEND
//! straight back to it; only the stored address tells the two apart.
//!
//! Kamailio answers each SEND 200 itself (transaction responses are hop
//! by hop) and drops the responses that come back from the next hop; so
//! nothing holds a sender back but Kamailio's write queue, raised here
//! (docs/decisions/0068).
//!
//! [`MsrpRelay::start_tls`] listens for TLS instead (RFC 4976: a client
//! talks to its relay over TLS, `msrps://`), with Kamailio's `tls` module
//! and a certificate from `certs::make`; its `Use-Path` is then
//! `msrps://`, so peers reach it over TLS too.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::kamailio::MODULES;

/// The realm of the relay's challenges.
pub const REALM: &str = "tandem.test";

pub struct MsrpRelay {
    pub port: u16,
    /// TLS (`msrps://`) rather than plain TCP.
    pub secure: bool,
    _dir: tempfile::TempDir,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl MsrpRelay {
    /// Starts the relay; every user logs in with `password`.
    pub fn start(password: &str) -> MsrpRelay {
        MsrpRelay::start_with(password, None)
    }

    /// Like `start`, listening for TLS only, with the certificate in
    /// `certs` (`server.pem`, `server.key`, from `certs::make`).
    pub fn start_tls(password: &str, certs: &Path) -> MsrpRelay {
        MsrpRelay::start_with(password, Some(certs))
    }

    fn start_with(password: &str, certs: Option<&Path>) -> MsrpRelay {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::prosody::free_port();
        let listen = match certs {
            None => format!("listen=tcp:127.0.0.1:{port}\n"),
            Some(certs) => tls_listen(dir.path(), port, certs),
        };
        let scheme = if certs.is_some() { "msrps" } else { "msrp" };
        let mut child = crate::kamailio::spawn(
            Command::new("kamailio"),
            dir.path(),
            &config(&listen, scheme, port, password),
        );
        let log = crate::capture_output(&mut child);
        let mut relay = MsrpRelay {
            port,
            secure: certs.is_some(),
            _dir: dir,
            child,
            log,
        };
        relay.wait_until_listening();
        relay
    }

    /// The relay's URI as a client configures it (`msrp_relay`).
    pub fn uri(&self) -> String {
        let scheme = if self.secure { "msrps" } else { "msrp" };
        format!("{scheme}://127.0.0.1:{};tcp", self.port)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kamailio exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "kamailio did not listen for MSRP:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MsrpRelay {
    fn drop(&mut self) {
        crate::kamailio::stop(&mut self.child);
    }
}

/// The cfg lines of the TLS listener (`kamailio::tls_listen`), with room
/// for what waits on a handshake.
fn tls_listen(dir: &Path, port: u16, certs: &Path) -> String {
    // Frames for a relay not yet connected wait in the TLS module's
    // clear-text queue until its handshake is done: 64 KiB per connection
    // by default, which a sender fills first thing ("ct write buffer
    // full", the connection fails). As large as the TCP write queue.
    crate::kamailio::tls_listen(dir, port, certs)
        + "modparam(\"tls\", \"con_ct_wq_max\", 134217728)\nmodparam(\"tls\", \"ct_wq_max\", 268435456)\n"
}

/// The relay's cfg: `listen` (the listener lines), `scheme` of the
/// `Use-Path` it gives (`msrp` or `msrps`).
fn config(listen: &str, scheme: &str, port: u16, password: &str) -> String {
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
auto_aliases=no
tcp_accept_no_cl=yes
tcp_connection_lifetime=3605
# Kamailio answers each SEND itself, so a sender is never held back by the
# next hop: what that hop has not taken yet waits in Kamailio's write
# queue, and past tcp_conn_wq_max (32 KiB by default) frames are dropped
# ("write queue full") and the connection fails. Room for a whole test
# file per connection.
tcp_conn_wq_max=134217728
tcp_wq_max=268435456
mpath="{MODULES}"
{listen}

loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "cfgutils.so"
loadmodule "msrp.so"

modparam("auth", "nonce_count", 1)
modparam("auth", "qop", "auth")
modparam("auth", "secret", "tandem-test-msrp-nonce-secret")
modparam("htable", "htable", "msrp=>size=8;autoexpire=3600;")

request_route {{
    sl_send_reply("403", "No SIP here");
    exit;
}}

event_route[msrp:frame-in] {{
    msrp_reply_flags("1");
    # Responses are hop by hop: the hop before was answered already.
    if (msrp_is_reply()) {{
        exit;
    }}
    if ($msrp(method) == "AUTH") {{
        if ($msrp(nexthops) > 0) {{
            msrp_relay();
            exit;
        }}
        if (!pv_www_authenticate("{REALM}", "{password}", "0", "$msrp(method)")) {{
            xlog("L_INFO", "msrp-relay: AUTH challenged ($rc)\n");
            if (auth_get_www_authenticate("{REALM}", "1", "$var(wauth)")) {{
                msrp_reply("401", "Unauthorized", "$var(wauth)");
            }} else {{
                msrp_reply("500", "Server Error");
            }}
            exit;
        }}
        $var(cnt) = $var(cnt) + 1;
        $var(sessid) = "s" + $pp + "." + $var(cnt) + "." + $RANDOM;
        $sht(msrp=>$var(sessid)::srcaddr) = $msrp(srcaddr);
        $sht(msrp=>$var(sessid)::srcsock) = $msrp(srcsock);
        xlog("L_INFO", "msrp-relay: AUTH of $au from $msrp(srcaddr) at $msrp(srcsock) is $var(sessid)\n");
        msrp_reply("200", "OK", "Use-Path: {scheme}://127.0.0.1:{port}/$var(sessid);tcp\r\nExpires: 3600\r\n");
        exit;
    }}
    if ($msrp(method) == "SEND" || $msrp(method) == "REPORT") {{
        $var(sessid) = $msrp(sessid);
        $var(owner) = $sht(msrp=>$var(sessid)::srcaddr);
        if ($var(owner) == $null) {{
            if ($msrp(method) == "SEND") {{
                msrp_reply("481", "Session-does-not-exist");
            }}
            exit;
        }}
        if ($msrp(method) == "SEND") {{
            msrp_reply("200", "OK");
        }}
        if ($var(owner) == $msrp(srcaddr)) {{
            # From the client that logged in: on to the next hop.
            xlog("L_INFO", "msrp-relay: $msrp(method) from $var(owner) on\n");
            msrp_relay();
        }} else {{
            # To the client: down the connection it logged in on.
            xlog("L_INFO", "msrp-relay: $msrp(method) down to $var(owner)\n");
            msrp_relay_flags("1");
            msrp_set_dst("$var(owner)", "$sht(msrp=>$var(sessid)::srcsock)");
            msrp_relay();
        }}
        exit;
    }}
    msrp_reply("501", "Request-method-not-understood");
}}
"#
    )
}
