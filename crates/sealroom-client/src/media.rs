//! The native client's media engine: one WebRTC peer connection to the SFU (str0m, a full ICE
//! agent; the server is ICE-lite) on its own UDP socket, driven by one tokio task.
//!
//! Every frame is protected with SFrame under the shared [`MediaKeyring`] before it reaches
//! str0m; while the keyring has no epoch, frames are dropped and counted, never sent in the
//! clear. VP8 frames keep their frame header readable (10 bytes on key frames, 3 otherwise) so
//! the SFU can tell key frames; Opus frames are encrypted whole. Incoming frames are decrypted,
//! counted per sender leaf index, checked against the synthetic layout, and dropped: this engine
//! renders nothing. Publishing sends synthetic media (see `synthetic`), sized like Opus and a
//! 1 Mbit/s VP8 stream, for tests, bots and load runs.

mod endpoint;
mod latency;
mod publisher;
mod stats;
mod synthetic;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sealroom_e2ee::sframe::{CipherSuite, MediaKeyring};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::error::{RtcError, SdpError};
use str0m::{Candidate, Rtc};
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, info_span};

use endpoint::{Command, Endpoint, KeyframeWatch};
pub use latency::LatencyHistogram;
use publisher::{Publisher, lock};
pub use stats::{MediaStats, SenderStats};
/// Whether bytes are exactly an unencrypted frame of Sealroom's synthetic source: what a test
/// that plays a curious server looks for in what the SFU forwards.
pub use synthetic::is_intact as is_synthetic_plaintext;

/// A frame the engine received and decrypted, as it is (the codec's encoded bytes), for a tap
/// such as `sealroom record`.
#[derive(Debug, Clone)]
pub struct ReceivedFrame {
    /// The sender's MLS leaf index (from the SFrame key id).
    pub sender: u32,
    /// Audio or video.
    pub kind: str0m::media::MediaKind,
    /// RTP time of the frame, in units of `clock_rate`, as str0m extends it (no wrap).
    pub rtp_time: u64,
    /// The RTP clock rate (90 000 for VP8, 48 000 for Opus).
    pub clock_rate: u32,
    /// When its last packet arrived.
    pub arrived: Instant,
    /// The decrypted frame.
    pub payload: Vec<u8>,
}

/// Where decrypted frames go, if anywhere: shared with the signalling side, so that a tap set
/// once stays through every new media engine a rejoin starts. While a tap is set, the engine
/// also asks the SFU for a key frame of a video stream whose first frames are not one.
pub type FrameTap = Arc<Mutex<Option<mpsc::UnboundedSender<ReceivedFrame>>>>;

/// How the media engine runs.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Local address for the UDP socket and the ICE host candidate (not unspecified).
    pub bind_ip: IpAddr,
    /// What to send; `None` receives only.
    pub publish: Option<SyntheticMedia>,
    /// SFrame cipher suite of the room; the keyring must be built for it.
    pub suite: CipherSuite,
}

/// Which synthetic tracks to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticMedia {
    /// Opus-like audio, 50 frames/s of about 100 bytes.
    pub audio: bool,
    /// VP8-like video, 30 frames/s at about 1 Mbit/s, a key frame every 2 s.
    pub video: bool,
    /// Send the video as two simulcast layers, "h" and "l" (a quarter of the size).
    pub simulcast: bool,
}

