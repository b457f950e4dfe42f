//! The recorder's core, sans-IO: fed the frames a member's client receives and decrypts, it
//! gives each stream a track and each frame its time in the recording, in recording order, for
//! [`mux`] to write into WebM as they are (no re-encoding). `sealroom record`
//! (`cli/record.rs`) is the thin async driver around it.
//!
//! ## Streams and tracks
//!
//! A stream is one sender's audio or one sender's video, the sender named by its MLS leaf (the
//! SFrame key id says which). Each stream whose media arrives becomes one track, in the order
//! their first recorded frame comes: VP8 for video, Opus for audio. A leaf that another
//! member takes after its holder left would carry on the same track; the timeline re-anchors
//! (below), but the track keeps the first holder's name in the report.
//!
//! ## Timestamps
//!
//! Milliseconds from the recording's start (when the group was told, before which nothing is
//! recorded): for each stream, (arrival of its first frame − the start) + (RTP time − its first
//! RTP time) at the stream's clock rate. The sender's RTP clock keeps each stream's own pacing
//! exact (jitter in arrival does not show), and the first arrival places the streams against
//! each other, within the network's jitter. A stream whose RTP time jumps away from what its
//! arrivals say by more than [`REANCHOR_MS`] (the sender restarted, a leaf changed hands) is
//! anchored again on the frame's arrival.
//!
//! WebM (libwebm) wants timestamps that never go back, across all tracks. Frames of different
//! streams come slightly out of that order (jitter, a burst of video packets), so they wait
//! [`REORDER_MS`] in a heap and leave it in time order; a frame later still, or one whose
//! stream's clock went back, takes the last time given out (a few milliseconds off rather than
//! lost).
//!
//! ## Key frames
//!
//! A video frame is a key frame when bit 0 of its first byte (the VP8 frame tag) is 0. A video
//! stream's frames before its first key frame are skipped (a decoder could not use them); the
//! media engine asks the SFU for a key frame meanwhile. Every Opus frame is a key frame.

pub mod mux;

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    time::Instant,
};

use serde::Serialize;

/// How long a frame waits to be put in time order with the other streams' frames.
pub const REORDER_MS: u64 = 1_500;

/// How far a stream's RTP time may run from its arrivals before it is anchored again.
pub const REANCHOR_MS: u64 = 5_000;

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// VP8.
    Video,
    /// Opus.
    Audio,
}

/// One frame as received and decrypted: the codec's encoded bytes.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The sender's MLS leaf index.
    pub sender: u32,
    /// Audio or video.
    pub kind: Kind,
    /// RTP time, in units of `clock_rate`, extended (no wrap).
    pub rtp_time: u64,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// When it arrived.
    pub arrived: Instant,
    /// The encoded frame.
    pub payload: Vec<u8>,
}

/// A frame placed in the recording: on which track, when, and whether a decoder can start at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedFrame {
    /// Index into [`Recorder::tracks`].
    pub track: usize,
    /// Milliseconds from the recording's start.
    pub timestamp_ms: u64,
    /// A key frame.
    pub keyframe: bool,
    /// The encoded frame, as received.
    pub payload: Vec<u8>,
}

/// One track of the recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Track {
    /// The sender's MLS leaf index.
    pub sender: u32,
    /// Audio or video.
    pub kind: Kind,
    /// Video: width and height from the first key frame (else 1280x720).
    pub width: u32,
    /// Video: height.
    pub height: u32,
    /// Audio: channels, from the first frame's Opus TOC byte.
    pub channels: u32,
    /// Frames recorded.
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// The first and last frame's time, in milliseconds from the start.
    pub first_ms: u64,
    /// The last.
    pub last_ms: u64,
}

/// A stream's timeline.
struct Stream {
    /// Milliseconds from the start to the arrival of the frame it is anchored on.
    origin_ms: u64,
    /// That frame's RTP time.
    origin_rtp: u64,
    /// The last time given to one of its frames.
    last_ms: u64,
    /// Its track, once a frame is recorded.
    track: Option<usize>,
}

/// What was dropped, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Video frames before their stream's first key frame.
    pub before_keyframe: u64,
    /// Frames that arrived before the recording started.
    pub before_start: u64,
    /// Frames of a new stream past the most tracks a WebM file takes.
    pub too_many_tracks: u64,
}

/// The most tracks libwebm writes (its track numbers are 1 to 126).
pub const MAX_TRACKS: usize = 126;

