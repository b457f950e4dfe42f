//! One client's PeerConnection: its str0m `Rtc`, the tracks it receives, and its SDP
//! renegotiation state.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::BweKind;
use str0m::change::SdpPendingOffer;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Rid};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};

use crate::ingress::IngressBudget;
use str0m::{Candidate, Event, IceConnectionState, Output, Rtc};
use tracing::{Span, debug, info, warn};

use crate::forwarder::{Forwarder, PacketView};
use crate::paths::Paths;
use crate::track::{LayerId, Track, TrackId, TrackRole};
use crate::{PayloadTap, SfuOutput};

/// Internal identity of a participant. Names can be reused after a participant leaves;
/// ids are not, so nothing that refers to a departed participant can reach a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ParticipantId(pub u64);

/// What draining one participant's `Rtc` asks of the rest of the SFU. Queued, because acting
/// on it touches other participants.
#[derive(Debug)]
// Forward is nearly every item; boxing it would allocate per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    Connected(ParticipantId),
    /// The connection is gone for good (ICE timed out, DTLS failed, str0m error).
    Dead(ParticipantId),
    Publish {
        track: TrackId,
        kind: MediaKind,
        rids: Vec<Rid>,
    },
    Forward(IncomingPacket),
    /// A receiver asked for a keyframe on the track it receives as `mid`.
    KeyframeRequest {
        subscriber: ParticipantId,
        mid: Mid,
        kind: KeyframeRequestKind,
    },
    LayerPaused {
        track: TrackId,
        layer: LayerId,
        paused: bool,
    },
    Estimate {
        participant: ParticipantId,
        bitrate_bps: u64,
    },
}

/// An RTP packet from a publisher, with what routing needs resolved while its `Rtc` was at
/// hand.
#[derive(Debug)]
pub(crate) struct IncomingPacket {
    pub track: TrackId,
    pub layer: LayerId,
    pub params: PayloadParams,
    pub packet: RtpPacket,
}

