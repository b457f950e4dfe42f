//! The SFU's I/O drivers: media threads ("shards"), each owning its own media sockets and a
//! sans-IO [`Sfu`]; the rest of the server talks to them through a [`MediaServer`] handle,
//! which places each room on one shard (see [`placement`]). Shards share nothing, so
//! forwarding takes no lock and spreads over cores room by room.
//!
//! The participants of a shard share its one UDP port; with `tcp_listen` set, ICE-TCP
//! connections (RFC 4571 framing, see [`ice_tcp`]; held to [`IceTcpLimits`]) are a fallback
//! where UDP is blocked. A shard reads its UDP socket in batches (see
//! [`Driver::receive_batch`]); still one syscall per datagram.

mod ice_tcp;
mod placement;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_sfu::{PayloadTap, Protocol, Sfu, SfuConfig, SfuError, SfuOutput, SfuStats, Transmit};
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use ice_tcp::TcpEvent;
use placement::Placement;

pub use ice_tcp::IceTcpLimits;
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
    /// What an ICE-TCP client may hold open, and for how long.
    pub tcp_limits: IceTcpLimits,
    /// Payload bits per second one participant may publish (see
    /// [`SfuConfig::max_publish_bps`]).
    pub max_publish_bps: u64,
    /// Media threads, each with its own SFU and ports (`udp_listen`'s port, the next one,
    /// …), rooms spread over them; 0 and 1 both mean one.
    pub threads: usize,
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

/// A handle on the media threads; cheap to clone. They stop when every handle is dropped.
#[derive(Clone)]
pub struct MediaServer {
    shards: Arc<[Shard]>,
    placement: Arc<Mutex<Placement>>,
}

/// One media thread: its own sockets, its own [`Sfu`], the rooms placed on it.
struct Shard {
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
    OfferPendingChanges(String),
    RemoveParticipant(String),
    Control {
        participant: String,
        control: Control,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    SetPayloadTap(Option<PayloadTap>),
}

/// What the room decides about one participant's media.
enum Control {
    AudioMuted(bool),
    ScreenShareAllowed(bool),
    ReceivesMedia(bool),
}

/// The receive buffer: above any WebRTC datagram (str0m keeps them under 1200 bytes).
const RECEIVE_BUFFER: usize = 2000;

/// Datagrams read in one go before the SFU's timers run and its output is sent.
const RECEIVE_BATCH: usize = 16;

/// str0m may ask to be woken at a time already past; waiting at least this long keeps the
/// loop from spinning on it.
const MIN_WAIT: Duration = Duration::from_millis(1);

impl MediaServer {
    /// Binds the sockets and starts the media threads ([`MediaConfig::threads`]). Returns
    /// the handle and the events the signalling layer must act on.
    pub fn start(
        config: MediaConfig,
    ) -> anyhow::Result<(MediaServer, mpsc::UnboundedReceiver<MediaEvent>)> {
        let (events, event_rx) = mpsc::unbounded_channel();
        let threads = config.threads.max(1);
        let shards = (0..threads)
            .map(|index| Shard::start(&config, index, events.clone()))
            .collect::<anyhow::Result<Arc<[Shard]>>>()?;
        Ok((
            MediaServer {
                shards,
                placement: Arc::new(Mutex::new(Placement::new(threads))),
            },
            event_rx,
        ))
    }

    /// Adds a participant to a room from its SDP offer; returns the SDP answer. A later offer
    /// of the same participant (an ICE restart) renegotiates: call
    /// [`Self::offer_pending_changes`] once its answer is on its way.
    pub async fn add_participant(
        &self,
        room: &str,
        participant: &str,
        offer_sdp: &str,
    ) -> Result<String, MediaError> {
        let placed = self.placement().place(room, participant);
        let (reply, answer) = oneshot::channel();
        let added = async {
            self.shards[placed.shard].send(Command::AddParticipant {
                room: room.to_owned(),
                participant: participant.to_owned(),
                offer_sdp: offer_sdp.to_owned(),
                reply,
            })?;
            Ok(answer.await.map_err(|_| MediaError::Stopped)??)
        }
        .await;
        if added.is_err() && placed.new {
            self.placement().remove(participant);
        }
        added
    }

