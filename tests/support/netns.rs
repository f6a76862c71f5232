//! A home network behind a NAT, built by the test itself as an ordinary
//! user: a user namespace (where the test is root) holding three network
//! namespaces, linked by veth pairs.
//!
//! ```text
//!  public 198.18.0.0/24           router                  home 10.99.0.0/24
//!  registrar 198.18.0.1   <->  wan 198.18.0.2  NAT  lan 10.99.0.1  <->  10.99.0.2
//!  peer      198.18.0.3
//!  STUN      198.18.0.4, .5
//! ```
//!
//! The public side has no route to 10.99.0.0/24: the home network reaches
//! it only through the router's NAT (nftables, `masquerade`). The addresses
//! exist only inside these namespaces (198.18.0.0/15 is the benchmarking
//! block, outside what Tandem counts as the local network). Programs run
//! inside through `nsenter`; each namespace is held by a `cat` reading a
//! pipe from the test, so it goes away with the test even if the test is
//! killed.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The registrar's address (public side).
pub const REGISTRAR: &str = "198.18.0.1";
/// The NAT's public address (the router's wan side).
pub const NAT_PUBLIC: &str = "198.18.0.2";
/// The peer's address (public side).
pub const PEER: &str = "198.18.0.3";
/// The STUN server's address (public side), and its second one (RFC 5780
/// OTHER-ADDRESS: a NAT's mapping toward each is compared).
pub const STUN: &str = "198.18.0.4";
pub const STUN_OTHER: &str = "198.18.0.5";
/// The home host's (private) address.
pub const HOME: &str = "10.99.0.2";

/// One of the three networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Public,
    Router,
    Home,
}

/// How the router translates the home network's source ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Keeps the source port when free: most home routers.
    PortPreserving,
    /// A random public port per flow (`masquerade random,fully-random`):
    /// a "symmetric" NAT, whose mapping depends on the destination.
    Symmetric,
}

/// What the router does with packets from the public side that no mapping
/// asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsolicited {
    /// Takes them in (a bare Linux NAT): conntrack keeps each as a flow of
    /// its own, which then holds its public port against the home host.
    Kept,
    /// Drops them at its input, as a home router's firewall does (OpenWrt's
    /// default): they leave no trace.
    Dropped,
}

/// The three namespaces, as long as this lives.
pub struct Network {
    public: Child,
    router: Child,
    home: Child,
}

impl Network {
    /// Why namespaces cannot be made here, if they cannot (`unshare -Urn`
    /// fails: a kernel or sysctl that forbids unprivileged user namespaces).
    pub fn unavailable() -> Option<String> {
        match Command::new("unshare").args(["-Urn", "true"]).output() {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "`unshare -Urn true` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Some(format!("cannot run unshare: {e}")),
        }
    }

    /// Builds the topology with this kind of NAT and router.
    pub fn build(nat: Nat, unsolicited: Unsolicited) -> Network {
        let public = hold(Command::new("unshare").args(["-Urn"]));
        let user = format!("--user=/proc/{}/ns/user", public.id());
        let router = hold(Command::new("nsenter").arg(&user).args(["unshare", "-n"]));
        let home = hold(Command::new("nsenter").arg(&user).args(["unshare", "-n"]));
        let network = Network {
            public,
            router,
            home,
        };
        let router_pid = network.router.id().to_string();
        let home_pid = network.home.id().to_string();
        use Place::*;
        for (place, script) in [
            (
                Public,
                vec![
                    format!("link add pub type veth peer name wan netns {router_pid}"),
                    "link set lo up".into(),
                    "link set pub up".into(),
                    format!("addr add {REGISTRAR}/24 dev pub"),
                    format!("addr add {PEER}/24 dev pub"),
                    format!("addr add {STUN}/24 dev pub"),
                    format!("addr add {STUN_OTHER}/24 dev pub"),
                ],
            ),
            (
                Router,
                vec![
                    format!("link add lan type veth peer name eth0 netns {home_pid}"),
                    "link set lo up".into(),
                    "link set wan up".into(),
                    "link set lan up".into(),
                    format!("addr add {NAT_PUBLIC}/24 dev wan"),
                    "addr add 10.99.0.1/24 dev lan".into(),
                ],
            ),
            (
                Home,
                vec![
                    "link set lo up".into(),
                    "link set eth0 up".into(),
                    format!("addr add {HOME}/24 dev eth0"),
                    "route add default via 10.99.0.1".into(),
                ],
            ),
        ] {
            for line in script {
                network.run(place, "ip", &line.split(' ').collect::<Vec<_>>());
            }
        }
        network.write_sysctl(Router, "net/ipv4/ip_forward", "1");
        let masquerade = match nat {
            Nat::PortPreserving => "masquerade",
            Nat::Symmetric => "masquerade random,fully-random",
        };
        for rule in [
            "add table ip nat".to_owned(),
            "add chain ip nat post { type nat hook postrouting priority 100 ; }".to_owned(),
            format!("add rule ip nat post oifname wan {masquerade}"),
        ] {
            network.run(Router, "nft", &[&rule]);
        }
        if unsolicited == Unsolicited::Dropped {
            for rule in [
                "add table ip filter",
                "add chain ip filter input { type filter hook input priority 0 ; }",
                "add rule ip filter input iifname wan ct state new drop",
            ] {
                network.run(Router, "nft", &[rule]);
            }
        }
        network
    }