impl IncomingPacket {
    pub fn view(&self) -> PacketView<'_> {
        let payload = &self.packet.payload[..];
        PacketView {
            layer: self.layer,
            seq_no: self.packet.seq_no,
            timestamp: self.packet.header.timestamp,
            clock_rate: self.params.spec().clock_rate.get(),
            arrival: self.packet.timestamp,
            payload,
            vp8: (self.params.spec().codec == Codec::Vp8)
                .then(|| Vp8Descriptor::parse(payload).ok())
                .flatten(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Subscription {
    pub kind: MediaKind,
    pub state: SubscriptionState,
    pub forwarder: Forwarder,
}

/// Where the receiving m-line for a subscription is in offer/answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscriptionState {
    /// Waits for the next offer.
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    /// The track is gone; its m-line waits for the next offer to be stopped.
    ToStop(Mid),
    NegotiatingStop(Mid),
}

/// What each forwarded stream keeps for answering NACKs: str0m's defaults (1,024 packets, but
/// no older than 3 s) held a copy of up to 3 s of every video each receiver gets. A
/// retransmission is useful for about a round trip plus the receiver's jitter buffer, far
/// below a second on the paths a meeting works over.
const RTX_CACHE_PACKETS: usize = 1024;
const RTX_CACHE_AGE: Duration = Duration::from_secs(1);
/// str0m's default: retransmissions may add at most 15 % to a stream's bitrate.
const RTX_RATIO_CAP: Option<f32> = Some(0.15);

/// How long a participant whose media paths all failed stays, for its path to come back or for
/// an ICE restart from its new network; then it is removed from the SFU. As long as a
/// signalling session waits for a resume.
pub(crate) const RECONNECT_WINDOW: Duration = Duration::from_secs(30);

pub(crate) struct Participant {
    pub id: ParticipantId,
    pub name: String,
    pub room: String,
    pub rtc: Rtc,
    pub span: Span,
    pub connected: bool,
    dead: bool,
    /// Since when ICE has had no working path (see [`RECONNECT_WINDOW`]).
    disconnected_since: Option<Instant>,
    /// ICE reported a lost path that it has not regained; timed on the next timeout.
    ice_disconnected: bool,
    /// What it may still publish (see [`crate::SfuConfig::max_publish_bps`]).
    pub ingress: IngressBudget,
    /// The one offer this participant has not answered yet. Changes wait while it is out.
    pub pending_offer: Option<SdpPendingOffer>,
    pub subscriptions: HashMap<TrackId, Subscription>,
    pub published: Vec<TrackId>,
    /// Remote addresses learnt for demultiplexing, and when each last carried something.
    pub paths: Paths,
    pub next_timeout: Instant,
    bandwidth_bps: Option<u64>,
    /// The estimate shared among the video tracks this participant receives.
    pub video_budget_bps: Option<u64>,
    pub desired_bps: u64,
    /// Whether the server lets it receive the room's media (see
    /// [`crate::Sfu::set_receives_media`]).
    pub receives_media: bool,
    /// Moderation: none of its audio is forwarded.
    pub audio_muted: bool,
    /// Moderation: whether its screen tracks (second and later video) are forwarded.
    pub screen_share_allowed: bool,
    pub screen_share_refusals: RefusalReports,
}

/// A refused screen share is reported once per attempt, at its first refused packet. An
/// attempt ends when no screen packet arrived for [`ATTEMPT_GAP`] (the client stopped
/// sharing), or when the control changes; a client that ignores the refusal and keeps
/// sending is told once, not per packet.
#[derive(Debug, Default)]
pub(crate) struct RefusalReports {
    last_refused: Option<Instant>,
}

/// Longer than the usual pause between packets of a live video track, shorter than a person
/// takes to try again. A static screen that pauses for longer is reported again: harmless.
pub(crate) const ATTEMPT_GAP: Duration = Duration::from_secs(3);

impl RefusalReports {
    /// Counts a refused packet arriving at `at`; whether it starts an attempt to report.
    pub fn refuse(&mut self, at: Instant) -> bool {
        let new_attempt = self
            .last_refused
            .is_none_or(|last| at.saturating_duration_since(last) >= ATTEMPT_GAP);
        self.last_refused = Some(at);
        new_attempt
    }

    /// The next refused packet starts a new attempt.
    pub fn reset(&mut self) {
        self.last_refused = None;
    }
}

impl Participant {
    pub fn new(
        id: ParticipantId,
        name: String,
        room: String,
        rtc: Rtc,
        now: Instant,
        max_publish_bps: u64,
    ) -> Self {
        let span = tracing::info_span!("participant", room = %room, participant = %name);
        Participant {
            id,
            name,
            room,
            rtc,
            span,
            connected: false,
            dead: false,
            disconnected_since: None,
            ice_disconnected: false,
            ingress: IngressBudget::new(max_publish_bps),
            pending_offer: None,
            subscriptions: HashMap::new(),
            published: Vec::new(),
            paths: Paths::default(),
            next_timeout: now,
            bandwidth_bps: None,
            video_budget_bps: None,
            desired_bps: 0,
            receives_media: false,
            audio_muted: false,
            screen_share_allowed: true,
            screen_share_refusals: RefusalReports::default(),
        }
    }

    /// Whether the moderation controls stop this participant's tracks of `role`.
    pub fn withholds(&self, role: TrackRole) -> bool {
        match role {
            TrackRole::Audio => self.audio_muted,
            TrackRole::Camera => false,
            TrackRole::Screen => !self.screen_share_allowed,
        }
    }

    /// Polls the `Rtc` until it has nothing more to say. Must follow every mutation of it
    /// (str0m's single-mutation invariant).
    pub fn drain(&mut self, outputs: &mut VecDeque<SfuOutput>, work: &mut VecDeque<Work>) {
        let span = self.span.clone();
        let _entered = span.enter();
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => outputs.push_back(SfuOutput::Transmit(t)),
                Ok(Output::Event(e)) => self.handle_event(e, work),
                Err(e) => {
                    warn!("media connection failed: {e}");
                    self.rtc.disconnect();
                    break;
                }
            }
        }
        if !self.rtc.is_alive() {
            self.mark_dead(work);
        }
    }

