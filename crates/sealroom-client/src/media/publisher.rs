//! The sending side: the tracks we offer, when each synthetic frame is due, and the rule that a
//! frame leaves protected or not at all.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sealroom_e2ee::sframe::{MediaKeyring, SframeError};
use str0m::Rtc;
use str0m::change::SdpApi;
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Rids, Simulcast, SimulcastLayer,
};
use tracing::{debug, info, warn};

use super::SyntheticMedia;
use super::stats::MediaStats;
use super::synthetic::{AudioSource, SyntheticFrame, VideoLayer, VideoSource};

/// 50 Opus frames per second.
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const AUDIO_TICKS_PER_FRAME: u64 = 960;

/// 30 video frames per second.
const VIDEO_INTERVAL: Duration = Duration::from_nanos(33_333_333);
const VIDEO_TICKS_PER_FRAME: u64 = 3_000;

/// The synthetic tracks of one endpoint; empty when it only receives.
#[derive(Debug)]
pub(crate) struct Publisher {
    audio: Option<AudioTrack>,
    video: Option<VideoTrack>,
}

#[derive(Debug)]
struct AudioTrack {
    mid: Mid,
    source: AudioSource,
    cadence: Cadence,
}

#[derive(Debug)]
struct VideoTrack {
    mid: Mid,
    /// One source per simulcast layer offered, "h" first.
    layers: Vec<VideoSource>,
    cadence: Cadence,
}

/// Where protected frames go, and the counters they update.
pub(crate) struct Outlet<'a> {
    pub(crate) rtc: &'a mut Rtc,
    pub(crate) keys: &'a Mutex<MediaKeyring>,
    pub(crate) stats: &'a Mutex<MediaStats>,
    pub(crate) now: Instant,
    /// `now` since the clock origin: the send time stamped into each frame.
    pub(crate) sent_at: Duration,
}

impl Publisher {
    /// Adds the send-only m-lines for `publish` to `change`.
    pub(crate) fn offer(change: &mut SdpApi, publish: Option<SyntheticMedia>) -> Self {
        let Some(publish) = publish else {
            return Self::receive_only();
        };
        // One media stream for both tracks, so receivers play them in sync.
        let stream_id = format!("sealroom-{:016x}", rand::random::<u64>());
        let audio = publish.audio.then(|| AudioTrack {
            mid: change.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                Some(stream_id.clone()),
                None,
                None,
            ),
            source: AudioSource::default(),
            cadence: Cadence::new(AUDIO_INTERVAL),
        });
        let video = publish.video.then(|| {
            let layers = if publish.simulcast {
                vec![VideoLayer::High, VideoLayer::Low]
            } else {
                vec![VideoLayer::High]
            };
            let simulcast = publish.simulcast.then(|| {
                let mut simulcast = Simulcast::new();
                for layer in &layers {
                    simulcast.add_send_layer(SimulcastLayer::new(layer.rid()));
                }
                simulcast
            });
            VideoTrack {
                mid: change.add_media(
                    MediaKind::Video,
                    Direction::SendOnly,
                    Some(stream_id),
                    None,
                    simulcast,
                ),
                layers: layers.into_iter().map(VideoSource::new).collect(),
                cadence: Cadence::new(VIDEO_INTERVAL),
            }
        });
        Self { audio, video }
    }

    /// Nothing to publish: an engine that only receives.
    pub(crate) fn receive_only() -> Self {
        Self {
            audio: None,
            video: None,
        }
    }

    /// Whether nothing is published.
    pub(crate) fn is_empty(&self) -> bool {
        self.audio.is_none() && self.video.is_none()
    }

    /// Starts the sources once the peer connection is up: str0m drops frames written earlier,
    /// and their SFrame counters would be spent for nothing.
    pub(crate) fn start(&mut self, now: Instant) {
        if let Some(audio) = &mut self.audio {
            audio.cadence.start(now);
        }
        if let Some(video) = &mut self.video {
            video.cadence.start(now);
        }
        if !self.is_empty() {
            info!(
                audio = self.audio.is_some(),
                video_layers = self.video.as_ref().map_or(0, |v| v.layers.len()),
                "publishing synthetic media"
            );
        }
    }

    /// When the next frame is due, if publishing has started.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let audio = self.audio.as_ref().and_then(|a| a.cadence.next_due());
        let video = self.video.as_ref().and_then(|v| v.cadence.next_due());
        match (audio, video) {
            (Some(a), Some(v)) => Some(a.min(v)),
            (a, v) => a.or(v),
        }
    }

    /// The SFU asked for a key frame on `mid` (all layers when `rid` is `None`).
    pub(crate) fn request_keyframe(&mut self, mid: Mid, rid: Option<Rid>) {
        let Some(video) = self.video.as_mut().filter(|v| v.mid == mid) else {
            return;
        };
        for layer in &mut video.layers {
            if rid.is_none_or(|rid| rid == Rid::from(layer.layer().rid())) {
                layer.request_keyframe();
            }
        }
    }

    /// Protects and writes every frame due at `out.now`.
    pub(crate) fn publish_due(&mut self, out: &mut Outlet<'_>) {
        if let Some(audio) = &mut self.audio
            && let Some(slot) = audio.cadence.take_due(out.now)
        {
            let frame = audio.source.next_frame(out.sent_at);
            let time = MediaTime::new(
                slot.wrapping_mul(AUDIO_TICKS_PER_FRAME),
                Frequency::FORTY_EIGHT_KHZ,
            );
            if out.send(&frame, audio.mid, None, Codec::Opus, time) {
                lock(out.stats).audio_frames_sent += 1;
            }
        }

        if let Some(video) = &mut self.video
            && let Some(slot) = video.cadence.take_due(out.now)
        {
            let time = MediaTime::new(
                slot.wrapping_mul(VIDEO_TICKS_PER_FRAME),
                Frequency::NINETY_KHZ,
            );
            // The layers the SFU accepted; without simulcast, the full layer goes without rid.
            let negotiated = match out.rtc.media(video.mid).map(|m| m.rids_tx()) {
                Some(Rids::Specific(rids)) => Some(rids.clone()),
                _ => None,
            };
            for source in &mut video.layers {
                let rid = Rid::from(source.layer().rid());
                let rid = match &negotiated {
                    Some(rids) if rids.contains(&rid) => Some(rid),
                    None if source.layer() == VideoLayer::High => None,
                    _ => continue,
                };
                let frame = source.next_frame(out.sent_at);
                if out.send(&frame, video.mid, rid, Codec::Vp8, time) {
                    let mut stats = lock(out.stats);
                    stats.video_frames_sent += 1;
                    stats.keyframes_sent += u64::from(frame.keyframe);
                } else {
                    source.frame_lost();
                }
            }
        }
    }
}

