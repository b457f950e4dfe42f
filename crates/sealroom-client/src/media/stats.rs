//! What the media engine sent, decrypted and dropped, per sender.

use std::collections::BTreeMap;
use std::time::Duration;

use sealroom_e2ee::sframe::{SframeError, UnprotectedFrame};
use serde::Serialize;
use str0m::media::MediaKind;

use super::latency::LatencyHistogram;

/// Counters of one media engine since it started. Times are since the client's clock origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaStats {
    /// Audio frames protected and handed to the peer connection.
    pub audio_frames_sent: u64,
    /// Video frames protected and handed to the peer connection, all simulcast layers.
    pub video_frames_sent: u64,
    /// How many of `video_frames_sent` were key frames.
    pub keyframes_sent: u64,
    /// Frames dropped because the keyring had no epoch to protect them with (or its counter
    /// ran out). They are never sent in the clear.
    pub frames_dropped_no_key: u64,
    /// Protected frames the peer connection refused: codec or simulcast layer not negotiated.
    pub frames_dropped_unsendable: u64,
    /// Decrypted frames by the sender's MLS leaf index.
    pub per_sender: BTreeMap<u32, SenderStats>,
    /// Received frames that did not decrypt, by reason (`authentication_failed`,
    /// `unknown_kid`, `replayed`, ...). They are dropped.
    pub decrypt_failures: BTreeMap<String, u64>,
    /// When the first frame decrypted: the media side of "join time".
    pub first_decrypted_at: Option<Duration>,
    /// Whether ICE has a working candidate pair.
    pub ice_connected: bool,
    /// RTP packets (not RTCP) sent, retransmissions included.
    pub rtp_packets_sent: u64,
    /// RTP packets (not RTCP) received, retransmissions included.
    pub rtp_packets_received: u64,
    /// Bytes of those packets as they arrived (SRTP: headers, payload and tag).
    pub rtp_bytes_received: u64,
    /// Send-to-receive latency of decrypted synthetic frames, on the clock their send time is
    /// stamped with (see `synthetic::stamp_clock`): meaningful when sender and receiver run in
    /// the same process, as in `sealroom load`.
    pub latency: LatencyHistogram,
}

/// Frames decrypted from one sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SenderStats {
    /// Audio frames decrypted.
    pub audio_frames: u64,
    /// Video frames decrypted, all layers the SFU forwarded.
    pub video_frames: u64,
    /// Decrypted payload bytes.
    pub bytes: u64,
    /// Epoch of the last decrypted frame.
    pub last_epoch: u64,
    /// Whether every frame decrypted from this sender is exactly what a Sealroom synthetic
    /// source produces (header, layout and filler). Only meaningful for synthetic senders: a
    /// browser's real Opus and VP8 frames make it false.
    pub payload_intact: bool,
}

impl MediaStats {
    /// Counts a frame that decrypted at `at`; `intact` tells whether it has the synthetic layout.
    pub(crate) fn record_decrypted(
        &mut self,
        at: Duration,
        kind: MediaKind,
        frame: &UnprotectedFrame,
        intact: bool,
    ) {
        self.first_decrypted_at.get_or_insert(at);
        let sender = self
            .per_sender
            .entry(frame.sender_index)
            .or_insert(SenderStats {
                audio_frames: 0,
                video_frames: 0,
                bytes: 0,
                last_epoch: frame.epoch,
                payload_intact: true,
            });
        match kind {
            MediaKind::Audio => sender.audio_frames += 1,
            MediaKind::Video => sender.video_frames += 1,
        }
        sender.bytes += frame.payload.len() as u64;
        sender.last_epoch = frame.epoch;
        sender.payload_intact &= intact;
    }

    /// Counts a received frame that did not decrypt.
    pub(crate) fn record_decrypt_failure(&mut self, error: &SframeError) {
        *self
            .decrypt_failures
            .entry(error.code().to_owned())
            .or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(sender_index: u32, epoch: u64, len: usize) -> UnprotectedFrame {
        UnprotectedFrame {
            sender_index,
            epoch,
            clear_prefix_len: 0,
            payload: vec![0; len],
        }
    }

    #[test]
    fn decrypted_frames_are_counted_per_sender_and_one_bad_frame_marks_it() {
        let mut stats = MediaStats::default();
        let t = Duration::from_millis(700);
        stats.record_decrypted(t, MediaKind::Audio, &frame(3, 1, 100), true);
        stats.record_decrypted(t * 2, MediaKind::Video, &frame(3, 2, 4000), true);
        stats.record_decrypted(t * 2, MediaKind::Video, &frame(5, 2, 10), false);

        assert_eq!(stats.first_decrypted_at, Some(t));
        assert_eq!(
            stats.per_sender[&3],
            SenderStats {
                audio_frames: 1,
                video_frames: 1,
                bytes: 4100,
                last_epoch: 2,
                payload_intact: true,
            }
        );
        assert!(!stats.per_sender[&5].payload_intact);
    }

    #[test]
    fn failures_are_counted_by_reason() {
        let mut stats = MediaStats::default();
        stats.record_decrypt_failure(&SframeError::AuthenticationFailed);
        stats.record_decrypt_failure(&SframeError::AuthenticationFailed);
        stats.record_decrypt_failure(&SframeError::Replayed {
            sender_index: 1,
            ctr: 7,
        });
        assert_eq!(
            stats.decrypt_failures,
            BTreeMap::from([
                ("authentication_failed".to_owned(), 2),
                ("replayed".to_owned(), 1)
            ])
        );
        assert!(stats.per_sender.is_empty());
    }
}