    /// Stops sending to a remote address the client has left (see [`crate::paths`]). Its
    /// candidate is the one in the client's SDP (host) or, behind NAT or a relay, the one
    /// str0m made from its first check there (peer-reflexive, which str0m has no
    /// constructor for; parsed from its SDP form, which carries the same fields).
    pub fn give_up_path(&mut self, addr: SocketAddr) {
        let prflx = format!(
            "candidate:sealroom 1 udp 1 {} {} typ prflx",
            addr.ip(),
            addr.port()
        );
        let candidates = [
            Candidate::host(addr, "udp").ok(),
            Candidate::from_sdp_string(&prflx).ok(),
        ];
        let mut api = self.rtc.direct_api();
        let given_up = candidates
            .iter()
            .flatten()
            .any(|candidate| api.invalidate_candidate(candidate));
        self.span
            .in_scope(|| info!(%addr, given_up, "media path silent while another is in use"));
    }

    /// Removes it once its media has had no path for [`RECONNECT_WINDOW`].
    pub fn time_disconnection(&mut self, now: Instant, work: &mut VecDeque<Work>) {
        if !self.ice_disconnected {
            self.disconnected_since = None;
            return;
        }
        let since = *self.disconnected_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= RECONNECT_WINDOW {
            self.span
                .in_scope(|| info!("no media path for the reconnect window: removed"));
            self.mark_dead(work);
        }
    }

    fn mark_dead(&mut self, work: &mut VecDeque<Work>) {
        if !self.dead {
            self.dead = true;
            work.push_back(Work::Dead(self.id));
        }
    }

