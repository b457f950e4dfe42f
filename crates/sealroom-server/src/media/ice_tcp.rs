//! ICE-TCP connections: RFC 4571 framing (a 2-byte big-endian length before each packet)
//! between clients' TCP streams and the media task, and the limits that keep anyone who can
//! reach the port from holding connections open: per address, until an ICE check, while
//! silent.

use std::collections::HashMap;
use std::future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// What an ICE-TCP client may hold open, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceTcpLimits {
    /// Connections open at once from one IP address; one more is closed at once. A browser
    /// opens one per meeting (a few during an ICE restart), and many clients may share an
    /// address behind a NAT.
    pub connections_per_address: usize,
    /// A connection that brings no ICE check with a participant's credentials (an
    /// authenticated STUN binding request) within this long is closed.
    pub handshake_timeout: Duration,
    /// A connection nothing arrives on for this long is closed; a live client sends ICE
    /// consent checks every few seconds.
    pub idle_timeout: Duration,
}

impl Default for IceTcpLimits {
    fn default() -> Self {
        Self {
            connections_per_address: 20,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Packets from all connections waiting for the media task. Bounded, so a client sending
/// faster than the SFU handles is slowed down by TCP rather than filling memory.
pub(super) const INBOUND_QUEUE: usize = 1024;

/// Packets waiting to be written to one connection; beyond this they are dropped.
const OUTBOUND_QUEUE: usize = 256;

/// Larger frames are not WebRTC traffic (str0m's datagrams stay under 1200 bytes).
const MAX_FRAME: usize = super::RECEIVE_BUFFER;

/// How often the open connections are held to the timeouts.
pub(super) const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// What a connection tells the media task.
pub(super) enum TcpEvent {
    Packet {
        peer: SocketAddr,
        contents: Vec<u8>,
    },
    /// Its task ended. `number` tells it from a later connection from the same address and
    /// port.
    Closed {
        peer: SocketAddr,
        number: u64,
    },
}

/// The open connections, by remote address.
pub(super) struct Connections {
    limits: IceTcpLimits,
    open: HashMap<SocketAddr, Connection>,
    next_number: u64,
}

struct Connection {
    number: u64,
    outgoing: mpsc::Sender<Vec<u8>>,
    /// Dropping it closes the connection: its task ends, even mid-write.
    _close: oneshot::Sender<()>,
    opened: Instant,
    last_heard: Instant,
    /// An ICE check with a participant's credentials came on it.
    checked: bool,
}

impl Connections {
    pub fn new(limits: IceTcpLimits) -> Self {
        Self {
            limits,
            open: HashMap::new(),
            next_number: 0,
        }
    }

    /// Takes a new connection, read and written by a task of its own; closed at once if its
    /// address already has as many open as it may.
    pub fn accept(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        to_driver: &mpsc::Sender<TcpEvent>,
        now: Instant,
    ) {
        let from_address = self.open.keys().filter(|a| a.ip() == peer.ip()).count();
        if from_address >= self.limits.connections_per_address {
            tracing::debug!(%peer, "too many ICE-TCP connections from this address: closed");
            return;
        }
        let (outgoing, outgoing_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (close, closed) = oneshot::channel();
        let number = self.next_number;
        self.next_number += 1;
        spawn_connection(stream, peer, number, to_driver.clone(), outgoing_rx, closed);
        let connection = Connection {
            number,
            outgoing,
            _close: close,
            opened: now,
            last_heard: now,
            checked: false,
        };
        self.open.insert(peer, connection);
    }

    /// A packet came on `peer`'s connection; `taken`: a participant's connection took it,
    /// which from a new address only an ICE check with its credentials is.
    pub fn heard(&mut self, peer: SocketAddr, now: Instant, taken: bool) {
        if let Some(connection) = self.open.get_mut(&peer) {
            connection.last_heard = now;
            connection.checked |= taken;
        }
    }

    /// Where packets for `peer` are written.
    pub fn outgoing(&self, peer: &SocketAddr) -> Option<&mpsc::Sender<Vec<u8>>> {
        self.open.get(peer).map(|c| &c.outgoing)
    }

    /// A connection's task ended.
    pub fn closed(&mut self, peer: SocketAddr, number: u64) {
        if self.open.get(&peer).is_some_and(|c| c.number == number) {
            self.open.remove(&peer);
        }
    }

    /// Closes each connection that brought no ICE check within the handshake timeout, or
    /// nothing within the idle timeout.
    pub fn close_stale(&mut self, now: Instant) {
        let limits = self.limits;
        self.open.retain(|peer, c| {
            let unchecked =
                !c.checked && now.saturating_duration_since(c.opened) >= limits.handshake_timeout;
            let silent = now.saturating_duration_since(c.last_heard) >= limits.idle_timeout;
            if unchecked || silent {
                tracing::debug!(%peer, unchecked, silent, "ICE-TCP connection closed");
            }
            !(unchecked || silent)
        });
    }
}

/// The next connection on the listener; never resolves without one.
pub(super) async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => future::pending().await,
    }
}

/// Reads and writes one connection on its own task until either side closes it, or the media
/// task does (`closed`).
fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    number: u64,
    to_driver: mpsc::Sender<TcpEvent>,
    mut outgoing_rx: mpsc::Receiver<Vec<u8>>,
    closed: oneshot::Receiver<()>,
) {
    tokio::spawn(async move {
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let writing = async move {
            while let Some(packet) = outgoing_rx.recv().await {
                let Ok(len) = u16::try_from(packet.len()) else {
                    continue;
                };
                let mut frame = Vec::with_capacity(2 + packet.len());
                frame.extend_from_slice(&len.to_be_bytes());
                frame.extend_from_slice(&packet);
                if writer.write_all(&frame).await.is_err() {
                    break;
                }
            }
        };
        let reading = async {
            while let Ok(len) = reader.read_u16().await {
                let len = usize::from(len);
                if len > MAX_FRAME {
                    tracing::debug!(len, "ICE-TCP frame too large; closing the connection");
                    break;
                }
                let mut contents = vec![0; len];
                if reader.read_exact(&mut contents).await.is_err() {
                    break;
                }
                if to_driver
                    .send(TcpEvent::Packet { peer, contents })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        };
        // Whichever ends first ends the connection.
        tokio::select! {
            () = writing => {}
            () = reading => {}
            _ = closed => {}
        }
        let _ = to_driver.send(TcpEvent::Closed { peer, number }).await;
    });
}
