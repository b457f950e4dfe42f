//! Sealroom's selective forwarding unit: media routing on top of [str0m], sans-IO.
//!
//! # What it owns
//! One str0m PeerConnection (`Rtc`) per participant, all multiplexed on the server's one
//! UDP port (and optionally one ICE-TCP port), with the server as ICE-lite. It decides which
//! track goes to whom (every participant the server lets receive, see
//! [`Sfu::set_receives_media`], receives every other participant *of the same room*),
//! renegotiates SDP when tracks come and go, picks one simulcast layer per receiver,
//! relays keyframe requests to publishers and, when bandwidth estimation is on
//! ([`SfuConfig::initial_bandwidth_bps`]), adapts to each receiver's estimate.
//! str0m does ICE, DTLS-SRTP, NACK/RTX, TWCC and the estimate itself.
//!
//! # What it must never do
//! Hold a media key or read a media frame. Clients protect every frame with SFrame before it
//! leaves them; the SFU forwards the RTP payloads byte for byte. The only payload bytes it
//! reads are the ones clients leave clear for it: the VP8 payload descriptor that the
//! packetiser writes after encryption (PictureID and TL0PICIDX are renumbered on a layer
//! switch) and the keyframe bit of the VP8 frame tag, which a client keeps in the clear
//! (10 bytes on keyframes, 3 otherwise) so a simulcast switch can wait for a keyframe.
//! Nothing here logs payloads. DTLS-SRTP is hop-by-hop: it protects the links, not the
//! media from this server.
//!
//! No sockets, no threads, no clock: time comes in as an argument, as in str0m. The server
//! crate drives it from one task that owns the sockets.
//!
//! # RTP mode, not frame mode
//! The SFU runs str0m in RTP mode and forwards packets, rewriting SSRC (str0m writes the
//! receiver's own), sequence number, timestamp and the VP8 PictureID per receiver, rather
//! than reassembling frames and packetising them again per receiver as str0m's `chat`
//! example does. Why:
//! - Losses stay visible. A receiver sees a gap in sequence numbers, NACKs it, and the SFU
//!   answers from its RTX cache once the publisher's retransmission arrived. Frame mode
//!   repacketises with fresh, gapless numbering: a frame lost upstream disappears without a
//!   trace, and unless the SFU then asks for a keyframe the next frame decodes against a
//!   missing reference.
//! - No reassembly wait and no per-receiver packetising: one payload buffer is shared by
//!   every receiver until str0m encrypts it. A later issue needs tens of thousands of
//!   forwarded packets per CPU-second.
//! - Packets stay packets, with their own header extensions, which forwarding the
//!   Dependency Descriptor (for whole-frame encryption) will need.
//!
//! Codecs are limited to Opus and VP8: the SFU must find keyframes for layer switches, and
//! VP8's clear frame tag is what Sealroom's clients keep readable (see
//! `docs/SECURITY-MODEL.md`).
//!
//! # Simulcast and bandwidth
//! A publisher's layers are ranked in the order of its `a=simulcast` line, lowest first
//! (the WebRTC convention for `sendEncodings`). A receiver gets the highest layer that is
//! sending and whose measured bitrate fits its share of its own bandwidth estimate (str0m
//! BWE from TWCC, split evenly over the video tracks it receives); without an estimate, the
//! highest. A switch happens only at a keyframe of the new layer, which the SFU requests.
//!
//! # Renegotiation
//! When a participant publishes, every other participant in the room gets a `sendonly`
//! m-line for it in an [`SfuOutput::Offer`]; [`Sfu::accept_answer`] applies the answer. One
//! offer per participant is outstanding at a time; changes made meanwhile go into the next
//! offer, sent as soon as the answer arrives. A rejected answer puts its changes back for a
//! fresh offer. The first offer waits until the participant is connected, which can only
//! happen after it applied the SFU's answer, so offers never overtake that answer.
//!
//! # Moderation controls
//! [`Sfu::set_audio_muted`] stops forwarding all of a participant's audio;
//! [`Sfu::set_screen_share_allowed`] stops forwarding its screen, which by the clients'
//! convention is its second (and any later) video track, the first being its camera. A refused
//! screen share is reported once per attempt as [`SfuOutput::TrackRefused`], so the server
//! can tell the client. Both are a flag per track checked per packet; a withheld track
//! resumes for each receiver as after a layer switch (at a keyframe, without a sequence gap).
//!
//! [str0m]: https://docs.rs/str0m

