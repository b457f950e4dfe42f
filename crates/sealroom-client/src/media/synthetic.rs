//! Synthetic media: frames shaped like a 1 Mbit/s VP8 stream and a 20 ms Opus stream, with
//! content a receiver can verify byte for byte, so tests and load runs can tell real decryption
//! from garbage without a codec.
//!
//! Layout of a video frame: a valid VP8 frame header (RFC 6386 §9.1: the 3-byte frame tag, plus
//! start code and dimensions on key frames, 10 bytes in all), an 8-byte sequence number, an
//! 8-byte send time (µs on [`stamp_clock`], one clock for the whole process), then filler. An audio frame is an Opus
//! TOC byte (CELT fullband, 20 ms, mono, one frame), the same sequence number and send time, and
//! filler. The filler is a pseudo-random stream seeded by the sequence number and the length,
//! so a receiver can recompute it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use str0m::media::MediaKind;

/// Opus TOC byte: config 31 (CELT fullband 20 ms), mono, one frame per packet (RFC 6716 §3.1).
const OPUS_TOC: u8 = 31 << 3;

/// VP8 key frame start code (RFC 6386 §9.1).
const VP8_START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// Clear prefix a VP8 key frame keeps for the SFU: frame tag, start code and dimensions.
pub(crate) const KEYFRAME_CLEAR_PREFIX: usize = 10;

/// Clear prefix a VP8 delta frame keeps: the frame tag with its key-frame bit.
pub(crate) const DELTA_CLEAR_PREFIX: usize = 3;

/// Sequence number and send time that follow the header.
const STAMP_LEN: usize = 16;

/// One key frame every 2 s at 30 frames/s.
const KEYFRAME_INTERVAL_FRAMES: u32 = 60;

/// A flood of keyframe requests must not turn the stream into key frames only.
const MIN_REQUESTED_KEYFRAME_SPACING_FRAMES: u32 = 10;

/// Sizes in bytes of the "h" layer, about 1 Mbit/s on average (≈4.2 KB per frame).
const KEYFRAME_SIZE: (usize, usize) = (15_000, 20_000);
const DELTA_FRAME_SIZE: (usize, usize) = (3_500, 4_400);
const AUDIO_FRAME_SIZE: (usize, usize) = (90, 110);

/// Seeds of the per-stream pseudo-random streams, so audio and video filler differ.
const AUDIO_TAG: u64 = 0x6175_6469_6f00_0000;
const VIDEO_TAG: u64 = 0x7669_6465_6f00_0000;
const SIZE_TAG: u64 = 0x7369_7a65_0000_0000;

/// A simulcast layer of the synthetic video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VideoLayer {
    /// Full size, rid "h"; also the only layer without simulcast.
    High,
    /// Quarter size, rid "l".
    Low,
}

impl VideoLayer {
    /// The RTP stream id of the layer.
    pub(crate) fn rid(self) -> &'static str {
        match self {
            Self::High => "h",
            Self::Low => "l",
        }
    }

    fn dimensions(self) -> (u16, u16) {
        match self {
            Self::High => (1280, 720),
            Self::Low => (640, 360),
        }
    }

    fn size(self, (min, max): (usize, usize), seq: u64) -> usize {
        let divisor = match self {
            Self::High => 1,
            Self::Low => 4,
        };
        jittered((min / divisor, max / divisor), seq ^ VIDEO_TAG)
    }
}

/// A frame before protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntheticFrame {
    pub(crate) bytes: Vec<u8>,
    /// How many leading bytes stay readable by the SFU.
    pub(crate) clear_prefix_len: usize,
    pub(crate) keyframe: bool,
}

/// The synthetic Opus stream.
#[derive(Debug, Default)]
pub(crate) struct AudioSource {
    next_seq: u64,
}

impl AudioSource {
    /// The next 20 ms frame, stamped with `sent_at` (since the clock origin).
    pub(crate) fn next_frame(&mut self, sent_at: Duration) -> SyntheticFrame {
        let seq = self.next_seq;
        self.next_seq += 1;
        let len = jittered(AUDIO_FRAME_SIZE, seq ^ AUDIO_TAG);
        let mut bytes = Vec::with_capacity(len);
        bytes.push(OPUS_TOC);
        push_stamp_and_filler(&mut bytes, seq, sent_at, AUDIO_TAG, len);
        SyntheticFrame {
            bytes,
            clear_prefix_len: 0,
            keyframe: false,
        }
    }
}