    /// Applies a participant's answer to the last [`MediaEvent::Offer`] it was sent.
    pub async fn accept_answer(&self, participant: &str, sdp: &str) -> Result<(), MediaError> {
        let (reply, done) = oneshot::channel();
        self.shard_of(participant)?.send(Command::AcceptAnswer {
            participant: participant.to_owned(),
            answer_sdp: sdp.to_owned(),
            reply,
        })?;
        Ok(done.await.map_err(|_| MediaError::Stopped)??)
    }

    /// Sends the participant the SFU's offer that waited for the answer to its own (see
    /// [`Sfu::offer_pending_changes`]). Does not wait; unknown names are ignored.
    pub fn offer_pending_changes(&self, participant: &str) {
        if let Ok(shard) = self.shard_of(participant) {
            let _ = shard.send(Command::OfferPendingChanges(participant.to_owned()));
        }
    }

    /// Removes a participant and its tracks. Does not wait; unknown names are ignored.
    pub fn remove_participant(&self, participant: &str) {
        let shard = self.placement().remove(participant);
        if let Some(shard) = shard {
            // A stopped server has no participants left to remove.
            let _ = self.shards[shard].send(Command::RemoveParticipant(participant.to_owned()));
        }
    }

    /// Mutes or unmutes a participant's audio for everyone (see [`Sfu::set_audio_muted`]).
    /// Fails with [`SfuError::UnknownParticipant`] if its media is not in the SFU (yet): set
    /// it again once [`MediaServer::add_participant`] succeeded.
    pub async fn set_audio_muted(&self, participant: &str, muted: bool) -> Result<(), MediaError> {
        self.control(participant, Control::AudioMuted(muted)).await
    }

    /// Allows or refuses a participant's screen share (see
    /// [`Sfu::set_screen_share_allowed`]); refused attempts come back as
    /// [`MediaEvent::TrackRefused`]. Fails as [`MediaServer::set_audio_muted`] does.
    pub async fn set_screen_share_allowed(
        &self,
        participant: &str,
        allowed: bool,
    ) -> Result<(), MediaError> {
        self.control(participant, Control::ScreenShareAllowed(allowed))
            .await
    }

    /// Lets a participant receive the room's media, or stops it (see
    /// [`Sfu::set_receives_media`]); nobody receives before this. Fails as
    /// [`MediaServer::set_audio_muted`] does.
    pub async fn set_receives_media(
        &self,
        participant: &str,
        receives: bool,
    ) -> Result<(), MediaError> {
        self.control(participant, Control::ReceivesMedia(receives))
            .await
    }

    async fn control(&self, participant: &str, control: Control) -> Result<(), MediaError> {
        let (reply, done) = oneshot::channel();
        self.shard_of(participant)?.send(Command::Control {
            participant: participant.to_owned(),
            control,
            reply,
        })?;
        Ok(done.await.map_err(|_| MediaError::Stopped)??)
    }

    /// The SFU's counters summed over the media threads, each as of the last packet or
    /// timer it handled.
    pub fn stats(&self) -> SfuStats {
        self.shards
            .iter()
            .map(|shard| *shard.stats.lock().unwrap_or_else(|p| p.into_inner()))
            .sum()
    }

    /// The UDP addresses actually bound, one per media thread.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.shards.iter().map(|shard| shard.udp_addr).collect()
    }

    /// The first media thread's UDP address (where a one-thread server receives all media).
    pub fn udp_addr(&self) -> SocketAddr {
        self.shards[0].udp_addr
    }