/// The recorder's core: frames in, timed frames out in recording order.
pub struct Recorder {
    start: Instant,
    streams: BTreeMap<(u32, Kind), Stream>,
    tracks: Vec<Track>,
    /// Frames waiting for their turn: (time, arrival order) first.
    waiting: BinaryHeap<Reverse<(u64, u64, Waiting)>>,
    arrivals: u64,
    /// The latest time of a frame taken in.
    newest_ms: u64,
    /// The time of the last frame given out.
    released_ms: u64,
    dropped: Dropped,
}

/// A frame in the heap (ordered by the tuple around it only).
#[derive(Debug)]
struct Waiting(TimedFrame);

impl PartialEq for Waiting {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Recorder {
    /// A recording that starts at `start`.
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            streams: BTreeMap::new(),
            tracks: Vec::new(),
            waiting: BinaryHeap::new(),
            arrivals: 0,
            newest_ms: 0,
            released_ms: 0,
            dropped: Dropped::default(),
        }
    }

    /// The tracks so far.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// What was dropped so far.
    pub fn dropped(&self) -> &Dropped {
        &self.dropped
    }

    /// Takes a frame in; returns the frames now due, in time order.
    pub fn push(&mut self, frame: Frame) -> Vec<TimedFrame> {
        let Some(arrived_ms) = frame
            .arrived
            .checked_duration_since(self.start)
            .map(|d| d.as_millis() as u64)
        else {
            self.dropped.before_start += 1;
            return Vec::new();
        };
        let keyframe = match frame.kind {
            Kind::Video => frame.payload.first().is_some_and(|tag| tag & 1 == 0),
            Kind::Audio => true,
        };
        let stream = self
            .streams
            .entry((frame.sender, frame.kind))
            .or_insert(Stream {
                origin_ms: arrived_ms,
                origin_rtp: frame.rtp_time,
                last_ms: arrived_ms,
                track: None,
            });
        let rate = u64::from(frame.clock_rate.max(1));
        let mut timestamp_ms =
            stream.origin_ms + frame.rtp_time.saturating_sub(stream.origin_rtp) * 1000 / rate;
        if timestamp_ms.abs_diff(arrived_ms) > REANCHOR_MS {
            stream.origin_ms = arrived_ms;
            stream.origin_rtp = frame.rtp_time;
            timestamp_ms = arrived_ms;
        }
        let timestamp_ms = timestamp_ms.max(stream.last_ms);
        stream.last_ms = timestamp_ms;
        let track = match stream.track {
            Some(track) => track,
            None if frame.kind == Kind::Video && !keyframe => {
                self.dropped.before_keyframe += 1;
                return Vec::new();
            }
            None if self.tracks.len() == MAX_TRACKS => {
                self.dropped.too_many_tracks += 1;
                return Vec::new();
            }
            None => {
                let track = self.tracks.len();
                stream.track = Some(track);
                self.tracks
                    .push(new_track(frame.sender, frame.kind, &frame.payload));
                track
            }
        };
        self.arrivals += 1;
        self.newest_ms = self.newest_ms.max(timestamp_ms);
        self.waiting.push(Reverse((
            timestamp_ms,
            self.arrivals,
            Waiting(TimedFrame {
                track,
                timestamp_ms,
                keyframe,
                payload: frame.payload,
            }),
        )));
        match self.newest_ms.checked_sub(REORDER_MS) {
            Some(until) => self.release(until),
            None => Vec::new(),
        }
    }

    /// The recording ends: every frame still waiting, in time order.
    pub fn finish(&mut self) -> Vec<TimedFrame> {
        self.release(u64::MAX)
    }

    /// The frames due up to `until`, in order, each no earlier than the one before.
    fn release(&mut self, until: u64) -> Vec<TimedFrame> {
        let mut due = Vec::new();
        while self
            .waiting
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= until)
        {
            let Some(Reverse((_, _, Waiting(mut frame)))) = self.waiting.pop() else {
                break;
            };
            frame.timestamp_ms = frame.timestamp_ms.max(self.released_ms);
            self.released_ms = frame.timestamp_ms;
            let track = &mut self.tracks[frame.track];
            if track.frames == 0 {
                track.first_ms = frame.timestamp_ms;
            }
            track.frames += 1;
            track.bytes += frame.payload.len() as u64;
            track.last_ms = frame.timestamp_ms;
            due.push(frame);
        }
        due
    }
}