#![forbid(unsafe_code)]

mod demux;
mod error;
mod forwarder;
mod ingress;
mod participant;
mod paths;
mod track;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::KeyframeRequestKind;
use str0m::net::{DatagramRecv, Receive, TcpType};
use str0m::{Candidate, Input, Rtc};
use tracing::{debug, info};

pub use error::SfuError;
pub use str0m::net::{Protocol, Transmit};

use demux::Demux;
use participant::{
    IncomingPacket, Participant, ParticipantId, Subscription, SubscriptionState, Work,
};
use track::{LayerId, Track, TrackId, TrackRole};

/// Where the SFU can be reached, as advertised in its SDP answers.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP host candidate: the public address of the server's one media UDP port.
    pub udp_candidate: SocketAddr,
    /// An ICE-TCP (passive) host candidate, a fallback where UDP is blocked. The driver
    /// frames packets on the TCP stream (RFC 4571) and passes them in as
    /// [`Protocol::Tcp`].
    pub tcp_candidate: Option<SocketAddr>,
    /// Bandwidth estimation (TWCC) per receiver, starting from this estimate; `None` turns it
    /// off. Off by default: with it on, str0m paces each receiver's egress at its estimate, and
    /// a receiver of nine 1 Mbit/s videos starting from 1 Mbit/s had its video queued until the
    /// frames were useless (measured with 10-person rooms on loopback; see docs/BENCHMARKS.md).
    /// Without an estimate, simulcast receivers get the highest layer.
    pub initial_bandwidth_bps: Option<u64>,
    /// Payload bits per second one participant may publish, all its tracks together (one
    /// second of it as a burst). Beyond it packets are dropped before they are forwarded,
    /// and counted in [`SfuStats::over_budget_packets`].
    pub max_publish_bps: u64,
}

/// The default publishing budget: simulcast camera (three layers), screen and audio of a
/// browser fit with room to spare.
pub const DEFAULT_MAX_PUBLISH_BPS: u64 = 12_000_000;

impl SfuConfig {
    /// UDP only, without bandwidth estimation, with the default publishing budget.
    pub fn new(udp_candidate: SocketAddr) -> Self {
        SfuConfig {
            udp_candidate,
            tcp_candidate: None,
            initial_bandwidth_bps: None,
            max_publish_bps: DEFAULT_MAX_PUBLISH_BPS,
        }
    }
}

/// What the SFU wants done, from [`Sfu::poll_output`].
#[derive(Debug)]
pub enum SfuOutput {
    /// Send this packet: a UDP datagram, or one RFC 4571 frame on the TCP connection from
    /// `source` to `destination`.
    Transmit(Transmit),
    /// Send this SDP offer to the participant (renegotiation: tracks to receive or to stop).
    /// Its answer goes to [`Sfu::accept_answer`].
    Offer {
        /// The participant's name as given to [`Sfu::add_participant`].
        participant: String,
        /// The offer.
        sdp: String,
    },
    /// The participant sends a track a moderation control refuses (see
    /// [`Sfu::set_screen_share_allowed`]); its packets are dropped. Reported at the first
    /// refused packet of each attempt, not per packet: again only after the participant
    /// stopped sending that track for a few seconds, or after the control changed.
    TrackRefused {
        /// The participant's name.
        participant: String,
        /// What was refused.
        track: RefusedTrack,
    },
    /// The participant's media connection failed or timed out (no ICE consent for 15 s).
    /// The SFU has removed it; the server may want to remove it from the room too.
    Disconnected {
        /// The participant's name.
        participant: String,
    },
    /// Nothing more to do until this time, or until the next input.
    Timeout(Instant),
}

