//! ICE-TCP connections: RFC 4571 framing (a 2-byte big-endian length before each packet)
//! between clients' TCP streams and the media task.

use std::future;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Packets from all connections waiting for the media task. Bounded, so a client sending
/// faster than the SFU handles is slowed down by TCP rather than filling memory.
pub(super) const INBOUND_QUEUE: usize = 1024;

/// Packets waiting to be written to one connection; beyond this they are dropped.
const OUTBOUND_QUEUE: usize = 256;

/// Larger frames are not WebRTC traffic (str0m's datagrams stay under 1200 bytes).
const MAX_FRAME: usize = super::RECEIVE_BUFFER;

/// What a connection tells the media task.
pub(super) enum TcpEvent {
    Opened {
        peer: SocketAddr,
        outgoing: mpsc::Sender<Vec<u8>>,
    },
    Packet {
        peer: SocketAddr,
        contents: Vec<u8>,
    },
    Closed {
        peer: SocketAddr,
    },
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

/// Reads and writes one connection on its own task until either side closes it.
pub(super) fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    to_driver: mpsc::Sender<TcpEvent>,
) {
    let (outgoing, mut outgoing_rx) = mpsc::channel::<Vec<u8>>(OUTBOUND_QUEUE);
    tokio::spawn(async move {
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        if to_driver
            .send(TcpEvent::Opened { peer, outgoing })
            .await
            .is_err()
        {
            return;
        }
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
        // Whichever side ends first ends the connection.
        tokio::select! {
            () = writing => {}
            () = reading => {}
        }
        let _ = to_driver.send(TcpEvent::Closed { peer }).await;
    });
}
