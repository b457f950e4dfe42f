//! The SFU's I/O driver: one task owns the media sockets and the sans-IO [`Sfu`], and the
//! rest of the server talks to it through a [`MediaServer`] handle.
//!
//! All participants share one UDP port; with `tcp_listen` set, ICE-TCP connections
//! (RFC 4571 framing, see [`ice_tcp`]) are a fallback where UDP is blocked. Performance work
//! (batched `recvmmsg`, sharding over cores) is for later; this loop is one packet at a time.

mod ice_tcp;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_sfu::{PayloadTap, Protocol, Sfu, SfuConfig, SfuError, SfuOutput, SfuStats, Transmit};
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use ice_tcp::TcpEvent;

pub use sealroom_sfu::RefusedTrack;

/// Where the media server listens.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP socket all participants' media is multiplexed on (port 0: any free port).
    pub udp_listen: SocketAddr,
    /// The IP clients are told to send media to; default: the listen IP (which must then
    /// not be a wildcard).
    pub public_ip: Option<IpAddr>,
    /// An ICE-TCP listener, for clients that cannot use UDP.
    pub tcp_listen: Option<SocketAddr>,
    /// Payload bits per second one participant may publish (see
    /// [`SfuConfig::max_publish_bps`]).
    pub max_publish_bps: u64,
}

/// Something the media server needs the signalling layer to do.
#[derive(Debug)]
pub enum MediaEvent {
    /// Send this SDP offer to the participant; its answer goes to
    /// [`MediaServer::accept_answer`].
    Offer {
        /// The participant, as named in [`MediaServer::add_participant`].
        participant: String,
        /// The offer.
        sdp: String,
    },
    /// The participant sends a track a moderation control refuses (see
    /// [`MediaServer::set_screen_share_allowed`]); the SFU drops it. Once per attempt, not
    /// per packet: tell the participant.
    TrackRefused {
        /// The participant, as named in [`MediaServer::add_participant`].
        participant: String,
        /// What was refused.
        track: RefusedTrack,
    },
}

/// Why a media request failed.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The SFU refused it (bad SDP, unknown participant, …).
    #[error(transparent)]
    Sfu(#[from] SfuError),
    /// The media task is gone (the server is shutting down).
    #[error("the media server has stopped")]
    Stopped,
}

/// A handle on the media task; cheap to clone. The task stops when every handle is dropped.
#[derive(Clone)]
pub struct MediaServer {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Mutex<SfuStats>>,
    udp_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
}

enum Command {
    AddParticipant {
        room: String,
        participant: String,
        offer_sdp: String,
        reply: oneshot::Sender<Result<String, SfuError>>,
    },
    AcceptAnswer {
        participant: String,
        answer_sdp: String,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    RemoveParticipant(String),
    SetAudioMuted {
        participant: String,
        muted: bool,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    SetScreenShareAllowed {
        participant: String,
        allowed: bool,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    SetPayloadTap(Option<PayloadTap>),
}

/// The receive buffer: above any WebRTC datagram (str0m keeps them under 1200 bytes).
const RECEIVE_BUFFER: usize = 2000;

/// str0m may ask to be woken at a time already past; waiting at least this long keeps the
/// loop from spinning on it.
const MIN_WAIT: Duration = Duration::from_millis(1);

impl MediaServer {
    /// Binds the sockets and starts the media task. Returns the handle and the events the
    /// signalling layer must act on.
    pub async fn start(
        config: MediaConfig,
    ) -> anyhow::Result<(MediaServer, mpsc::UnboundedReceiver<MediaEvent>)> {
        let udp = UdpSocket::bind(config.udp_listen).await?;
        let udp_addr = udp.local_addr()?;
        let tcp = match config.tcp_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let tcp_addr = tcp.as_ref().map(TcpListener::local_addr).transpose()?;

        // Clients must be told the address they can reach, with the port actually bound.
        let advertise = |bound: SocketAddr| {
            SocketAddr::new(config.public_ip.unwrap_or(bound.ip()), bound.port())
        };
        let mut sfu_config = SfuConfig::new(advertise(udp_addr));
        sfu_config.tcp_candidate = tcp_addr.map(advertise);
        sfu_config.max_publish_bps = config.max_publish_bps;
        let sfu = Sfu::new(sfu_config.clone(), Instant::now())?;

        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(SfuStats::default()));
        let driver = Driver {
            sfu,
            udp,
            udp_candidate: sfu_config.udp_candidate,
            tcp_candidate: sfu_config.tcp_candidate,
            tcp_connections: HashMap::new(),
            events,
            stats: stats.clone(),
        };
        tokio::spawn(driver.run(command_rx, tcp));
        tracing::info!(%udp_addr, tcp_addr = ?tcp_addr, "media server listening");
        Ok((
            MediaServer {
                commands,
                stats,
                udp_addr,
                tcp_addr,
            },
            event_rx,
        ))
    }

    /// Adds a participant to a room from its SDP offer; returns the SDP answer.
    pub async fn add_participant(
        &self,
        room: &str,
        participant: &str,
        offer_sdp: &str,
    ) -> Result<String, MediaError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::AddParticipant {
            room: room.to_owned(),
            participant: participant.to_owned(),
            offer_sdp: offer_sdp.to_owned(),
            reply,
        })?;
        Ok(answer.await.map_err(|_| MediaError::Stopped)??)
    }