    /// The first media thread's ICE-TCP address, if configured.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.shards[0].tcp_addr
    }

    /// Sees every forwarded payload on every media thread; tests and diagnostics only (see
    /// [`PayloadTap`]).
    pub fn set_payload_tap(&self, tap: Option<PayloadTap>) {
        let shared = tap.map(|tap| Arc::new(Mutex::new(tap)));
        for shard in self.shards.iter() {
            let tap = shared.clone().map(|shared| -> PayloadTap {
                Box::new(move |payload: &[u8]| {
                    (shared.lock().unwrap_or_else(|p| p.into_inner()))(payload)
                })
            });
            let _ = shard.send(Command::SetPayloadTap(tap));
        }
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.placement
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shard_of(&self, participant: &str) -> Result<&Shard, MediaError> {
        let shard = self.placement().shard_of(participant);
        shard
            .map(|shard| &self.shards[shard])
            .ok_or_else(|| SfuError::UnknownParticipant(participant.to_owned()).into())
    }
}

impl fmt::Debug for MediaServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaServer")
            .field("udp_addrs", &self.udp_addrs())
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// Binds shard `index`'s sockets (the configured ports plus `index`, or any free port
    /// for port 0) and starts its thread.
    ///
    /// A thread of its own with a single-threaded runtime, not a task among the signalling
    /// server's: every datagram wakes it, and on the shared multi-threaded runtime each
    /// wake-up could hop between worker threads (measured: 8 % of the SFU's CPU in context
    /// switches under load).
    fn start(
        config: &MediaConfig,
        index: usize,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> anyhow::Result<Shard> {
        let udp = std::net::UdpSocket::bind(nth_port(config.udp_listen, index)?)?;
        udp.set_nonblocking(true)?;
        let udp_addr = udp.local_addr()?;
        let tcp = match config.tcp_listen {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(nth_port(addr, index)?)?;
                listener.set_nonblocking(true)?;
                Some(listener)
            }
            None => None,
        };
        let tcp_addr = tcp
            .as_ref()
            .map(std::net::TcpListener::local_addr)
            .transpose()?;

        // Clients must be told the address they can reach, with the port actually bound.
        let advertise = |bound: SocketAddr| {
            SocketAddr::new(config.public_ip.unwrap_or(bound.ip()), bound.port())
        };
        let mut sfu_config = SfuConfig::new(advertise(udp_addr));
        sfu_config.tcp_candidate = tcp_addr.map(advertise);
        sfu_config.max_publish_bps = config.max_publish_bps;
        let sfu = Sfu::new(sfu_config.clone(), Instant::now())?;
        let tcp_limits = config.tcp_limits;

        let (commands, command_rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(SfuStats::default()));
        let driver_stats = stats.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("sealroom-media-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    // Sockets belong to the runtime that registers them: this one.
                    let sockets = UdpSocket::from_std(udp)
                        .and_then(|udp| Ok((udp, tcp.map(TcpListener::from_std).transpose()?)));
                    let (udp, tcp) = match sockets {
                        Ok(sockets) => sockets,
                        Err(e) => return tracing::error!("media sockets unusable: {e}"),
                    };
                    let driver = Driver {
                        sfu,
                        udp,
                        udp_candidate: sfu_config.udp_candidate,
                        tcp_candidate: sfu_config.tcp_candidate,
                        tcp_connections: ice_tcp::Connections::new(tcp_limits),
                        events,
                        stats: driver_stats,
                    };
                    driver.run(command_rx, tcp).await;
                });
            })?;
        tracing::info!(shard = index, %udp_addr, tcp_addr = ?tcp_addr, "media thread listening");
        Ok(Shard {
            commands,
            stats,
            udp_addr,
            tcp_addr,
        })
    }

    fn send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.send(command).map_err(|_| MediaError::Stopped)
    }
}

/// `addr` with its port moved up by `index`; port 0 (any free port) stays 0.
fn nth_port(addr: SocketAddr, index: usize) -> anyhow::Result<SocketAddr> {
    if addr.port() == 0 {
        return Ok(addr);
    }
    let port = u16::try_from(index)
        .ok()
        .and_then(|index| addr.port().checked_add(index))
        .ok_or_else(|| anyhow::anyhow!("no port {index} above {addr} for media thread {index}"))?;
    Ok(SocketAddr::new(addr.ip(), port))
}