/// A track for a stream's first recorded frame: a VP8 key frame's dimensions (RFC 6386 §9.1:
/// start code, then 14 bits of width and of height), an Opus TOC byte's stereo flag (RFC 6716
/// §3.1).
fn new_track(sender: u32, kind: Kind, first: &[u8]) -> Track {
    let (mut width, mut height, mut channels) = (1280, 720, 0);
    match kind {
        Kind::Video => {
            if let Some(header) = first.get(3..10)
                && header[..3] == [0x9d, 0x01, 0x2a]
            {
                let w = u32::from(u16::from_le_bytes([header[3], header[4]]) & 0x3fff);
                let h = u32::from(u16::from_le_bytes([header[5], header[6]]) & 0x3fff);
                if w > 0 && h > 0 {
                    (width, height) = (w, h);
                }
            }
        }
        Kind::Audio => {
            channels = if first.first().is_some_and(|toc| toc & 0b100 != 0) {
                2
            } else {
                1
            };
        }
    }
    Track {
        sender,
        kind,
        width,
        height,
        channels,
        frames: 0,
        bytes: 0,
        first_ms: 0,
        last_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const KEY: [u8; 10] = [0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xd0, 0x02];
    const DELTA: [u8; 3] = [0x11, 0, 0];

    fn frame(
        start: Instant,
        sender: u32,
        kind: Kind,
        at_ms: u64,
        rtp: u64,
        payload: &[u8],
    ) -> Frame {
        Frame {
            sender,
            kind,
            rtp_time: rtp,
            clock_rate: if kind == Kind::Video { 90_000 } else { 48_000 },
            arrived: start + Duration::from_millis(at_ms),
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn streams_are_timed_by_first_arrival_plus_rtp_time_and_come_out_in_order() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        let mut out = Vec::new();
        // Video from leaf 1 starts with a delta frame: skipped until its key frame.
        out.extend(recorder.push(frame(start, 1, Kind::Video, 100, 9_000, &DELTA)));
        out.extend(recorder.push(frame(start, 1, Kind::Video, 140, 12_000, &KEY)));
        // Audio from leaf 2 arrives first at 200 ms; its RTP time says 20 ms later, though
        // it came 35 ms later (jitter does not show).
        out.extend(recorder.push(frame(start, 2, Kind::Audio, 200, 1_000_000, &[0xfc, 1])));
        out.extend(recorder.push(frame(start, 2, Kind::Audio, 235, 1_000_960, &[0xfc, 2])));
        // A late video frame, 30 ms of RTP after the key frame, arriving after the audio.
        out.extend(recorder.push(frame(start, 1, Kind::Video, 240, 14_700, &DELTA)));
        assert!(out.is_empty(), "frames wait to be put in order: {out:?}");
        out.extend(recorder.finish());
        let timed: Vec<(usize, u64, bool)> = out
            .iter()
            .map(|f| (f.track, f.timestamp_ms, f.keyframe))
            .collect();
        // Leaf 1's video is anchored on its first frame (the skipped one) at 100 ms.
        assert_eq!(
            timed,
            [
                (0, 133, true),
                (0, 163, false),
                (1, 200, true),
                (1, 220, true)
            ]
        );
        let tracks = recorder.tracks();
        assert_eq!((tracks[0].width, tracks[0].height), (640, 720));
        assert_eq!((tracks[1].kind, tracks[1].channels), (Kind::Audio, 2));
        assert_eq!(recorder.dropped().before_keyframe, 1);
    }

    #[test]
    fn frames_leave_after_the_reorder_window_never_going_back() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        assert!(
            recorder
                .push(frame(start, 1, Kind::Audio, 1_000, 0, &[1]))
                .is_empty()
        );
        let due = recorder.push(frame(start, 1, Kind::Audio, 2_600, 76_800, &[2]));
        assert_eq!(due.len(), 1, "the first frame is due");
        // Another stream's frame, older than what left already, takes the last time.
        let late = recorder.push(frame(start, 2, Kind::Audio, 900, 5, &[3]));
        assert_eq!(
            late.iter()
                .map(|f| (f.track, f.timestamp_ms))
                .collect::<Vec<_>>(),
            [(1, 1_000)]
        );
        let rest = recorder.finish();
        assert_eq!(
            rest.iter().map(|f| f.timestamp_ms).collect::<Vec<_>>(),
            [2_600]
        );
        assert_eq!(recorder.dropped().before_start, 0);
        // Before the start: dropped.
        let mut recorder = Recorder::new(start + Duration::from_secs(1));
        assert!(
            recorder
                .push(frame(start, 1, Kind::Audio, 10, 0, &[1]))
                .is_empty()
        );
        assert_eq!(recorder.dropped().before_start, 1);
    }

    #[test]
    fn a_stream_whose_rtp_time_jumps_is_anchored_again() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        recorder.push(frame(start, 1, Kind::Audio, 0, 0, &[1]));
        recorder.push(frame(start, 1, Kind::Audio, 20, 48_000 * 3_600, &[2]));
        let times: Vec<u64> = recorder.finish().iter().map(|f| f.timestamp_ms).collect();
        assert_eq!(times, [0, 20]);
    }
}