    /// Applies a participant's answer to the last [`MediaEvent::Offer`] it was sent.
    pub async fn accept_answer(&self, participant: &str, sdp: &str) -> Result<(), MediaError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::AcceptAnswer {
            participant: participant.to_owned(),
            answer_sdp: sdp.to_owned(),
            reply,
        })?;
        Ok(done.await.map_err(|_| MediaError::Stopped)??)
    }

    /// Removes a participant and its tracks. Does not wait; unknown names are ignored.
    pub fn remove_participant(&self, participant: &str) {
        // A stopped server has no participants left to remove.
        let _ = self.send(Command::RemoveParticipant(participant.to_owned()));
    }

    /// Mutes or unmutes a participant's audio for everyone (see [`Sfu::set_audio_muted`]).
    /// Fails with [`SfuError::UnknownParticipant`] if its media is not in the SFU (yet): set
    /// it again once [`MediaServer::add_participant`] succeeded.
    pub async fn set_audio_muted(&self, participant: &str, muted: bool) -> Result<(), MediaError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::SetAudioMuted {
            participant: participant.to_owned(),
            muted,
            reply,
        })?;
        Ok(done.await.map_err(|_| MediaError::Stopped)??)
    }

    /// Allows or refuses a participant's screen share (see
    /// [`Sfu::set_screen_share_allowed`]); refused attempts come back as
    /// [`MediaEvent::TrackRefused`]. Fails as [`MediaServer::set_audio_muted`] does.
    pub async fn set_screen_share_allowed(
        &self,
        participant: &str,
        allowed: bool,
    ) -> Result<(), MediaError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::SetScreenShareAllowed {
            participant: participant.to_owned(),
            allowed,
            reply,
        })?;
        Ok(done.await.map_err(|_| MediaError::Stopped)??)
    }

    /// The SFU's counters, as of the last packet or timer it handled.
    pub fn stats(&self) -> SfuStats {
        *self
            .stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The UDP address actually bound.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The ICE-TCP address actually bound, if configured.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Sees every forwarded payload; tests and diagnostics only (see [`PayloadTap`]).
    pub fn set_payload_tap(&self, tap: Option<PayloadTap>) {
        let _ = self.send(Command::SetPayloadTap(tap));
    }

    fn send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.send(command).map_err(|_| MediaError::Stopped)
    }
}

impl fmt::Debug for MediaServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaServer")
            .field("udp_addr", &self.udp_addr)
            .field("tcp_addr", &self.tcp_addr)
            .finish_non_exhaustive()
    }
}

