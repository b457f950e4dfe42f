//! A participant's network paths: the remote addresses its packets arrive from.
//!
//! A client whose address changes under it (a NAT rebinding, or a relay or VPN that re-
//! addresses it) keeps its ICE credentials and goes on sending checks, so the SFU learns the
//! new address from the first authenticated check. But as ICE-lite, str0m keeps sending to
//! the old pair until it has heard nothing there for 15 s (a higher-priority host pair stays
//! chosen over the new peer-reflexive one): 15 s without media for everyone it receives.
//! The SFU therefore gives up a UDP path once it has been silent for [`PATH_ABANDONED`]
//! while another path of the same participant is in use; str0m then sends on the new one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::net::Protocol;

/// How long a path may be silent while another is in use before it is given up. A client
/// sends audio every 20 ms, so this is far past any jitter.
pub(crate) const PATH_ABANDONED: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Path {
    proto: Protocol,
    addr: SocketAddr,
    last_seen: Instant,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Paths {
    paths: Vec<Path>,
}

impl Paths {
    /// A new address, learnt from an accepted check.
    pub fn learn(&mut self, proto: Protocol, addr: SocketAddr, now: Instant) {
        self.paths.push(Path {
            proto,
            addr,
            last_seen: now,
        });
    }

    /// A packet arrived on a known address.
    pub fn seen(&mut self, proto: Protocol, addr: SocketAddr, now: Instant) {
        if let Some(path) = self
            .paths
            .iter_mut()
            .find(|p| p.addr == addr && p.proto == proto)
        {
            path.last_seen = path.last_seen.max(now);
        }
    }

    /// Removes and returns the UDP paths silent for [`PATH_ABANDONED`] while another path
    /// carried something within that time.
    pub fn take_abandoned(&mut self, now: Instant) -> Vec<SocketAddr> {
        // Runs after every batch of packets: one path, the usual case, costs nothing.
        if self.paths.len() < 2 {
            return Vec::new();
        }
        let silent = |p: &Path| now.saturating_duration_since(p.last_seen) >= PATH_ABANDONED;
        if self.paths.iter().all(silent) {
            return Vec::new();
        }
        let mut abandoned = Vec::new();
        self.paths.retain(|p| {
            let keep = p.proto != Protocol::Udp || !silent(p);
            if !keep {
                abandoned.push(p.addr);
            }
            keep
        });
        abandoned
    }

    /// Every address, to forget them all.
    pub fn addresses(&self) -> impl Iterator<Item = (Protocol, SocketAddr)> + '_ {
        self.paths.iter().map(|p| (p.proto, p.addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn a_silent_path_is_given_up_only_while_another_is_in_use() {
        let start = Instant::now();
        let mut paths = Paths::default();
        paths.learn(Protocol::Udp, addr(1), start);
        let later = start + PATH_ABANDONED * 3;
        // Alone and silent (the client is away, or gone): kept, ICE decides.
        assert!(paths.take_abandoned(later).is_empty());

        paths.learn(Protocol::Udp, addr(2), later);
        paths.seen(Protocol::Udp, addr(2), later + PATH_ABANDONED);
        assert_eq!(paths.take_abandoned(later + PATH_ABANDONED), vec![addr(1)]);
        assert_eq!(
            paths.addresses().collect::<Vec<_>>(),
            vec![(Protocol::Udp, addr(2))]
        );
    }

    #[test]
    fn two_live_paths_and_tcp_paths_are_kept() {
        let start = Instant::now();
        let mut paths = Paths::default();
        paths.learn(Protocol::Udp, addr(1), start);
        paths.learn(Protocol::Tcp, addr(2), start);
        paths.learn(Protocol::Udp, addr(3), start);
        let later = start + PATH_ABANDONED / 2;
        paths.seen(Protocol::Udp, addr(1), later);
        paths.seen(Protocol::Udp, addr(3), later);
        assert!(paths.take_abandoned(later).is_empty());
        // Only addr(3) goes on; the silent TCP path stays (its connection ends it).
        let much_later = start + PATH_ABANDONED * 2;
        paths.seen(Protocol::Udp, addr(3), much_later);
        assert_eq!(paths.take_abandoned(much_later), vec![addr(1)]);
        assert_eq!(paths.addresses().count(), 2);
    }
}
