//! The task that owns the UDP socket and the str0m peer connection: a thin driver that feeds
//! datagrams, timeouts and signalling commands into `Rtc`, sends what it outputs, and turns its
//! events into protected sends and decrypted, counted receives.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_e2ee::sframe::MediaKeyring;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, trace, warn};

use super::publisher::{Outlet, Publisher, lock};
use super::stats::MediaStats;
use super::synthetic;
use super::{FrameTap, MediaError, ReceivedFrame};

/// Largest datagram read; WebRTC keeps below the path MTU.
const RECEIVE_BUFFER: usize = 2_000;

/// A request from the signalling side.
pub(crate) enum Command {
    AcceptAnswer {
        answer: SdpAnswer,
        reply: oneshot::Sender<Result<(), MediaError>>,
    },
    AcceptOffer {
        offer: SdpOffer,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    RestartIce {
        bind_ip: IpAddr,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
}

pub(crate) struct Endpoint {
    pub(crate) rtc: Rtc,
    pub(crate) socket: UdpSocket,
    pub(crate) local_addr: SocketAddr,
    pub(crate) keys: Arc<Mutex<MediaKeyring>>,
    pub(crate) clock_origin: Instant,
    pub(crate) stats: Arc<Mutex<MediaStats>>,
    pub(crate) publisher: Publisher,
    /// Our offer waiting for the SFU's answer.
    pub(crate) pending_offer: Option<SdpPendingOffer>,
    /// The host candidate of a new network, added once the SFU answered the ICE restart
    /// (str0m drops the old candidates when it applies the answer).
    pub(crate) restart_candidate: Option<Candidate>,
    /// Where decrypted frames go as well, if a tap is set (`sealroom record`).
    pub(crate) tap: FrameTap,
    /// For the tap: video streams still waiting for their first key frame.
    pub(crate) keyframes: KeyframeWatch,
}

/// How often a tapped video stream without a key frame yet asks for one.
const KEYFRAME_REQUEST_SPACING: Duration = Duration::from_secs(1);

/// Video streams (by mid) a tap has seen a key frame of, and when the others last asked for
/// one: a recording starts at a key frame, which the sender otherwise sends only every few
/// seconds.
#[derive(Default)]
pub(crate) struct KeyframeWatch {
    seen: HashMap<Mid, Option<Instant>>,
}

impl KeyframeWatch {
    /// Whether to ask for a key frame on `mid`, whose frame (`keyframe` or not) just came.
    fn wants_request(&mut self, mid: Mid, keyframe: bool, now: Instant) -> bool {
        if keyframe {
            self.seen.insert(mid, None);
            return false;
        }
        match self.seen.get(&mid) {
            // A key frame came: the stream carries on from it.
            Some(None) => false,
            Some(Some(asked)) if now.duration_since(*asked) < KEYFRAME_REQUEST_SPACING => false,
            _ => {
                self.seen.insert(mid, Some(now));
                true
            }
        }
    }
}

/// What woke the loop.
enum Wake {
    Command(Option<Command>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Timer,
}

impl Endpoint {
    /// Runs until the `Media` handle is dropped or stopped, or the peer connection dies.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0; RECEIVE_BUFFER];
        loop {
            let Some(rtc_deadline) = self.drive_output() else {
                info!("peer connection closed");
                break;
            };
            let deadline = self
                .publisher
                .next_due()
                .map_or(rtc_deadline, |due| due.min(rtc_deadline));
            let wake = tokio::select! {
                command = commands.recv() => Wake::Command(command),
                received = self.socket.recv_from(&mut buf) => Wake::Datagram(received),
                () = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
            };
            match wake {
                Wake::Command(Some(command)) => {
                    self.handle_command(command);
                    // str0m's ICE agent starts its checks on its first timeout, which nothing
                    // schedules before it has one: without this, a peer connection whose
                    // answer is followed by no other input (a Janus publisher) never connects.
                    self.handle_timeout(Instant::now());
                }
                Wake::Command(None) => {
                    self.close();
                    break;
                }
                Wake::Datagram(Ok((len, source))) => self.handle_datagram(&buf[..len], source),
                // ICMP errors from earlier sends surface here; ICE copes with lost paths.
                Wake::Datagram(Err(e)) => debug!(error = %e, "UDP receive failed"),
                Wake::Timer => self.handle_timeout(Instant::now()),
            }
        }
        lock(&self.stats).ice_connected = false;
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::AcceptAnswer { answer, reply } => {
                let result = match self.pending_offer.take() {
                    Some(pending) => self
                        .rtc
                        .sdp_api()
                        .accept_answer(pending, answer)
                        .map_err(MediaError::Negotiation),
                    None => Err(MediaError::NoPendingOffer),
                };
                if result.is_ok()
                    && let Some(candidate) = self.restart_candidate.take()
                {
                    self.rtc.add_local_candidate(candidate);
                }
                let _ = reply.send(result);
            }
            Command::AcceptOffer { offer, reply } => {
                // Offers crossed: the SFU withdraws its own when ours arrives and offers again
                // after its answer, so ours stands and its is ignored.
                let result = if self.pending_offer.is_some() {
                    debug!("the SFU's offer crossed ours: ignored");
                    Err(MediaError::OffersCrossed)
                } else {
                    self.rtc
                        .sdp_api()
                        .accept_offer(offer)
                        .map(|answer| answer.to_sdp_string())
                        .map_err(MediaError::Negotiation)
                };
                let _ = reply.send(result);
            }
            Command::RestartIce { bind_ip, reply } => {
                let _ = reply.send(self.restart_ice(bind_ip));
            }
        }
    }

    /// Moves to a new socket on `bind_ip` (the network changed) and returns the ICE-restart
    /// offer for the SFU; media resumes once its answer is applied and a check gets through.
    fn restart_ice(&mut self, bind_ip: IpAddr) -> Result<String, MediaError> {
        let (socket, local_addr, candidate) = super::host_socket(bind_ip)?;
        let mut change = self.rtc.sdp_api();
        change.ice_restart(false);
        let (offer, pending) = change.apply().expect("an ICE restart is a change");
        info!(%local_addr, "network changed: ICE restart");
        self.socket = socket;
        self.local_addr = local_addr;
        self.pending_offer = Some(pending);
        self.restart_candidate = Some(candidate);
        Ok(offer.to_sdp_string())
    }

    fn handle_datagram(&mut self, datagram: &[u8], source: SocketAddr) {
        let Ok(contents) = DatagramRecv::try_from(datagram) else {
            trace!(%source, "datagram is not WebRTC traffic; ignored");
            return;
        };
        if is_rtp(datagram) {
            let mut stats = lock(&self.stats);
            stats.rtp_packets_received += 1;
            stats.rtp_bytes_received += datagram.len() as u64;
        }
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local_addr,
                contents,
            },
        );
        // Only the negotiated peer may feed the peer connection.
        if !self.rtc.accepts(&input) {
            trace!(%source, "datagram from an unknown peer; ignored");
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            warn!(error = %e, "peer connection failed on input");
            self.rtc.disconnect();
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            warn!(error = %e, "peer connection failed");
            self.rtc.disconnect();
            return;
        }
        let since_origin = now.saturating_duration_since(self.clock_origin);
        // Retired epoch keys leave memory on time even when no frames arrive.
        lock(&self.keys).expire(since_origin);
        self.publisher.publish_due(&mut Outlet {
            rtc: &mut self.rtc,
            keys: &self.keys,
            stats: &self.stats,
            now,
            sent_at: synthetic::stamp_clock(now),
        });
    }

    /// Sends what the peer connection has to send and handles its events; returns when it
    /// next needs a timeout, or `None` once it is closed.
    fn drive_output(&mut self) -> Option<Instant> {
        loop {
            if !self.rtc.is_alive() {
                return None;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return Some(at),
                Ok(Output::Transmit(transmit)) => {
                    if is_rtp(&transmit.contents) {
                        lock(&self.stats).rtp_packets_sent += 1;
                    }
                    // UDP is lossy anyway: a full send buffer drops the datagram.
                    if let Err(e) = self
                        .socket
                        .try_send_to(&transmit.contents, transmit.destination)
                    {
                        debug!(error = %e, "UDP send failed");
                    }
                }
                Ok(Output::Event(event)) => self.handle_event(event),
                Err(e) => {
                    warn!(error = %e, "peer connection failed");
                    self.rtc.disconnect();
                }
            }
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::IceConnectionStateChange(state) => {
                info!(?state, "ICE state");
                lock(&self.stats).ice_connected = matches!(
                    state,
                    IceConnectionState::Connected | IceConnectionState::Completed
                );
            }
            Event::Connected => {
                info!("peer connection up (ICE and DTLS)");
                self.publisher.start(Instant::now());
            }
            Event::MediaAdded(added) => {
                debug!(mid = %added.mid, kind = ?added.kind, direction = ?added.direction, "media added");
            }
            Event::MediaData(data) => self.receive(&data),
            Event::KeyframeRequest(request) => {
                debug!(mid = %request.mid, rid = ?request.rid, "key frame requested");
                self.publisher.request_keyframe(request.mid, request.rid);
            }
            _ => {}
        }
    }

    /// Decrypts and counts one incoming frame; a frame that fails is dropped and counted.
    fn receive(&mut self, data: &MediaData) {
        let Some(kind) = self.rtc.media(data.mid).map(|media| media.kind()) else {
            return;
        };
        let now = Instant::now();
        let at = now.saturating_duration_since(self.clock_origin);
        let result = lock(&self.keys).unprotect(at, &data.data);
        match result {
            Ok(frame) => {
                self.tap_frame(data, kind, frame.sender_index, &frame.payload, now);
                let intact = synthetic::is_intact(kind, &frame.payload);
                let mut stats = lock(&self.stats);
                stats.record_decrypted(at, kind, &frame, intact);
                if intact && let Some(sent_at) = synthetic::sent_at(kind, &frame.payload) {
                    let received_at = synthetic::stamp_clock(now);
                    stats.latency.record(received_at.saturating_sub(sent_at));
                }
            }
            Err(e) => {
                trace!(mid = %data.mid, error = %e, "frame did not decrypt; dropped");
                lock(&self.stats).record_decrypt_failure(&e);
            }
        }
    }

    /// Hands a decrypted frame to the tap, if one is set, and asks for a key frame of a video
    /// stream that has not had one since.
    fn tap_frame(
        &mut self,
        data: &MediaData,
        kind: MediaKind,
        sender: u32,
        payload: &[u8],
        now: Instant,
    ) {
        let tap = lock(&self.tap).clone();
        let Some(tap) = tap else {
            return;
        };
        let frame = ReceivedFrame {
            sender,
            kind,
            rtp_time: data.time.numer(),
            clock_rate: data.time.denom(),
            arrived: data.network_time,
            payload: payload.to_vec(),
        };
        if tap.send(frame).is_err() {
            // The tap's reader is gone.
            *lock(&self.tap) = None;
            return;
        }
        // VP8: bit 0 of the frame tag is 0 on key frames (RFC 6386 §9.1).
        let keyframe = payload.first().is_some_and(|tag| tag & 1 == 0);
        if kind == MediaKind::Video
            && self.keyframes.wants_request(data.mid, keyframe, now)
            && let Some(mut writer) = self.rtc.writer(data.mid)
        {
            match writer.request_keyframe(data.rid, KeyframeRequestKind::Pli) {
                Ok(()) => debug!(mid = %data.mid, "asked for a key frame for the tap"),
                Err(e) => debug!(mid = %data.mid, error = %e, "cannot ask for a key frame"),
            }
        }
    }

    /// Starts a graceful close (RTCP BYE, DTLS close_notify) and sends what it queues at once;
    /// nobody waits for the SFU's replies.
    fn close(&mut self) {
        if let Err(e) = self.rtc.close() {
            debug!(error = %e, "closing the peer connection");
        }
        while self.rtc.is_alive() {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) => {
                    let _ = self
                        .socket
                        .try_send_to(&transmit.contents, transmit.destination);
                }
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(_)) | Err(_) => break,
            }
        }
    }
}

/// Whether a datagram is RTP rather than RTCP, STUN or DTLS (RFC 7983 first byte, RFC 5761
/// payload types 192-223 for RTCP).
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, second, ..] if !(192..=223).contains(second))
}