/// The media task's state.
struct Driver {
    sfu: Sfu,
    udp: UdpSocket,
    /// Where clients send to: str0m matches packets to the candidate they were sent to,
    /// which behind NAT is not the socket's own address.
    udp_candidate: SocketAddr,
    tcp_candidate: Option<SocketAddr>,
    /// Outgoing packet queues of the ICE-TCP connections, by remote address.
    tcp_connections: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    stats: Arc<Mutex<SfuStats>>,
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        tcp: Option<TcpListener>,
    ) {
        let (tcp_events, mut tcp_rx) = mpsc::channel(ice_tcp::INBOUND_QUEUE);
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        loop {
            let timeout = self.flush().await;
            let wake = timeout.max(Instant::now() + MIN_WAIT);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                received = self.udp.recv_from(&mut buf) => match received {
                    Ok((n, source)) => self.sfu.handle_packet(
                        Instant::now(),
                        Protocol::Udp,
                        source,
                        self.udp_candidate,
                        &buf[..n],
                    ),
                    // E.g. ICMP port unreachable reported on a later receive: not fatal.
                    Err(e) => tracing::debug!("media UDP receive failed: {e}"),
                },
                accepted = ice_tcp::accept(tcp.as_ref()) => match accepted {
                    Ok((stream, peer)) => ice_tcp::spawn_connection(stream, peer, tcp_events.clone()),
                    Err(e) => tracing::debug!("ICE-TCP accept failed: {e}"),
                },
                Some(event) = tcp_rx.recv() => self.handle_tcp(event),
                () = tokio::time::sleep_until(wake.into()) => self.sfu.handle_timeout(Instant::now()),
            }
        }
        tracing::info!("media server stopped");
    }

    /// Carries out everything the SFU has to say; returns when it next wants a timeout.
    async fn flush(&mut self) -> Instant {
        let timeout = loop {
            match self.sfu.poll_output() {
                SfuOutput::Transmit(transmit) => self.transmit(transmit).await,
                SfuOutput::Offer { participant, sdp } => {
                    // Nobody listening means the server is shutting down.
                    let _ = self.events.send(MediaEvent::Offer { participant, sdp });
                }
                SfuOutput::TrackRefused { participant, track } => {
                    let _ = self
                        .events
                        .send(MediaEvent::TrackRefused { participant, track });
                }
                SfuOutput::Disconnected { participant } => {
                    tracing::info!(%participant, "media connection lost; participant removed from the SFU");
                }
                SfuOutput::Timeout(t) => break t,
            }
        };
        *self
            .stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = self.sfu.stats();
        timeout
    }

    async fn transmit(&mut self, transmit: Transmit) {
        match transmit.proto {
            Protocol::Udp => {
                if let Err(e) = self
                    .udp
                    .send_to(&transmit.contents, transmit.destination)
                    .await
                {
                    tracing::debug!("media UDP send failed: {e}");
                }
            }
            _ => {
                // ICE-TCP is passive here: without the client's connection there is no way
                // to reach it. A full queue drops the packet, as a congested UDP path would.
                if let Some(queue) = self.tcp_connections.get(&transmit.destination) {
                    let _ = queue.try_send(transmit.contents.to_vec());
                }
            }
        }
    }

    fn handle_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::AddParticipant {
                room,
                participant,
                offer_sdp,
                reply,
            } => {
                let result = self
                    .sfu
                    .add_participant(now, &room, &participant, &offer_sdp);
                let _ = reply.send(result);
            }
            Command::AcceptAnswer {
                participant,
                answer_sdp,
                reply,
            } => {
                let result = self.sfu.accept_answer(&participant, &answer_sdp);
                let _ = reply.send(result);
            }
            Command::RemoveParticipant(participant) => self.sfu.remove_participant(&participant),
            Command::SetAudioMuted {
                participant,
                muted,
                reply,
            } => {
                let _ = reply.send(self.sfu.set_audio_muted(&participant, muted));
            }
            Command::SetScreenShareAllowed {
                participant,
                allowed,
                reply,
            } => {
                let _ = reply.send(self.sfu.set_screen_share_allowed(&participant, allowed));
            }
            Command::SetPayloadTap(tap) => self.sfu.set_payload_tap(tap),
        }
    }

    fn handle_tcp(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Opened { peer, outgoing } => {
                self.tcp_connections.insert(peer, outgoing);
            }
            TcpEvent::Packet { peer, contents } => {
                if let Some(candidate) = self.tcp_candidate {
                    self.sfu.handle_packet(
                        Instant::now(),
                        Protocol::Tcp,
                        peer,
                        candidate,
                        &contents,
                    );
                }
            }
            TcpEvent::Closed { peer } => {
                self.tcp_connections.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn controls_reach_the_sfu_and_report_unknown_participants() {
        let (media, _events) = MediaServer::start(MediaConfig {
            udp_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_ip: None,
            tcp_listen: None,
            max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
        })
        .await
        .expect("media server starts");
        let muted = media.set_audio_muted("nobody", true).await;
        assert!(
            matches!(&muted, Err(MediaError::Sfu(SfuError::UnknownParticipant(name))) if name == "nobody"),
            "{muted:?}"
        );
        let refused = media.set_screen_share_allowed("nobody", false).await;
        assert!(
            matches!(
                refused,
                Err(MediaError::Sfu(SfuError::UnknownParticipant(_)))
            ),
            "{refused:?}"
        );
    }
}