/// A track a moderation control refuses to forward, in [`SfuOutput::TrackRefused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusedTrack {
    /// A screen share: the participant's second (or later) video track, while
    /// [`Sfu::set_screen_share_allowed`] is `false` for it.
    ScreenShare,
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// RTP packets sent to receivers (one per receiver per incoming packet).
    pub forwarded_packets: u64,
    /// RTP payload bytes in those packets.
    pub forwarded_bytes: u64,
    /// Incoming datagrams that were not accepted: unparseable, from an address no
    /// participant knows, or refused by the participant's connection.
    pub dropped_packets: u64,
    /// Publishers' packets dropped because they were over their budget
    /// ([`SfuConfig::max_publish_bps`]).
    pub over_budget_packets: u64,
    /// Participants in the SFU.
    pub participants: usize,
    /// Rooms with at least one participant.
    pub rooms: usize,
    /// Tracks being published.
    pub published_tracks: usize,
    /// Tracks being received, summed over receivers, including those still in negotiation.
    pub subscriptions: usize,
}

/// Counters of several SFUs (one per media thread) add up to the server's.
impl std::iter::Sum for SfuStats {
    fn sum<I: Iterator<Item = SfuStats>>(stats: I) -> SfuStats {
        stats.fold(SfuStats::default(), |total, s| SfuStats {
            forwarded_packets: total.forwarded_packets + s.forwarded_packets,
            forwarded_bytes: total.forwarded_bytes + s.forwarded_bytes,
            dropped_packets: total.dropped_packets + s.dropped_packets,
            over_budget_packets: total.over_budget_packets + s.over_budget_packets,
            participants: total.participants + s.participants,
            rooms: total.rooms + s.rooms,
            published_tracks: total.published_tracks + s.published_tracks,
            subscriptions: total.subscriptions + s.subscriptions,
        })
    }
}

/// A function that sees the payload of every RTP packet the SFU forwards, once per
/// receiver, as it arrived from the publisher. For tests ("a curious server sees only
/// ciphertext") and diagnostics only: it runs on the forwarding path.
pub type PayloadTap = Box<dyn FnMut(&[u8]) + Send>;

/// The SFU. See the crate documentation.
pub struct Sfu {
    candidates: Vec<Candidate>,
    initial_bandwidth: Option<Bitrate>,
    max_publish_bps: u64,
    participants: HashMap<ParticipantId, Participant>,
    by_name: HashMap<String, ParticipantId>,
    rooms: HashMap<String, Vec<ParticipantId>>,
    tracks: HashMap<TrackId, Track>,
    demux: Demux,
    outputs: VecDeque<SfuOutput>,
    work: VecDeque<Work>,
    stats: SfuStats,
    tap: Option<PayloadTap>,
    next_id: u64,
    now: Instant,
}

/// When nothing is scheduled, the driver still comes back this often.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

impl Sfu {
    /// An SFU with no participants. `start` is the current time.
    pub fn new(config: SfuConfig, start: Instant) -> Result<Self, SfuError> {
        let udp = config.udp_candidate;
        let mut candidates = vec![Candidate::host(udp, "udp").map_err(invalid_candidate(udp))?];
        if let Some(tcp) = config.tcp_candidate {
            candidates.push(
                Candidate::builder()
                    .tcp()
                    .host(tcp)
                    .tcptype(TcpType::Passive)
                    .build()
                    .map_err(invalid_candidate(tcp))?,
            );
        }
        Ok(Sfu {
            candidates,
            initial_bandwidth: config.initial_bandwidth_bps.map(Bitrate::bps),
            max_publish_bps: config.max_publish_bps,
            participants: HashMap::new(),
            by_name: HashMap::new(),
            rooms: HashMap::new(),
            tracks: HashMap::new(),
            demux: Demux::default(),
            outputs: VecDeque::new(),
            work: VecDeque::new(),
            stats: SfuStats::default(),
            tap: None,
            next_id: 0,
            now: start,
        })
    }

    /// Installs (or with `None` removes) the [`PayloadTap`]. Tests and diagnostics only.
    pub fn set_payload_tap(&mut self, tap: Option<PayloadTap>) {
        self.tap = tap;
    }

