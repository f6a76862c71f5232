//! The cap on connections peers hold open to us (`max_connections`, TCP
//! and TLS together, and `max_connections_per_source`): a connection
//! beyond it is closed as soon as it is accepted, counted
//! (`refused_connections` in `sip.status`) and logged at the 1st, 2nd,
//! 4th... A slot is free again when its connection has ended: for TCP
//! when our reader returns, for TLS when rsipstack retires the connection
//! (it cancels the connection's token as its serve loop ends, which is
//! what `tls/accept.rs` waits for).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The open TCP and TLS connections, against `max_connections` in all and
/// `max_connections_per_source` from one address: without the second, one
/// peer trickling a byte every few minutes on each could hold every place.
#[derive(Debug)]
pub struct Connections {
    open: AtomicUsize,
    max: usize,
    per_source: usize,
    by_source: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// Why a connection got no place.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Full {
    All(usize),
    Source(usize),
}

impl Connections {
    pub fn new(max: usize, per_source: usize) -> Arc<Connections> {
        Arc::new(Connections {
            open: AtomicUsize::new(0),
            max,
            per_source,
            by_source: Default::default(),
        })
    }

    /// A slot for one more connection from `source`, unless `max` are open
    /// or `per_source` from that address.
    pub(crate) fn take(self: &Arc<Self>, source: IpAddr) -> Result<Slot, Full> {
        let source = source.to_canonical();
        let mut by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let from_source = by_source.entry(source).or_insert(0);
        if *from_source >= self.per_source {
            return Err(Full::Source(self.per_source));
        }
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map_err(|_| Full::All(self.max))?;
        *from_source += 1;
        Ok(Slot(self.clone(), source))
    }
}

/// One open connection's place under the caps, given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Connections>, IpAddr);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        let mut by_source = self.0.by_source.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_source.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                by_source.remove(&self.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_gives_slots_back() {
        let connections = Connections::new(2, 2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let one = connections.take(ip).unwrap();
        let two = connections.take(ip).unwrap();
        assert_eq!(connections.take(ip).unwrap_err(), Full::Source(2));
        assert_eq!(connections.open.load(Ordering::Acquire), 2);
        drop(one);
        let three = connections.take(ip).unwrap();
        drop((two, three));
        assert_eq!(connections.open.load(Ordering::Acquire), 0);
        assert!(connections.by_source.lock().unwrap().is_empty());
    }

    #[test]
    fn one_source_cannot_take_every_place() {
        let connections = Connections::new(3, 2);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        );
        let _a1 = connections.take(a).unwrap();
        // The same address written as IPv4-mapped IPv6 is the same source.
        let _a2 = connections.take(b).unwrap();
        assert_eq!(connections.take(a).unwrap_err(), Full::Source(2));
        let _c1 = connections.take(c).unwrap();
        assert_eq!(connections.take(c).unwrap_err(), Full::All(3));
        // A refusal for the total leaves the source's count as it was.
        drop(_a1);
        let _c2 = connections.take(c).unwrap();
        assert_eq!(connections.by_source.lock().unwrap()[&c], 2);
    }
}