impl Outlet<'_> {
    /// Protects `frame` and hands it to the peer connection; `false` if it was dropped.
    fn send(
        &mut self,
        frame: &SyntheticFrame,
        mid: Mid,
        rid: Option<Rid>,
        codec: Codec,
        time: MediaTime,
    ) -> bool {
        let protected = lock(self.keys).protect(frame.clear_prefix_len, &frame.bytes);
        let wire = match protected {
            Ok(wire) => wire,
            Err(SframeError::NoEpoch | SframeError::CounterExhausted) => {
                lock(self.stats).frames_dropped_no_key += 1;
                return false;
            }
            Err(e) => {
                warn!(error = %e, "frame could not be protected; dropped");
                return false;
            }
        };
        let Some(writer) = self.rtc.writer(mid) else {
            lock(self.stats).frames_dropped_unsendable += 1;
            return false;
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
        else {
            debug!(%mid, ?codec, "codec not negotiated; frame dropped");
            lock(self.stats).frames_dropped_unsendable += 1;
            return false;
        };
        let writer = match rid {
            Some(rid) => writer.rid(rid),
            None => writer,
        };
        match writer.write(pt, self.now, time, wire) {
            Ok(()) => true,
            Err(e) => {
                debug!(%mid, error = %e, "frame refused by the peer connection");
                lock(self.stats).frames_dropped_unsendable += 1;
                false
            }
        }
    }
}

/// The keyring and the counters stay usable after a panic elsewhere: every operation on them
/// leaves them consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Frame slots at a fixed interval from the start. A late driver skips the slots it missed
/// rather than sending a burst, and the RTP time stays that of the slot.
#[derive(Debug)]
struct Cadence {
    interval: Duration,
    started: Option<Instant>,
    next_slot: u64,
}

impl Cadence {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            started: None,
            next_slot: 0,
        }
    }

    fn start(&mut self, now: Instant) {
        self.started.get_or_insert(now);
    }

    fn slot_time(&self, started: Instant, slot: u64) -> Instant {
        let nanos = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        started + Duration::from_nanos(nanos.saturating_mul(slot))
    }

    fn next_due(&self) -> Option<Instant> {
        self.started
            .map(|started| self.slot_time(started, self.next_slot))
    }

    /// The latest slot due at `now`, if one is.
    fn take_due(&mut self, now: Instant) -> Option<u64> {
        let started = self.started?;
        if now < self.slot_time(started, self.next_slot) {
            return None;
        }
        let elapsed = now.duration_since(started).as_nanos() / self.interval.as_nanos().max(1);
        let slot = u64::try_from(elapsed)
            .unwrap_or(u64::MAX)
            .max(self.next_slot);
        self.next_slot = slot.saturating_add(1);
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_skips_missed_slots_instead_of_bursting() {
        let t0 = Instant::now();
        let mut cadence = Cadence::new(Duration::from_millis(20));
        assert_eq!(cadence.take_due(t0), None, "not started");
        cadence.start(t0);
        assert_eq!(cadence.take_due(t0), Some(0));
        assert_eq!(cadence.take_due(t0 + Duration::from_millis(19)), None);
        assert_eq!(cadence.take_due(t0 + Duration::from_millis(20)), Some(1));
        assert_eq!(cadence.take_due(t0 + Duration::from_millis(105)), Some(5));
        assert_eq!(cadence.next_due(), Some(t0 + Duration::from_millis(120)));
    }
}