    fn handle_event(&mut self, event: Event, work: &mut VecDeque<Work>) {
        match event {
            Event::Connected => {
                info!("media connected");
                work.push_back(Work::Connected(self.id));
            }
            Event::IceConnectionStateChange(state) => {
                info!(?state, "ICE state");
                self.ice_disconnected = state == IceConnectionState::Disconnected;
            }
            // Only m-lines the client sends on are tracks; str0m reports our own direction.
            Event::MediaAdded(added) if added.direction.is_receiving() => {
                let rids = added
                    .simulcast
                    .map(|s| s.recv.into_iter().map(|layer| layer.rid).collect())
                    .unwrap_or_default();
                work.push_back(Work::Publish {
                    track: self.track_id(added.mid),
                    kind: added.kind,
                    rids,
                });
            }
            Event::RtpPacket(packet) => {
                if let Some(incoming) = self.resolve(packet) {
                    work.push_back(Work::Forward(incoming));
                }
            }
            Event::KeyframeRequest(req) => work.push_back(Work::KeyframeRequest {
                subscriber: self.id,
                mid: req.mid,
                kind: req.kind,
            }),
            Event::StreamPaused(p) => work.push_back(Work::LayerPaused {
                track: self.track_id(p.mid),
                layer: p.rid,
                paused: p.paused,
            }),
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                work.push_back(Work::Estimate {
                    participant: self.id,
                    bitrate_bps: estimate.as_u64(),
                });
            }
            _ => {}
        }
    }

    fn track_id(&self, mid: Mid) -> TrackId {
        TrackId {
            publisher: self.id,
            mid,
        }
    }

    /// Which track and layer a packet belongs to (later packets of a stream carry no MID/RID
    /// header extension, only the SSRC str0m learnt), and its codec.
    fn resolve(&mut self, packet: RtpPacket) -> Option<IncomingPacket> {
        let pt = packet.header.payload_type;
        let params = *self.rtc.codec_config().find(|p| p.pt() == pt)?;
        let mut api = self.rtc.direct_api();
        let stream = api.stream_rx(&packet.header.ssrc)?;
        let (mid, layer) = (stream.mid(), stream.rid());
        Some(IncomingPacket {
            track: self.track_id(mid),
            layer,
            params,
            packet,
        })
    }

    /// Sends an offer with the subscriptions that changed, unless one is already out or the
    /// client is not connected yet (it has not applied our answer before it connects, so an
    /// offer before that could overtake the answer in signalling).
    pub fn negotiate(
        &mut self,
        tracks: &HashMap<TrackId, Track>,
        outputs: &mut VecDeque<SfuOutput>,
        work: &mut VecDeque<Work>,
    ) {
        if !self.connected || self.pending_offer.is_some() || self.dead {
            return;
        }
        let mut change = self.rtc.sdp_api();
        self.subscriptions.retain(|track_id, sub| {
            match (sub.state, tracks.get(track_id)) {
                (SubscriptionState::ToOpen, None) => return false,
                (SubscriptionState::ToOpen, Some(track)) => {
                    let mid = change.add_media(
                        track.kind,
                        Direction::SendOnly,
                        Some(track.publisher_name.clone()),
                        Some(track_id.mid.to_string()),
                        None,
                    );
                    sub.state = SubscriptionState::Negotiating(mid);
                }
                (SubscriptionState::Open(mid), None) | (SubscriptionState::ToStop(mid), _) => {
                    change.stop_media(mid);
                    sub.state = SubscriptionState::NegotiatingStop(mid);
                }
                _ => {}
            }
            true
        });
        if !change.has_changes() {
            return;
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        debug!("sending offer");
        self.pending_offer = Some(pending);
        outputs.push_back(SfuOutput::Offer {
            participant: self.name.clone(),
            sdp: offer.to_sdp_string(),
        });
        self.drain(outputs, work);
    }

    /// Moves subscriptions on after the outstanding offer was answered (`accepted`) or its
    /// answer was rejected, in which case the changes go into the next offer.
    pub fn finish_negotiation(&mut self, accepted: bool) {
        let mut opened = Vec::new();
        self.subscriptions.retain(|_, sub| {
            match (sub.state, accepted) {
                (SubscriptionState::Negotiating(mid), true) => {
                    sub.state = SubscriptionState::Open(mid);
                    opened.push(mid);
                }
                (SubscriptionState::NegotiatingStop(_), true) => return false,
                (SubscriptionState::Negotiating(_), false) => {
                    sub.state = SubscriptionState::ToOpen;
                }
                (SubscriptionState::NegotiatingStop(mid), false) => {
                    sub.state = SubscriptionState::ToStop(mid);
                }
                _ => {}
            }
            true
        });
        let mut api = self.rtc.direct_api();
        for mid in opened {
            if let Some(stream) = api.stream_tx_by_mid(mid, None) {
                stream.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, RTX_RATIO_CAP);
            }
        }
        self.refresh_video_budget();
    }

    pub fn set_bandwidth(&mut self, bitrate_bps: u64) {
        self.bandwidth_bps = Some(bitrate_bps);
        self.refresh_video_budget();
    }

    /// An equal share of the estimate per received video track: simple, and it never
    /// gives one track more than the link can carry.
    pub fn refresh_video_budget(&mut self) {
        let videos = self
            .subscriptions
            .values()
            .filter(|s| s.kind.is_video() && matches!(s.state, SubscriptionState::Open(_)))
            .count()
            .max(1) as u64;
        self.video_budget_bps = self.bandwidth_bps.map(|bps| bps / videos);
    }

    /// Offers one incoming packet to this participant's subscription of its track. Returns
    /// the layer the subscription waits for a keyframe on, if any.
    pub fn forward(
        &mut self,
        incoming: &IncomingPacket,
        view: &PacketView<'_>,
        target: LayerId,
        tap: Option<&mut PayloadTap>,
    ) -> Forwarded {
        let Some(sub) = self.subscriptions.get_mut(&incoming.track) else {
            return Forwarded::default();
        };
        let SubscriptionState::Open(mid) = sub.state else {
            return Forwarded::default();
        };
        // Payload types are negotiated per PeerConnection and may differ. No match: this
        // receiver cannot decode the codec at all.
        let Some(pt) = self
            .rtc
            .codec_config()
            .match_params(incoming.params)
            .map(|p| p.pt())
        else {
            return Forwarded::default();
        };
        let decision = sub.forwarder.decide(view, target);
        let mut forwarded = Forwarded {
            bytes: 0,
            wants_keyframe: decision.wants_keyframe,
        };
        let Some(rewrite) = decision.forward else {
            return forwarded;
        };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return forwarded;
        };
        let header = &incoming.packet.header;
        let mut write = RtpWrite::new(
            pt,
            rewrite.seq_no,
            rewrite.timestamp,
            incoming.packet.timestamp,
            incoming.packet.payload.clone(),
        )
        .marker(header.marker)
        .ext_vals(forwarded_extensions(&header.ext_vals))
        // Audio is not worth resending: it would arrive after its playout time.
        .nackable(sub.kind.is_video());
        if let Some(patch) = rewrite.vp8_patch {
            write = write.vp8_patch(patch);
        }
        stream.write_rtp(write);
        if let Some(tap) = tap {
            tap(&incoming.packet.payload);
        }
        forwarded.bytes = incoming.packet.payload.len();
        // str0m sends a written packet only after a timeout lets its pacer see it, so polling
        // now would find nothing: the SFU's next `handle_timeout` sends it (and everything
        // else written for this receiver meanwhile) in one go.
        self.next_timeout = self.next_timeout.min(incoming.packet.timestamp);
        forwarded
    }

    /// The receiving m-line `mid`'s track and the layer it is receiving, for a keyframe
    /// request from the receiver.
    pub fn receiving(&self, mid: Mid) -> Option<(TrackId, LayerId)> {
        self.subscriptions.iter().find_map(|(track, sub)| {
            (sub.state == SubscriptionState::Open(mid))
                .then(|| sub.forwarder.current().map(|layer| (*track, layer)))
                .flatten()
        })
    }
}

