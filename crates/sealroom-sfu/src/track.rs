//! A track one participant publishes: its simulcast layers, how fast each arrives, and who
//! receives it.

use std::time::{Duration, Instant};

use str0m::media::{MediaKind, Mid, Rid};

use crate::participant::ParticipantId;

/// A simulcast layer by its RTP stream id; `None` for a track sent without simulcast.
pub(crate) type LayerId = Option<Rid>;

/// Layers are measured over windows this long.
const METER_WINDOW: Duration = Duration::from_secs(1);

/// A brand-new track's layers may take this long to start; until then a layer that has not
/// sent yet is still a candidate, so receivers start on the highest layer instead of
/// starting on whichever arrives first and paying a keyframe to switch up a moment later.
const STARTUP_GRACE: Duration = Duration::from_secs(1);

/// The SFU asks a publisher for a keyframe of one layer at most this often: one keyframe
/// serves every receiver waiting for it.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TrackId {
    pub publisher: ParticipantId,
    pub mid: Mid,
}

/// What a track carries, by the convention Sealroom's clients follow: a publisher's first
/// video track is its camera, the second its screen (`web/src/media.ts`, `roleOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackRole {
    Audio,
    Camera,
    Screen,
}

impl TrackRole {
    /// The role of a publisher's next track, given how many video tracks it published before.
    pub fn of(kind: MediaKind, earlier_videos: usize) -> Self {
        match (kind, earlier_videos) {
            (MediaKind::Audio, _) => TrackRole::Audio,
            (MediaKind::Video, 0) => TrackRole::Camera,
            (MediaKind::Video, _) => TrackRole::Screen,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Track {
    /// Advertised to receivers as the msid stream id, so a client can tell whose track it is.
    pub publisher_name: String,
    pub kind: MediaKind,
    pub role: TrackRole,
    /// A moderation control stops forwarding this track (muted audio, a refused screen
    /// share). Checked per packet; the publisher's controls are the source of truth.
    pub withheld: bool,
    /// Lowest quality first, the order of the publisher's `a=simulcast` line (the WebRTC
    /// convention for `sendEncodings`). One layer with id `None` without simulcast.
    pub layers: Vec<Layer>,
    pub subscribers: Vec<ParticipantId>,
    created_at: Instant,
}

#[derive(Debug)]
pub(crate) struct Layer {
    pub id: LayerId,
    meter: BitrateMeter,
    last_packet_at: Option<Instant>,
    /// str0m reports a stream paused after 1.5 s without packets (a publisher turning a
    /// layer off under its own bandwidth limit).
    pub paused: bool,
    last_keyframe_request: Option<Instant>,
}

impl Track {
    pub fn new(
        publisher_name: String,
        kind: MediaKind,
        role: TrackRole,
        rids: Vec<Rid>,
        created_at: Instant,
    ) -> Self {
        let ids: Vec<LayerId> = if rids.is_empty() {
            vec![None]
        } else {
            rids.into_iter().map(Some).collect()
        };
        Track {
            publisher_name,
            kind,
            role,
            withheld: false,
            layers: ids.into_iter().map(Layer::new).collect(),
            subscribers: Vec::new(),
            created_at,
        }
    }

    pub fn layer_mut(&mut self, id: LayerId) -> Option<&mut Layer> {
        self.layers.iter_mut().find(|l| l.id == id)
    }

    /// The layer a receiver with `budget_bps` for this track should get: the highest one that
    /// is sending and fits the budget (a layer not measured yet fits), else the lowest one
    /// sending. No budget (no estimate yet) means the highest.
    pub fn choose_layer(&self, now: Instant, budget_bps: Option<u64>) -> Option<LayerId> {
        let starting = now.saturating_duration_since(self.created_at) < STARTUP_GRACE;
        let mut candidates = self
            .layers
            .iter()
            .filter(|l| !l.paused && (l.last_packet_at.is_some() || starting));
        let lowest = candidates.clone().next()?;
        let fitting = candidates.rfind(|l| match (budget_bps, l.meter.bitrate_bps) {
            (Some(budget), Some(rate)) => rate <= budget,
            _ => true,
        });
        Some(fitting.unwrap_or(lowest).id)
    }

    /// The measured bitrate of the highest layer still sending: what a receiver needs for
    /// the best quality of this track.
    pub fn best_bitrate_bps(&self) -> u64 {
        self.layers
            .iter()
            .rev()
            .find(|l| !l.paused)
            .and_then(|l| l.meter.bitrate_bps)
            .unwrap_or(0)
    }
}

impl Layer {
    fn new(id: LayerId) -> Self {
        Layer {
            id,
            meter: BitrateMeter::default(),
            last_packet_at: None,
            paused: false,
            last_keyframe_request: None,
        }
    }

    pub fn record_packet(&mut self, now: Instant, bytes: usize) {
        self.last_packet_at = Some(now);
        self.meter.record(now, bytes);
    }

    /// Whether a keyframe request for this layer may go to the publisher now; if so, it is
    /// counted as sent.
    pub fn take_keyframe_request(&mut self, now: Instant) -> bool {
        let due = self
            .last_keyframe_request
            .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_REQUEST_INTERVAL);
        if due {
            self.last_keyframe_request = Some(now);
        }
        due
    }
}

/// Bitrate over the last complete window. Packets drive it, so a layer that stops sending
/// keeps its last rate; str0m's pause detection covers that case.
#[derive(Debug, Default)]
struct BitrateMeter {
    window_start: Option<Instant>,
    window_bytes: u64,
    bitrate_bps: Option<u64>,
}

impl BitrateMeter {
    fn record(&mut self, now: Instant, bytes: usize) {
        let start = *self.window_start.get_or_insert(now);
        self.window_bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= METER_WINDOW {
            let bits = u128::from(self.window_bytes) * 8 * 1_000_000;
            let rate = bits / elapsed.as_micros().max(1);
            self.bitrate_bps = Some(u64::try_from(rate).unwrap_or(u64::MAX));
            self.window_start = Some(now);
            self.window_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A track with layers l, m, h that have sent at `kbps` each for two seconds.
    fn measured_track(start: Instant, kbps: [u64; 3]) -> Track {
        let rids = ["l", "m", "h"].map(Rid::from).to_vec();
        let mut track = Track::new(
            "alice".into(),
            MediaKind::Video,
            TrackRole::Camera,
            rids,
            start,
        );
        for ms in (0..=2000).step_by(20) {
            let now = start + Duration::from_millis(ms);
            for (layer, rate) in track.layers.iter_mut().zip(kbps) {
                // 20 ms worth of bytes.
                layer.record_packet(now, (rate * 1000 / 8 / 50) as usize);
            }
        }
        track
    }

    #[test]
    fn highest_layer_without_estimate() {
        let start = Instant::now();
        let track = measured_track(start, [100, 300, 900]);
        let now = start + Duration::from_secs(2);
        assert_eq!(track.choose_layer(now, None), Some(Some(Rid::from("h"))));
        assert_eq!(
            track.choose_layer(now, Some(5_000_000)),
            Some(Some(Rid::from("h")))
        );
    }

    #[test]
    fn estimate_below_a_layer_lowers_it() {
        let start = Instant::now();
        let track = measured_track(start, [100, 300, 900]);
        let now = start + Duration::from_secs(2);
        assert_eq!(
            track.choose_layer(now, Some(500_000)),
            Some(Some(Rid::from("m")))
        );
        assert_eq!(
            track.choose_layer(now, Some(150_000)),
            Some(Some(Rid::from("l")))
        );
        // Nothing fits: the lowest layer rather than nothing.
        assert_eq!(
            track.choose_layer(now, Some(10_000)),
            Some(Some(Rid::from("l")))
        );
    }

    #[test]
    fn paused_layer_is_skipped() {
        let start = Instant::now();
        let mut track = measured_track(start, [100, 300, 900]);
        let now = start + Duration::from_secs(2);
        if let Some(h) = track.layer_mut(Some(Rid::from("h"))) {
            h.paused = true;
        }
        assert_eq!(track.choose_layer(now, None), Some(Some(Rid::from("m"))));
        assert_eq!(track.best_bitrate_bps() / 1000, 300);
    }

    #[test]
    fn silent_layers_count_only_during_startup() {
        let start = Instant::now();
        let rids = ["l", "h"].map(Rid::from).to_vec();
        let mut track = Track::new(
            "alice".into(),
            MediaKind::Video,
            TrackRole::Camera,
            rids,
            start,
        );
        if let Some(l) = track.layer_mut(Some(Rid::from("l"))) {
            l.record_packet(start, 100);
        }
        let early = start + Duration::from_millis(200);
        assert_eq!(track.choose_layer(early, None), Some(Some(Rid::from("h"))));
        let late = start + Duration::from_secs(2);
        assert_eq!(track.choose_layer(late, None), Some(Some(Rid::from("l"))));
    }

    #[test]
    fn keyframe_requests_are_throttled_per_layer() {
        let start = Instant::now();
        let mut layer = Layer::new(None);
        assert!(layer.take_keyframe_request(start));
        assert!(!layer.take_keyframe_request(start + Duration::from_millis(100)));
        assert!(layer.take_keyframe_request(start + KEYFRAME_REQUEST_INTERVAL));
    }
}
