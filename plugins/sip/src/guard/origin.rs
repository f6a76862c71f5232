//! Where a request came from: the transport address, not the From header.
//!
//! Anyone can write any From; the address a request arrived from is the
//! sender's own. `sip.call.incoming` and `sip.message` carry it as `source`
//! (`"ip:port"`, `[v6]:port`) and `transport` (`udp`, `tcp`, `tls`), so a
//! rule can check it (`scripts/auto-answer.lua`'s `sources`), and
//! `accept_from` admits or refuses by it.

use std::fmt;
use std::net::SocketAddr;

use rsipstack::transaction::transaction::Transaction;

/// The transport address a request arrived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub addr: SocketAddr,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
}

impl Origin {
    /// The source of the request `tx` serves.
    pub fn of(tx: &Transaction) -> Option<Origin> {
        let remote = tx.connection.as_ref()?.get_remote_addr()?;
        let addr = remote.get_socketaddr().ok()?;
        let transport = remote
            .r#type
            .unwrap_or(rsipstack::sip::transport::Transport::Udp)
            .to_string()
            .to_ascii_lowercase();
        Some(Origin::new(addr, &transport))
    }

    /// An IPv4 peer on a dual-stack socket is written as IPv4.
    pub fn new(addr: SocketAddr, transport: &str) -> Origin {
        Origin {
            addr: SocketAddr::new(addr.ip().to_canonical(), addr.port()),
            transport: transport.to_owned(),
        }
    }

    /// `192.0.2.10:5060`, `[2001:db8::1]:5060`: an event's `source`.
    pub fn source(&self) -> String {
        self.addr.to_string()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}", self.transport, self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_peers_know_them() {
        let v6 = Origin::new("[2001:db8::1]:5062".parse().unwrap(), "tls");
        assert_eq!(v6.source(), "[2001:db8::1]:5062");
        assert_eq!(v6.to_string(), "tls [2001:db8::1]:5062");
        let mapped = Origin::new("[::ffff:192.0.2.10]:5060".parse().unwrap(), "udp");
        assert_eq!(mapped.source(), "192.0.2.10:5060");
    }
}