    /// Adds a participant to `room` from its initial offer (it sends audio and video, maybe
    /// simulcast) and returns the SDP answer. It receives nothing until
    /// [`Self::set_receives_media`] lets it; then the room's other tracks come in a later
    /// [`SfuOutput::Offer`], once it is connected.
    ///
    /// A later offer from a participant already here renegotiates its connection: with new
    /// ICE credentials it is an ICE restart (the client's network changed), answered with new
    /// ones of ours; DTLS, SRTP and every subscription carry on. An offer of ours still out is
    /// withdrawn (the client ignores it, having an offer out itself) and its changes wait for
    /// [`Self::offer_pending_changes`], to be called once the client has this answer.
    pub fn add_participant(
        &mut self,
        now: Instant,
        room: &str,
        participant: &str,
        offer_sdp: &str,
    ) -> Result<String, SfuError> {
        self.advance(now);
        let offer = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        if let Some(&id) = self.by_name.get(participant) {
            return self.renegotiate(id, room, participant, offer);
        }

        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_bwe(self.initial_bandwidth)
            .build(now);
        for candidate in &self.candidates {
            rtc.add_local_candidate(candidate.clone());
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::OfferRejected(e.to_string()))?;

        let id = ParticipantId(self.next_id);
        self.next_id += 1;
        let mut joining = Participant::new(
            id,
            participant.to_owned(),
            room.to_owned(),
            rtc,
            now,
            self.max_publish_bps,
        );
        joining.span.in_scope(|| info!("joined"));

        // It receives nothing until the server lets it (`set_receives_media`).
        self.rooms.entry(room.to_owned()).or_default().push(id);
        self.by_name.insert(participant.to_owned(), id);
        joining.drain(&mut self.outputs, &mut self.work);
        self.participants.insert(id, joining);
        self.run_work();
        Ok(answer.to_sdp_string())
    }

    fn renegotiate(
        &mut self,
        id: ParticipantId,
        room: &str,
        participant: &str,
        offer: SdpOffer,
    ) -> Result<String, SfuError> {
        let p = self
            .participants
            .get_mut(&id)
            .filter(|p| p.room == room)
            .ok_or_else(|| SfuError::ParticipantExists(participant.to_owned()))?;
        if p.pending_offer.take().is_some() {
            p.finish_negotiation(false);
        }
        let result = p.rtc.sdp_api().accept_offer(offer);
        p.span.in_scope(|| match &result {
            Ok(_) => info!("offer accepted again: renegotiated"),
            Err(e) => info!("second offer rejected: {e}"),
        });
        p.drain(&mut self.outputs, &mut self.work);
        self.run_work();
        Ok(result
            .map_err(|e| SfuError::OfferRejected(e.to_string()))?
            .to_sdp_string())
    }

    /// Sends a participant the offer its subscriptions' changes wait for, if any: after the
    /// answer to its own offer has gone out (see [`Self::add_participant`]).
    pub fn offer_pending_changes(&mut self, participant: &str) {
        if let Some(&id) = self.by_name.get(participant) {
            self.negotiate(id);
            self.run_work();
        }
    }

    /// Applies a participant's answer to the SFU's last [`SfuOutput::Offer`] for it.
    pub fn accept_answer(&mut self, participant: &str, answer_sdp: &str) -> Result<(), SfuError> {
        let id = *self
            .by_name
            .get(participant)
            .ok_or_else(|| SfuError::UnknownParticipant(participant.to_owned()))?;
        let answer = SdpAnswer::from_sdp_string(answer_sdp)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        let p = self
            .participants
            .get_mut(&id)
            .ok_or_else(|| SfuError::UnknownParticipant(participant.to_owned()))?;
        let pending = p
            .pending_offer
            .take()
            .ok_or_else(|| SfuError::NoPendingOffer(participant.to_owned()))?;
        let result = p.rtc.sdp_api().accept_answer(pending, answer);
        p.span.in_scope(|| match &result {
            Ok(()) => debug!("answer accepted"),
            Err(e) => info!("answer rejected, will offer again: {e}"),
        });
        p.finish_negotiation(result.is_ok());
        p.drain(&mut self.outputs, &mut self.work);
        self.negotiate(id);
        self.run_work();
        result.map_err(|e| SfuError::AnswerRejected(e.to_string()))
    }