/// The synthetic VP8 stream of one simulcast layer.
#[derive(Debug)]
pub(crate) struct VideoSource {
    layer: VideoLayer,
    next_seq: u64,
    /// `None` until a key frame reached the network, and again after a frame was lost.
    frames_since_keyframe: Option<u32>,
    keyframe_requested: bool,
}

impl VideoSource {
    pub(crate) fn new(layer: VideoLayer) -> Self {
        Self {
            layer,
            next_seq: 0,
            frames_since_keyframe: None,
            keyframe_requested: false,
        }
    }

    pub(crate) fn layer(&self) -> VideoLayer {
        self.layer
    }

    /// A receiver asked for a key frame (PLI or FIR).
    pub(crate) fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// The last frame never reached the network: receivers lack its reference, so the next
    /// frame is a key frame.
    pub(crate) fn frame_lost(&mut self) {
        self.frames_since_keyframe = None;
    }

    /// The next frame, stamped with `sent_at` (since the clock origin).
    pub(crate) fn next_frame(&mut self, sent_at: Duration) -> SyntheticFrame {
        let keyframe = match self.frames_since_keyframe {
            None => true,
            Some(n) => {
                n + 1 >= KEYFRAME_INTERVAL_FRAMES
                    || (self.keyframe_requested && n + 1 >= MIN_REQUESTED_KEYFRAME_SPACING_FRAMES)
            }
        };
        if keyframe {
            self.keyframe_requested = false;
            self.frames_since_keyframe = Some(0);
        } else {
            self.frames_since_keyframe = self.frames_since_keyframe.map(|n| n + 1);
        }

        let seq = self.next_seq;
        self.next_seq += 1;
        let (sizes, clear_prefix_len) = if keyframe {
            (KEYFRAME_SIZE, KEYFRAME_CLEAR_PREFIX)
        } else {
            (DELTA_FRAME_SIZE, DELTA_CLEAR_PREFIX)
        };
        let len = self.layer.size(sizes, seq);
        let mut bytes = Vec::with_capacity(len);
        let first_partition_len = first_partition_len(len, clear_prefix_len);
        bytes.extend_from_slice(&vp8_frame_tag(keyframe, first_partition_len));
        if keyframe {
            let (width, height) = self.layer.dimensions();
            bytes.extend_from_slice(&VP8_START_CODE);
            // 14 bits of size, 2 bits of scaling (none).
            bytes.extend_from_slice(&width.to_le_bytes());
            bytes.extend_from_slice(&height.to_le_bytes());
        }
        push_stamp_and_filler(&mut bytes, seq, sent_at, VIDEO_TAG, len);
        SyntheticFrame {
            bytes,
            clear_prefix_len,
            keyframe,
        }
    }
}

/// The clock send times are stamped with: time since the first reading in this process. Every
/// client of a process shares it, so a receiver in the same process as the sender (`sealroom
/// load`) reads the one-way latency off a frame.
pub(crate) fn stamp_clock(now: Instant) -> Duration {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    now.saturating_duration_since(*ORIGIN.get_or_init(|| now))
}

/// The send time stamped into `payload`, if it is an intact synthetic frame of `kind`.
pub(crate) fn sent_at(kind: MediaKind, payload: &[u8]) -> Option<Duration> {
    let header_len = match kind {
        MediaKind::Audio => 1,
        MediaKind::Video => vp8_header_len(payload)?,
    };
    let stamp = payload.get(header_len + 8..header_len + STAMP_LEN)?;
    let micros = u64::from_be_bytes(stamp.try_into().ok()?);
    Some(Duration::from_micros(micros))
}

/// Whether `payload` is exactly a frame a Sealroom synthetic source of `kind` produces: header,
/// layout and every filler byte.
pub fn is_intact(kind: MediaKind, payload: &[u8]) -> bool {
    match kind {
        MediaKind::Audio => {
            payload.first() == Some(&OPUS_TOC) && stamp_and_filler_intact(payload, 1, AUDIO_TAG)
        }
        MediaKind::Video => vp8_header_len(payload)
            .is_some_and(|header_len| stamp_and_filler_intact(payload, header_len, VIDEO_TAG)),
    }
}