    /// `program` run inside `place` (as the namespace's root, which is
    /// this user outside it).
    pub fn command(&self, place: Place, program: impl Into<OsString>) -> Command {
        let mut command = Command::new("nsenter");
        command.args(self.enter(place)).arg(program.into());
        command
    }

    /// An executable script in `dir` that runs its arguments inside
    /// `place`: for launchers that take a program path.
    pub fn launcher(&self, place: Place, dir: &Path, program: &Path) -> PathBuf {
        let text = format!(
            "#!/bin/sh\nexec nsenter {} {:?} \"$@\"\n",
            self.enter(place).join(" "),
            program.display().to_string()
        );
        let path = crate::write(dir, &format!("in-{place:?}"), &text);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Runs `program args` inside `place`; fails the test unless it exits 0.
    pub fn run(&self, place: Place, program: &str, args: &[&str]) -> String {
        let out = self
            .command(place, program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} in {place:?}: cannot run nsenter: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} in {place:?} failed (nft comes from tools/install-packages tests):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sets `/proc/sys/<key>` inside `place` (net sysctls are per namespace).
    pub fn write_sysctl(&self, place: Place, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        self.run(place, "sh", &["-c", &format!("echo {value} > {path}")]);
    }

    /// Makes the router forget an idle UDP mapping after `seconds`, both
    /// before and after the other side has answered (Linux defaults: 30 s
    /// and 120 s; home routers: 30 s to 180 s).
    pub fn set_udp_timeout(&self, seconds: u32) {
        let value = seconds.to_string();
        for key in [
            "nf_conntrack_udp_timeout",
            "nf_conntrack_udp_timeout_stream",
        ] {
            self.write_sysctl(Place::Router, &format!("net/netfilter/{key}"), &value);
        }
    }

    /// The router's UDP mappings, one a line (`/proc/net/nf_conntrack`).
    pub fn mappings(&self) -> String {
        self.run(Place::Router, "cat", &["/proc/net/nf_conntrack"])
            .lines()
            .filter(|l| l.contains(" udp "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn enter(&self, place: Place) -> Vec<String> {
        let holder = match place {
            Place::Public => &self.public,
            Place::Router => &self.router,
            Place::Home => &self.home,
        };
        vec![
            format!("--user=/proc/{}/ns/user", self.public.id()),
            format!("--net=/proc/{}/ns/net", holder.id()),
            "--preserve-credentials".into(),
        ]
    }
}

/// Starts `command` followed by `sh -c 'echo ready; exec cat'`, and waits
/// for "ready": by then its namespaces exist. It lives until its stdin
/// (this process's pipe) closes.
fn hold(command: &mut Command) -> Child {
    let mut child = command
        .args(["sh", "-c", "echo ready; exec cat >/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run unshare/nsenter (util-linux)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "a namespace could not be made");
    child
}

impl Drop for Network {
    fn drop(&mut self) {
        for child in [&mut self.home, &mut self.router, &mut self.public] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