/// What [`Participant::forward`] did with a packet.
#[derive(Debug, Default)]
pub(crate) struct Forwarded {
    /// Payload bytes sent; 0 if the packet was not sent to this participant.
    pub bytes: usize,
    pub wants_keyframe: Option<LayerId>,
}

/// Header extensions a receiver needs for rendering. The rest (MID, RID, transport-wide
/// sequence numbers, send times) belong to the publisher's connection; str0m writes the
/// receiver's own.
fn forwarded_extensions(incoming: &ExtensionValues) -> ExtensionValues {
    ExtensionValues {
        audio_level: incoming.audio_level,
        voice_activity: incoming.voice_activity,
        video_orientation: incoming.video_orientation,
        ..ExtensionValues::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_reported_once_per_attempt() {
        let t0 = Instant::now();
        let mut reports = RefusalReports::default();
        assert!(reports.refuse(t0), "the first refused packet");
        // A long share that keeps being refused is one attempt.
        for ms in (33..10_000).step_by(33) {
            assert!(!reports.refuse(t0 + Duration::from_millis(ms)));
        }
        // The client stopped, then tries again.
        let again = t0 + Duration::from_millis(9_999) + ATTEMPT_GAP;
        assert!(reports.refuse(again));
        assert!(!reports.refuse(again + Duration::from_millis(33)));
        // The control changed: the next refused packet is news.
        reports.reset();
        assert!(reports.refuse(again + Duration::from_millis(66)));
    }
}