/// The length of a synthetic VP8 header at the start of `frame`, if it is one.
fn vp8_header_len(frame: &[u8]) -> Option<usize> {
    let tag = frame.get(..3)?;
    let tag = u32::from_le_bytes([tag[0], tag[1], tag[2], 0]);
    let keyframe = tag & 1 == 0;
    let version = (tag >> 1) & 0b111;
    let show_frame = (tag >> 4) & 1;
    let first_partition = tag >> 5;
    let header_len = if keyframe {
        KEYFRAME_CLEAR_PREFIX
    } else {
        DELTA_CLEAR_PREFIX
    };
    if version != 0 || show_frame != 1 || frame.len() < header_len + STAMP_LEN {
        return None;
    }
    if first_partition != first_partition_len(frame.len(), header_len) {
        return None;
    }
    if keyframe {
        let start_code = frame.get(3..6)?;
        let width = u16::from_le_bytes([frame[6], frame[7]]);
        let height = u16::from_le_bytes([frame[8], frame[9]]);
        let known = [VideoLayer::High, VideoLayer::Low]
            .into_iter()
            .any(|layer| layer.dimensions() == (width, height));
        if start_code != VP8_START_CODE || !known {
            return None;
        }
    }
    Some(header_len)
}

fn stamp_and_filler_intact(payload: &[u8], header_len: usize, tag: u64) -> bool {
    let Some(seq) = payload
        .get(header_len..header_len + 8)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
    else {
        return false;
    };
    let filler_start = header_len + STAMP_LEN;
    let mut expected = vec![0; payload.len().saturating_sub(filler_start)];
    fill(filler_seed(seq, tag, payload.len()), &mut expected);
    payload.get(filler_start..) == Some(&expected[..])
}

/// The 3-byte VP8 frame tag: key-frame bit (0 = key frame), version 0, shown, and the size of
/// the first partition.
fn vp8_frame_tag(keyframe: bool, first_partition_len: u32) -> [u8; 3] {
    let tag = (first_partition_len << 5) | (1 << 4) | u32::from(!keyframe);
    let [b0, b1, b2, _] = tag.to_le_bytes();
    [b0, b1, b2]
}

/// A plausible first partition (modes and motion vectors): an eighth of the data after the
/// header. Frames stay far below the 19-bit limit.
fn first_partition_len(frame_len: usize, header_len: usize) -> u32 {
    u32::try_from(frame_len.saturating_sub(header_len) / 8).unwrap_or(0) & 0x7_ffff
}

fn push_stamp_and_filler(bytes: &mut Vec<u8>, seq: u64, sent_at: Duration, tag: u64, len: usize) {
    let sent_at_us = u64::try_from(sent_at.as_micros()).unwrap_or(u64::MAX);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&sent_at_us.to_be_bytes());
    let start = bytes.len();
    bytes.resize(len.max(start), 0);
    fill(filler_seed(seq, tag, bytes.len()), &mut bytes[start..]);
}

/// The filler depends on the frame length too, so a truncated frame is not intact.
fn filler_seed(seq: u64, tag: u64, frame_len: usize) -> u64 {
    splitmix64(seq ^ tag).wrapping_add(frame_len as u64)
}

/// A size in `min..=max`, pseudo-random per `seed`.
fn jittered((min, max): (usize, usize), seed: u64) -> usize {
    let span = (max - min + 1) as u64;
    min + (splitmix64(seed ^ SIZE_TAG) % span) as usize
}