    /// Mutes (`true`) or unmutes a participant: while muted, none of its audio tracks is
    /// forwarded to anyone; its video is unaffected. Not muted by default. Applies to the
    /// participant as it is now in the SFU: a participant added later, even under the same
    /// name, starts unmuted.
    pub fn set_audio_muted(&mut self, participant: &str, muted: bool) -> Result<(), SfuError> {
        let id = self.id_of(participant)?;
        if let Some(p) = self.participants.get_mut(&id)
            && p.audio_muted != muted
        {
            p.audio_muted = muted;
            p.span.in_scope(|| info!(muted, "audio mute changed"));
            self.apply_controls(id);
        }
        Ok(())
    }

    /// Lets a participant receive the room's media (`true`), or stops it. Off for a new
    /// participant: the server lets receive only those who hold the room's keys (the members of
    /// its MLS group), so nobody else gets the encrypted frames, or the audio-level extension
    /// that tells who speaks. Let in, it is offered every track of the others it lacks; shut out,
    /// no packet is forwarded to it, and each track resumes at a keyframe if it is let in again.
    pub fn set_receives_media(
        &mut self,
        participant: &str,
        receives: bool,
    ) -> Result<(), SfuError> {
        let id = self.id_of(participant)?;
        let Some(p) = self
            .participants
            .get_mut(&id)
            .filter(|p| p.receives_media != receives)
        else {
            return Ok(());
        };
        p.receives_media = receives;
        p.span
            .in_scope(|| info!(receives, "receiving media changed"));
        if receives {
            self.subscribe_to_room(id);
            self.negotiate(id);
            self.run_work();
        } else {
            for subscription in p.subscriptions.values_mut() {
                subscription.forwarder.restart();
            }
        }
        Ok(())
    }

    /// Subscribes a participant to every track of its room's others it is not subscribed to.
    fn subscribe_to_room(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let room = self
            .rooms
            .get(&p.room)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (track_id, track) in &mut self.tracks {
            if track_id.publisher != id
                && room.contains(&track_id.publisher)
                && !p.subscriptions.contains_key(track_id)
            {
                track.subscribers.push(id);
                p.subscriptions.insert(*track_id, subscription(track));
            }
        }
    }

    /// Allows or refuses a participant's screen share: its second (and any later) video
    /// track, by the clients' convention (the first is its camera). While refused, those
    /// tracks' packets are dropped and each attempt is reported once as
    /// [`SfuOutput::TrackRefused`]. Allowed by default; applies as
    /// [`Sfu::set_audio_muted`] does.
    pub fn set_screen_share_allowed(
        &mut self,
        participant: &str,
        allowed: bool,
    ) -> Result<(), SfuError> {
        let id = self.id_of(participant)?;
        if let Some(p) = self.participants.get_mut(&id)
            && p.screen_share_allowed != allowed
        {
            p.screen_share_allowed = allowed;
            // A share already running when it is refused is a new attempt to report.
            p.screen_share_refusals.reset();
            p.span
                .in_scope(|| info!(allowed, "screen share permission changed"));
            self.apply_controls(id);
        }
        Ok(())
    }

    /// Removes a participant: its tracks stop for everyone else (they get an offer that
    /// stops the m-lines) and its state is freed. Unknown names are ignored.
    pub fn remove_participant(&mut self, participant: &str) {
        if let Some(&id) = self.by_name.get(participant) {
            self.remove(id);
            self.run_work();
        }
    }

