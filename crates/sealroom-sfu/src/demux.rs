//! Which participant a packet on the shared port belongs to, by the address it came from.

use std::collections::HashMap;
use std::net::SocketAddr;

use str0m::net::Protocol;

use crate::participant::ParticipantId;

/// Remote addresses learnt from accepted STUN checks. A client sends from one address per
/// candidate pair, so after its first check every packet is one lookup.
#[derive(Debug, Default)]
pub(crate) struct Demux {
    routes: HashMap<(Protocol, SocketAddr), ParticipantId>,
}

impl Demux {
    pub fn lookup(&self, proto: Protocol, source: SocketAddr) -> Option<ParticipantId> {
        self.routes.get(&(proto, source)).copied()
    }

    pub fn learn(&mut self, proto: Protocol, source: SocketAddr, id: ParticipantId) {
        self.routes.insert((proto, source), id);
    }

    /// Forgets a route, unless another participant has learnt that address since.
    pub fn forget(&mut self, proto: Protocol, source: SocketAddr, id: ParticipantId) {
        if self.routes.get(&(proto, source)) == Some(&id) {
            self.routes.remove(&(proto, source));
        }
    }
}

/// RFC 7983 §7: a datagram whose first byte is 0–3 is STUN.
pub(crate) fn is_stun(contents: &[u8]) -> bool {
    contents.first().is_some_and(|b| *b <= 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_keeps_a_newer_owner() {
        let addr: SocketAddr = "192.0.2.1:4000".parse().unwrap_or_else(|_| unreachable!());
        let mut demux = Demux::default();
        demux.learn(Protocol::Udp, addr, ParticipantId(1));
        demux.learn(Protocol::Udp, addr, ParticipantId(2));
        demux.forget(Protocol::Udp, addr, ParticipantId(1));
        assert_eq!(demux.lookup(Protocol::Udp, addr), Some(ParticipantId(2)));
        demux.forget(Protocol::Udp, addr, ParticipantId(2));
        assert_eq!(demux.lookup(Protocol::Udp, addr), None);
        assert_eq!(demux.lookup(Protocol::Tcp, addr), None);
    }

    #[test]
    fn stun_is_told_apart_by_its_first_byte() {
        assert!(is_stun(&[0x00, 0x01]));
        assert!(!is_stun(&[0x16, 0xfe])); // DTLS
        assert!(!is_stun(&[0x80, 0x60])); // RTP
        assert!(!is_stun(&[]));
    }
}