/// SplitMix64 output stream from `seed`: cheap and reproducible on the receiver.
fn fill(seed: u64, out: &mut [u8]) {
    let mut state = seed;
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let word = splitmix64(state).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(1234);

    #[test]
    fn key_frame_starts_with_a_valid_vp8_key_frame_header() {
        let frame = VideoSource::new(VideoLayer::High).next_frame(T);
        assert!(frame.keyframe);
        assert_eq!(frame.clear_prefix_len, 10);
        let b = &frame.bytes;
        let tag = u32::from_le_bytes([b[0], b[1], b[2], 0]);
        assert_eq!(tag & 1, 0, "key frame bit is 0 on key frames");
        assert_eq!((tag >> 1) & 7, 0, "version");
        assert_eq!((tag >> 4) & 1, 1, "show_frame");
        assert!((tag >> 5) as usize <= b.len() - 10, "first partition fits");
        assert_eq!(b[3..6], [0x9d, 0x01, 0x2a]);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 1280);
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 720);
        assert_eq!(b[10..18], 0u64.to_be_bytes(), "sequence number");
        assert_eq!(b[18..26], 1_234_000u64.to_be_bytes(), "send time in µs");
        assert_eq!(sent_at(MediaKind::Video, b), Some(T));
        let mut source = VideoSource::new(VideoLayer::High);
        source.next_frame(T);
        let delta = source.next_frame(T * 2);
        assert!(!delta.keyframe);
        assert_eq!(sent_at(MediaKind::Video, &delta.bytes), Some(T * 2));
        let audio = AudioSource::default().next_frame(T * 3).bytes;
        assert_eq!(sent_at(MediaKind::Audio, &audio), Some(T * 3));
    }

    #[test]
    fn delta_frames_keep_three_clear_bytes_and_key_frames_come_every_two_seconds() {
        let mut source = VideoSource::new(VideoLayer::High);
        let frames: Vec<_> = (0..121).map(|_| source.next_frame(T)).collect();
        let keyframes: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].keyframe).collect();
        assert_eq!(keyframes, [0, 60, 120]);
        let delta = &frames[1];
        assert_eq!(delta.clear_prefix_len, 3);
        assert_eq!(delta.bytes[0] & 1, 1, "key frame bit is 1 on delta frames");
    }

    #[test]
    fn sizes_average_about_one_megabit_per_second_and_low_layer_a_quarter() {
        let average = |layer| {
            let mut source = VideoSource::new(layer);
            let total: usize = (0..600).map(|_| source.next_frame(T).bytes.len()).sum();
            total / 600
        };
        let high = average(VideoLayer::High);
        assert!((4_000..=4_400).contains(&high), "{high} bytes per frame");
        let low = average(VideoLayer::Low);
        assert!((900..=1_150).contains(&low), "{low} bytes per frame");

        let mut audio = AudioSource::default();
        assert!((0..100).all(|_| (90..=110).contains(&audio.next_frame(T).bytes.len())));
    }

    #[test]
    fn keyframe_request_is_honoured_but_not_on_every_frame() {
        let mut source = VideoSource::new(VideoLayer::Low);
        assert!(source.next_frame(T).keyframe);
        source.request_keyframe();
        let until_key = (1..).find(|_| source.next_frame(T).keyframe);
        assert_eq!(
            until_key,
            Some(10),
            "at most one requested key frame per 10 frames"
        );
        source.request_keyframe();
        assert!(!source.next_frame(T).keyframe);
    }

    #[test]
    fn lost_frame_makes_the_next_one_a_key_frame() {
        let mut source = VideoSource::new(VideoLayer::High);
        source.next_frame(T);
        assert!(!source.next_frame(T).keyframe);
        source.frame_lost();
        assert!(source.next_frame(T).keyframe);
    }

    #[test]
    fn intact_check_accepts_synthetic_frames_and_nothing_else() {
        let mut video = VideoSource::new(VideoLayer::Low);
        let mut audio = AudioSource::default();
        for _ in 0..3 {
            let frame = video.next_frame(T).bytes;
            assert!(is_intact(MediaKind::Video, &frame));
            assert!(!is_intact(MediaKind::Audio, &frame));
            let mut flipped = frame.clone();
            *flipped.last_mut().unwrap() ^= 1;
            assert!(!is_intact(MediaKind::Video, &flipped));
            assert!(!is_intact(MediaKind::Video, &frame[..frame.len() - 1]));

            let frame = audio.next_frame(T).bytes;
            assert!(is_intact(MediaKind::Audio, &frame));
            let mut flipped = frame.clone();
            flipped[40] ^= 0x80;
            assert!(!is_intact(MediaKind::Audio, &flipped));
        }
        assert!(!is_intact(MediaKind::Video, &[]));
        assert!(!is_intact(MediaKind::Audio, &[OPUS_TOC]));
        assert!(!is_intact(
            MediaKind::Video,
            &[0x50, 0, 0, 0x9d, 0x01, 0x2a]
        ));
    }
}