    /// A UDP datagram, or one de-framed packet from an ICE-TCP connection, arrived.
    /// `destination` is the candidate it was sent to ([`SfuConfig::udp_candidate`] or
    /// [`SfuConfig::tcp_candidate`]): str0m matches connectivity checks against it, so
    /// behind NAT it is the advertised address, not the socket's own.
    ///
    /// Returns whether a participant's connection took it. From an address no participant has
    /// used yet, only an ICE check with a participant's credentials is taken.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> bool {
        self.advance(now);
        let Ok(datagram) = DatagramRecv::try_from(contents) else {
            self.stats.dropped_packets += 1;
            return false;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination,
                contents: datagram,
            },
        );
        let Some(id) = self.route(&input, proto, source, contents) else {
            self.stats.dropped_packets += 1;
            return false;
        };
        let Some(p) = self.participants.get_mut(&id) else {
            return false;
        };
        let taken = match p.rtc.handle_input(input) {
            Ok(()) => true,
            Err(e) => {
                p.span.in_scope(|| debug!("packet refused: {e}"));
                self.stats.dropped_packets += 1;
                false
            }
        };
        p.drain(&mut self.outputs, &mut self.work);
        self.run_work();
        taken
    }

    /// Time passed: drives retransmissions, feedback, pacing and timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        for p in self.participants.values_mut() {
            for addr in p.paths.take_abandoned(now) {
                p.give_up_path(addr);
                self.demux.forget(Protocol::Udp, addr, p.id);
                // str0m picks the new path on its next timeout.
                p.next_timeout = now;
            }
            if p.next_timeout <= now {
                if let Err(e) = p.rtc.handle_input(Input::Timeout(now)) {
                    p.span.in_scope(|| debug!("timeout handling failed: {e}"));
                }
                p.drain(&mut self.outputs, &mut self.work);
                p.time_disconnection(now, &mut self.work);
            }
        }
        self.run_work();
    }

    /// The next thing to do. Call until it returns [`SfuOutput::Timeout`].
    pub fn poll_output(&mut self) -> SfuOutput {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        let next = self
            .participants
            .values()
            .map(|p| p.next_timeout)
            .min()
            .unwrap_or(self.now + IDLE_TIMEOUT);
        SfuOutput::Timeout(next)
    }

    /// Current counters.
    pub fn stats(&self) -> SfuStats {
        SfuStats {
            participants: self.participants.len(),
            rooms: self.rooms.len(),
            published_tracks: self.tracks.len(),
            subscriptions: self
                .participants
                .values()
                .map(|p| p.subscriptions.len())
                .sum(),
            ..self.stats
        }
    }

    fn id_of(&self, participant: &str) -> Result<ParticipantId, SfuError> {
        self.by_name
            .get(participant)
            .copied()
            .ok_or_else(|| SfuError::UnknownParticipant(participant.to_owned()))
    }

    /// Brings the `withheld` flag of a participant's tracks in line with its controls. A
    /// track that stops restarts every receiver's forwarder, so it resumes cleanly.
    fn apply_controls(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        let wanted: Vec<(TrackId, bool)> = p
            .published
            .iter()
            .filter_map(|track_id| {
                let withheld = p.withholds(self.tracks.get(track_id)?.role);
                Some((*track_id, withheld))
            })
            .collect();
        for (track_id, withheld) in wanted {
            let Some(track) = self.tracks.get_mut(&track_id) else {
                continue;
            };
            if track.withheld == withheld {
                continue;
            }
            track.withheld = withheld;
            if withheld {
                for subscriber in &track.subscribers {
                    if let Some(sub) = self
                        .participants
                        .get_mut(subscriber)
                        .and_then(|s| s.subscriptions.get_mut(&track_id))
                    {
                        sub.forwarder.restart();
                    }
                }
            }
        }
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// The participant a packet belongs to. A known address is one lookup; only STUN from
    /// a new address (a client's first connectivity check, or a changed path) asks every
    /// participant, and str0m matches it by ICE username. Anything else from an unknown
    /// address is dropped without a scan.
    fn route(
        &mut self,
        input: &Input,
        proto: Protocol,
        source: SocketAddr,
        contents: &[u8],
    ) -> Option<ParticipantId> {
        if let Some(id) = self.demux.lookup(proto, source)
            && let Some(p) = self.participants.get_mut(&id)
            && p.rtc.accepts(input)
        {
            p.paths.seen(proto, source, self.now);
            return Some(id);
        }
        if !demux::is_stun(contents) {
            return None;
        }
        let p = self
            .participants
            .values_mut()
            .find(|p| p.rtc.accepts(input))?;
        self.demux.learn(proto, source, p.id);
        p.paths.learn(proto, source, self.now);
        Some(p.id)
    }

    fn remove(&mut self, id: ParticipantId) {
        let Some(mut p) = self.participants.remove(&id) else {
            return;
        };
        p.span.in_scope(|| info!("left"));
        // Tell the client (RTCP BYE, DTLS close_notify) rather than let it time out.
        if p.rtc.close().is_ok() {
            p.drain(&mut self.outputs, &mut self.work);
        }
        self.by_name.remove(&p.name);
        for (proto, addr) in p.paths.addresses() {
            self.demux.forget(proto, addr, id);
        }
        let room_members = match self.rooms.get_mut(&p.room) {
            Some(members) => {
                members.retain(|m| *m != id);
                members.clone()
            }
            None => Vec::new(),
        };
        if room_members.is_empty() {
            self.rooms.remove(&p.room);
        }
        for track_id in p.subscriptions.keys() {
            if let Some(track) = self.tracks.get_mut(track_id) {
                track.subscribers.retain(|s| *s != id);
            }
        }
        for track_id in &p.published {
            self.tracks.remove(track_id);
        }
        // Work still queued for it finds no participant and is skipped.
        for member in room_members {
            self.negotiate(member);
        }
    }

    fn negotiate(&mut self, id: ParticipantId) {
        if let Some(p) = self.participants.get_mut(&id) {
            p.negotiate(&self.tracks, &mut self.outputs, &mut self.work);
        }
    }

    fn run_work(&mut self) {
        while let Some(work) = self.work.pop_front() {
            match work {
                Work::Connected(id) => {
                    if let Some(p) = self.participants.get_mut(&id) {
                        p.connected = true;
                    }
                    self.negotiate(id);
                }
                Work::Dead(id) => {
                    if let Some(name) = self.participants.get(&id).map(|p| p.name.clone()) {
                        self.remove(id);
                        self.outputs
                            .push_back(SfuOutput::Disconnected { participant: name });
                    }
                }
                Work::Publish { track, kind, rids } => self.publish(track, kind, rids),
                Work::Forward(incoming) => self.forward(incoming),
                Work::KeyframeRequest {
                    subscriber,
                    mid,
                    kind,
                } => {
                    let receiving = self
                        .participants
                        .get(&subscriber)
                        .and_then(|p| p.receiving(mid));
                    if let Some((track, layer)) = receiving {
                        self.request_keyframe(track, layer, kind);
                    }
                }
                Work::LayerPaused {
                    track,
                    layer,
                    paused,
                } => {
                    if let Some(layer) =
                        self.tracks.get_mut(&track).and_then(|t| t.layer_mut(layer))
                    {
                        layer.paused = paused;
                    }
                }
                Work::Estimate {
                    participant,
                    bitrate_bps,
                } => self.update_estimate(participant, bitrate_bps),
            }
        }
    }

    fn publish(
        &mut self,
        track_id: TrackId,
        kind: str0m::media::MediaKind,
        rids: Vec<str0m::media::Rid>,
    ) {
        let Some(publisher) = self.participants.get_mut(&track_id.publisher) else {
            return;
        };
        let earlier_videos = publisher
            .published
            .iter()
            .filter_map(|t| self.tracks.get(t))
            .filter(|t| t.kind.is_video())
            .count();
        let role = TrackRole::of(kind, earlier_videos);
        publisher.span.in_scope(|| {
            info!(
                ?kind,
                ?role,
                layers = rids.len().max(1),
                "publishes a track"
            );
        });
        publisher.published.push(track_id);
        let mut track = Track::new(publisher.name.clone(), kind, role, rids, self.now);
        track.withheld = publisher.withholds(role);
        let room = self.rooms.get(&publisher.room).cloned().unwrap_or_default();
        for member in room.into_iter().filter(|m| *m != track_id.publisher) {
            if let Some(p) = self
                .participants
                .get_mut(&member)
                .filter(|p| p.receives_media)
            {
                p.subscriptions.insert(track_id, subscription(&track));
                track.subscribers.push(member);
            }
        }
        let subscribers = track.subscribers.clone();
        self.tracks.insert(track_id, track);
        for member in subscribers {
            self.negotiate(member);
        }
    }

    fn forward(&mut self, incoming: IncomingPacket) {
        let arrival = incoming.packet.timestamp;
        let within_budget = self
            .participants
            .get_mut(&incoming.track.publisher)
            .is_some_and(|p| p.ingress.admit(arrival, incoming.packet.payload.len()));
        if !within_budget {
            self.stats.over_budget_packets += 1;
            return;
        }
        let Some(track) = self.tracks.get_mut(&incoming.track) else {
            return;
        };
        if track.withheld {
            if track.role == TrackRole::Screen {
                self.refuse_screen_share(incoming.track.publisher, arrival);
            }
            return;
        }
        let Some(layer) = track.layer_mut(incoming.layer) else {
            return;
        };
        layer.record_packet(arrival, incoming.packet.payload.len());

        let track = &*track;
        let view = incoming.view();
        let mut wants_keyframe: Vec<LayerId> = Vec::new();
        for id in &track.subscribers {
            let Some(p) = self.participants.get_mut(id).filter(|p| p.receives_media) else {
                continue;
            };
            let Some(target) = track.choose_layer(arrival, p.video_budget_bps) else {
                continue;
            };
            let forwarded = p.forward(&incoming, &view, target, self.tap.as_mut());
            if forwarded.bytes > 0 {
                self.stats.forwarded_packets += 1;
                self.stats.forwarded_bytes += forwarded.bytes as u64;
            }
            if let Some(layer) = forwarded.wants_keyframe
                && !wants_keyframe.contains(&layer)
            {
                wants_keyframe.push(layer);
            }
        }
        for layer in wants_keyframe {
            self.request_keyframe(incoming.track, layer, KeyframeRequestKind::Pli);
        }
    }

    /// A screen packet was dropped: tells the server if it starts a new attempt.
    fn refuse_screen_share(&mut self, publisher: ParticipantId, arrival: Instant) {
        let Some(p) = self.participants.get_mut(&publisher) else {
            return;
        };
        if p.screen_share_refusals.refuse(arrival) {
            p.span.in_scope(|| info!("screen share refused"));
            self.outputs.push_back(SfuOutput::TrackRefused {
                participant: p.name.clone(),
                track: RefusedTrack::ScreenShare,
            });
        }
    }

    /// Asks the publisher for a keyframe on one layer, at most every so often per layer.
    fn request_keyframe(&mut self, track_id: TrackId, layer: LayerId, kind: KeyframeRequestKind) {
        let Some(publisher) = self.participants.get_mut(&track_id.publisher) else {
            return;
        };
        let Some(state) = self
            .tracks
            .get_mut(&track_id)
            .and_then(|t| t.layer_mut(layer))
        else {
            return;
        };
        let mut api = publisher.rtc.direct_api();
        // None until a packet arrived on that layer: str0m cannot address it before.
        let Some(stream) = api.stream_rx_by_mid(track_id.mid, layer) else {
            return;
        };
        if state.take_keyframe_request(self.now) {
            stream.request_keyframe(kind);
            publisher.drain(&mut self.outputs, &mut self.work);
        }
    }

    /// A new estimate of the bandwidth towards a participant: its share per video track
    /// changes, and str0m's probing is told what the best layers would need.
    fn update_estimate(&mut self, id: ParticipantId, bitrate_bps: u64) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.set_bandwidth(bitrate_bps);
        let desired_bps: u64 = p
            .subscriptions
            .iter()
            .filter(|(_, s)| matches!(s.state, SubscriptionState::Open(_)))
            .filter_map(|(t, _)| self.tracks.get(t))
            .map(Track::best_bitrate_bps)
            .sum();
        if desired_bps != p.desired_bps {
            p.desired_bps = desired_bps;
            p.rtc
                .bwe()
                .set_bitrate(Bitrate::ZERO, Bitrate::bps(desired_bps));
            p.drain(&mut self.outputs, &mut self.work);
        }
    }
}

fn invalid_candidate<E: fmt::Display>(addr: SocketAddr) -> impl FnOnce(E) -> SfuError {
    move |e| SfuError::InvalidCandidate {
        addr,
        reason: e.to_string(),
    }
}

fn subscription(track: &Track) -> Subscription {
    Subscription {
        kind: track.kind,
        state: SubscriptionState::ToOpen,
        forwarder: forwarder::Forwarder::new(track.kind),
    }
}

impl fmt::Debug for Sfu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sfu")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