/// Why the media engine could not do what was asked.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The keyring was built for another cipher suite than the room's.
    #[error("keyring uses SFrame suite 0x{keyring:04x}, the room 0x{room:04x}")]
    SuiteMismatch {
        /// Suite of the keyring.
        keyring: u16,
        /// Suite in the configuration.
        room: u16,
    },
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP on {ip}: {source}")]
    Bind {
        /// Address asked for.
        ip: IpAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bound address cannot be an ICE host candidate (e.g. unspecified).
    #[error("{0} cannot be used as an ICE candidate")]
    UnusableAddress(SocketAddr),
    /// The SDP from the SFU does not parse.
    #[error("invalid SDP: {0}")]
    InvalidSdp(#[from] SdpError),
    /// str0m refused the SDP from the SFU.
    #[error("SDP negotiation failed: {0}")]
    Negotiation(#[source] RtcError),
    /// An answer arrived but no offer of ours waits for one.
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    /// The SFU's offer crossed ours (an ICE restart) and is ignored: the SFU offers again
    /// after answering ours.
    #[error("the SFU's offer crossed ours")]
    OffersCrossed,
    /// The engine has stopped: the peer connection closed or failed.
    #[error("the media engine has stopped")]
    Stopped,
}

/// A running media engine. Dropping it stops the engine too, without waiting.
#[derive(Debug)]
pub struct Media {
    commands: mpsc::Sender<Command>,
    stats: Arc<Mutex<MediaStats>>,
    task: JoinHandle<()>,
}

impl Media {
    /// Binds the socket, starts the engine and returns it with the SDP offer for the SFU:
    /// send-only audio and video m-lines when publishing (video with simulcast layers "h" and
    /// "l" if asked), or a data channel only, so a receive-only client still negotiates a
    /// transport the SFU can add tracks to.
    ///
    /// `keys` is shared with the signalling side, which installs each MLS epoch; keyring time
    /// is `Instant::now() - clock_origin`.
    pub async fn start(
        config: MediaConfig,
        keys: Arc<Mutex<MediaKeyring>>,
        clock_origin: Instant,
    ) -> Result<(Media, String), MediaError> {
        Self::start_tapped(config, keys, clock_origin, FrameTap::default()).await
    }

    /// As [`start`](Self::start), handing every decrypted frame to `tap` while it holds a
    /// sender.
    pub async fn start_tapped(
        config: MediaConfig,
        keys: Arc<Mutex<MediaKeyring>>,
        clock_origin: Instant,
        tap: FrameTap,
    ) -> Result<(Media, String), MediaError> {
        let (socket, local_addr, mut rtc) = bind(&config, &keys)?;
        let mut change = rtc.sdp_api();
        let publisher = Publisher::offer(&mut change, config.publish);
        if publisher.is_empty() {
            change.add_channel("sealroom-media".into());
        }
        let (offer, pending_offer) = change
            .apply()
            .expect("an offer with an m-line always has changes");
        let endpoint = Endpoint {
            rtc,
            socket,
            local_addr,
            keys,
            clock_origin,
            stats: Arc::default(),
            publisher,
            pending_offer: Some(pending_offer),
            restart_candidate: None,
            tap,
            keyframes: KeyframeWatch::default(),
        };
        Ok((Media::spawn(endpoint), offer.to_sdp_string()))
    }

    /// Starts a receive-only engine on an SFU's offer, for an SFU that offers first (Janus's
    /// subscriptions), and returns it with the answer; `config.publish` must be `None`. Later
    /// offers go to [`accept_offer`](Self::accept_offer).
    pub async fn answer(
        config: MediaConfig,
        keys: Arc<Mutex<MediaKeyring>>,
        clock_origin: Instant,
        offer: &str,
    ) -> Result<(Media, String), MediaError> {
        debug_assert!(
            config.publish.is_none(),
            "an answering engine only receives"
        );
        let offer = SdpOffer::from_sdp_string(offer)?;
        let (socket, local_addr, mut rtc) = bind(&config, &keys)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(MediaError::Negotiation)?;
        let endpoint = Endpoint {
            rtc,
            socket,
            local_addr,
            keys,
            clock_origin,
            stats: Arc::default(),
            publisher: Publisher::receive_only(),
            pending_offer: None,
            restart_candidate: None,
            tap: FrameTap::default(),
            keyframes: KeyframeWatch::default(),
        };
        Ok((Media::spawn(endpoint), answer.to_sdp_string()))
    }

    fn spawn(endpoint: Endpoint) -> Media {
        let stats = endpoint.stats.clone();
        let (commands, command_rx) = mpsc::channel(4);
        let span = info_span!("media", local = %endpoint.local_addr);
        let task = tokio::spawn(endpoint.run(command_rx).instrument(span));
        Media {
            commands,
            stats,
            task,
        }
    }

    /// Applies the SFU's answer to the offer from [`start`](Self::start).
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), MediaError> {
        let answer = SdpAnswer::from_sdp_string(sdp)?;
        self.request(|reply| Command::AcceptAnswer { answer, reply })
            .await
    }

    /// Applies an offer from the SFU (it renegotiates to add the tracks we receive) and
    /// returns our answer; while an offer of ours waits for its answer, the SFU's is refused
    /// with [`MediaError::OffersCrossed`] and must not be answered.
    pub async fn accept_offer(&self, sdp: &str) -> Result<String, MediaError> {
        let offer = SdpOffer::from_sdp_string(sdp)?;
        self.request(|reply| Command::AcceptOffer { offer, reply })
            .await
    }

    /// The network changed: moves to a new UDP socket on `bind_ip` and returns an ICE-restart
    /// offer for the SFU (its answer goes to [`accept_answer`](Self::accept_answer)). The
    /// peer connection, its keys and tracks carry on.
    pub async fn restart_ice(&self, bind_ip: IpAddr) -> Result<String, MediaError> {
        self.request(|reply| Command::RestartIce { bind_ip, reply })
            .await
    }

    /// The counters so far.
    pub fn stats(&self) -> MediaStats {
        lock(&self.stats).clone()
    }

    /// Closes the peer connection (telling the SFU) and waits for the engine to end.
    pub async fn stop(self) {
        let Media { commands, task, .. } = self;
        drop(commands);
        // A panicked engine task has nothing left to stop.
        let _ = task.await;
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, MediaError>>) -> Command,
    ) -> Result<T, MediaError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| MediaError::Stopped)?;
        response.await.map_err(|_| MediaError::Stopped)?
    }
}

/// Checks the keyring's suite, binds the UDP socket and builds a peer connection with it as the
/// ICE host candidate.
fn bind(
    config: &MediaConfig,
    keys: &Mutex<MediaKeyring>,
) -> Result<(UdpSocket, SocketAddr, Rtc), MediaError> {
    let keyring_suite = lock(keys).suite();
    if keyring_suite != config.suite {
        return Err(MediaError::SuiteMismatch {
            keyring: keyring_suite.id(),
            room: config.suite.id(),
        });
    }
    let (socket, local_addr, candidate) = host_socket(config.bind_ip)?;
    let mut rtc = Rtc::builder().build(Instant::now());
    if rtc.add_local_candidate(candidate).is_none() {
        return Err(MediaError::UnusableAddress(local_addr));
    }
    Ok((socket, local_addr, rtc))
}

/// A UDP socket on `ip` (port chosen by the system) and its ICE host candidate.
fn host_socket(ip: IpAddr) -> Result<(UdpSocket, SocketAddr, Candidate), MediaError> {
    let bind_error = |source| MediaError::Bind { ip, source };
    let socket = std::net::UdpSocket::bind((ip, 0))
        .and_then(|socket| {
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(socket)
        })
        .map_err(bind_error)?;
    let local_addr = socket.local_addr().map_err(bind_error)?;
    let candidate =
        Candidate::host(local_addr, "udp").map_err(|_| MediaError::UnusableAddress(local_addr))?;
    Ok((socket, local_addr, candidate))
}