/// The media task's state.
struct Driver {
    sfu: Sfu,
    udp: UdpSocket,
    /// Where clients send to: str0m matches packets to the candidate they were sent to,
    /// which behind NAT is not the socket's own address.
    udp_candidate: SocketAddr,
    tcp_candidate: Option<SocketAddr>,
    tcp_connections: ice_tcp::Connections,
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
        let mut tcp_sweep = tokio::time::interval(ice_tcp::SWEEP_INTERVAL);
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        loop {
            let timeout = self.flush().await;
            let wake = timeout.max(Instant::now() + MIN_WAIT);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                readable = self.udp.readable() => match readable {
                    Ok(()) => self.receive_batch(&mut buf),
                    Err(e) => tracing::debug!("media UDP socket not readable: {e}"),
                },
                accepted = ice_tcp::accept(tcp.as_ref()) => match accepted {
                    Ok((stream, peer)) => {
                        self.tcp_connections.accept(stream, peer, &tcp_events, Instant::now());
                    }
                    Err(e) => tracing::debug!("ICE-TCP accept failed: {e}"),
                },
                Some(event) = tcp_rx.recv() => self.handle_tcp(event),
                _ = tcp_sweep.tick(), if tcp.is_some() => {
                    self.tcp_connections.close_stale(Instant::now());
                }
                () = tokio::time::sleep_until(wake.into()) => self.sfu.handle_timeout(Instant::now()),
            }
        }
        tracing::info!("media server stopped");
    }

    /// Reads what the socket holds, up to [`RECEIVE_BATCH`] datagrams, then lets str0m send
    /// what they made: a packet written for a receiver leaves only after str0m's pacer has
    /// had a timeout to see it, so running the timers due now at the end of each batch
    /// (not after [`MIN_WAIT`]) saves a millisecond or more per hop, once per batch instead
    /// of once per packet.
    fn receive_batch(&mut self, buf: &mut [u8]) {
        for _ in 0..RECEIVE_BATCH {
            match self.udp.try_recv_from(buf) {
                Ok((n, source)) => {
                    self.sfu.handle_packet(
                        Instant::now(),
                        Protocol::Udp,
                        source,
                        self.udp_candidate,
                        &buf[..n],
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // E.g. ICMP port unreachable reported on a later receive: not fatal.
                Err(e) => tracing::debug!("media UDP receive failed: {e}"),
            }
        }
        self.sfu.handle_timeout(Instant::now());
    }

    /// Carries out everything the SFU has to say; returns when it next wants a timeout.
    async fn flush(&mut self) -> Instant {
        // Published before sending, so a packet a client received is already counted.
        *self
            .stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = self.sfu.stats();
        loop {
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
        }
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
                if let Some(queue) = self.tcp_connections.outgoing(&transmit.destination) {
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
            Command::OfferPendingChanges(participant) => {
                self.sfu.offer_pending_changes(&participant);
            }
            Command::RemoveParticipant(participant) => self.sfu.remove_participant(&participant),
            Command::Control {
                participant,
                control,
                reply,
            } => {
                let result = match control {
                    Control::AudioMuted(muted) => self.sfu.set_audio_muted(&participant, muted),
                    Control::ScreenShareAllowed(allowed) => {
                        self.sfu.set_screen_share_allowed(&participant, allowed)
                    }
                    Control::ReceivesMedia(receives) => {
                        self.sfu.set_receives_media(&participant, receives)
                    }
                };
                let _ = reply.send(result);
            }
            Command::SetPayloadTap(tap) => self.sfu.set_payload_tap(tap),
        }
    }

    fn handle_tcp(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Packet { peer, contents } => {
                if let Some(candidate) = self.tcp_candidate {
                    let now = Instant::now();
                    let taken =
                        self.sfu
                            .handle_packet(now, Protocol::Tcp, peer, candidate, &contents);
                    self.tcp_connections.heard(peer, now, taken);
                    self.sfu.handle_timeout(now);
                }
            }
            TcpEvent::Closed { peer, number } => self.tcp_connections.closed(peer, number),
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
            tcp_limits: IceTcpLimits::default(),
            max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
            threads: 2,
        })
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
