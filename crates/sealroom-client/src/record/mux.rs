//! Where the recorder's timed frames go: a spool while the meeting goes on, then a WebM file.
//!
//! ## Why a spool, and what is on disk when
//!
//! libwebm writes a track list once, before the first frame, and cannot add a track later:
//! not in its seekable file mode, and not in its live mode either. A member who joins, or
//! turns the camera on, halfway through the meeting brings a new track. So while the meeting
//! goes on, frames go in recording order to a *spool* in the output directory (`.<id>.spool`,
//! mode 0600), sealed as it is written with the e2ee crate's chunked AEAD (`SRF1`) under a key
//! that lives in the recorder's memory only: the disk never holds a frame in the clear, and a
//! spool left behind by a crash is unreadable noise. When the recording stops, the tracks are
//! known: the spool is read back once into a WebM file in libwebm's file mode
//! (`.<id>.webm`, mode 0600: it seeks back to write sizes, cues and the duration, so a player
//! can seek and tools read the duration), which is then encrypted to the owners into
//! `<id>.srr`. That temporary WebM is the only plaintext that touches the disk, for the
//! seconds the muxing and encryption take; both temporary files are removed whatever happens.
//!
//! libwebm's live mode would stream the WebM straight into the encryption, but it has no
//! duration, no cues and, above all, no tracks after the first frame.
//!
//! The WebM tracks have no names (the `webm` crate does not set Matroska's `Name`): the
//! recorder's report lists which participant each track is, in track order.

use std::io::{Read, Seek, Write};

use sealroom_e2ee::{FileDecryptor, FileEncryptor, FileKey};
use webm::mux::{AudioCodecId, SegmentBuilder, SegmentMode, VideoCodecId, Writer};

use super::{Kind, TimedFrame, Track};

/// What binds a spool's chunks to their purpose.
const SPOOL_CONTEXT: &[u8] = b"sealroom recorder spool v1";

/// A spool record's header: track (2), time in ms (8), key frame (1), length (4).
const RECORD_HEADER: usize = 15;

/// Why the spool or the WebM failed.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// The spool could not be sealed or opened.
    #[error("spool: {0}")]
    Spool(String),
    /// libwebm refused.
    #[error("WebM: {0}")]
    Webm(String),
    /// Nothing was received: there is nothing to write.
    #[error("no media was received: there is no recording to write")]
    Empty,
}

/// Seals timed frames for the spool; the key stays with the reader to be.
pub struct SpoolWriter {
    sealer: FileEncryptor,
}

/// Opens what a [`SpoolWriter`] sealed.
pub struct SpoolReader {
    opener: FileDecryptor,
    pending: Vec<u8>,
}

/// A spool under a fresh key: its writer, and its reader for when the recording stops.
pub fn spool() -> Result<(SpoolWriter, SpoolReader), MuxError> {
    let key = FileKey::generate().map_err(|e| MuxError::Spool(e.to_string()))?;
    let sealer =
        FileEncryptor::with_key(&key, SPOOL_CONTEXT).map_err(|e| MuxError::Spool(e.to_string()))?;
    let opener = FileDecryptor::open_ended(&key, SPOOL_CONTEXT);
    Ok((
        SpoolWriter { sealer },
        SpoolReader {
            opener,
            pending: Vec::new(),
        },
    ))
}

impl SpoolWriter {
    /// A frame's record, sealed: the bytes to append to the spool (often none until a whole
    /// chunk is in).
    pub fn write(&mut self, frame: &TimedFrame) -> Result<Vec<u8>, MuxError> {
        let mut record = Vec::with_capacity(RECORD_HEADER + frame.payload.len());
        let track = u16::try_from(frame.track).map_err(|_| MuxError::Spool("track".into()))?;
        let len = u32::try_from(frame.payload.len()).map_err(|_| MuxError::Spool("size".into()))?;
        record.extend_from_slice(&track.to_be_bytes());
        record.extend_from_slice(&frame.timestamp_ms.to_be_bytes());
        record.push(u8::from(frame.keyframe));
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(&frame.payload);
        self.sealer
            .update(&record)
            .map_err(|e| MuxError::Spool(e.to_string()))
    }

    /// The spool's last bytes.
    pub fn finish(self) -> Result<Vec<u8>, MuxError> {
        self.sealer
            .finish()
            .map(|(last, _)| last)
            .map_err(|e| MuxError::Spool(e.to_string()))
    }
}

impl SpoolReader {
    /// Reads a whole spool: every frame in it, in order, to `each`.
    pub fn read_all(
        self,
        mut spool: impl Read,
        mut each: impl FnMut(TimedFrame) -> Result<(), MuxError>,
    ) -> Result<(), MuxError> {
        let Self {
            mut opener,
            mut pending,
        } = self;
        let spool_error = |e: &dyn std::fmt::Display| MuxError::Spool(e.to_string());
        let mut buf = vec![0; 256 * 1024];
        loop {
            let n = spool.read(&mut buf).map_err(|e| spool_error(&e))?;
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&opener.update(&buf[..n]).map_err(|e| spool_error(&e))?);
            drain(&mut pending, &mut each)?;
        }
        pending.extend_from_slice(&opener.finish_open_ended().map_err(|e| spool_error(&e))?);
        drain(&mut pending, &mut each)?;
        if !pending.is_empty() {
            return Err(MuxError::Spool("the spool ends inside a frame".into()));
        }
        Ok(())
    }
}

/// Hands on every whole record at the start of `pending`, and removes them.
fn drain(
    pending: &mut Vec<u8>,
    each: &mut impl FnMut(TimedFrame) -> Result<(), MuxError>,
) -> Result<(), MuxError> {
    let mut at = 0;
    while let Some(header) = pending.get(at..at + RECORD_HEADER) {
        let len = u32::from_be_bytes(header[11..15].try_into().expect("4 bytes")) as usize;
        let Some(payload) = pending.get(at + RECORD_HEADER..at + RECORD_HEADER + len) else {
            break;
        };
        each(TimedFrame {
            track: usize::from(u16::from_be_bytes([header[0], header[1]])),
            timestamp_ms: u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
            keyframe: header[10] != 0,
            payload: payload.to_vec(),
        })?;
        at += RECORD_HEADER + len;
    }
    pending.drain(..at);
    Ok(())
}

/// Opus's identification header (RFC 7845 §5.1), Matroska's `CodecPrivate` for `A_OPUS`: no
/// pre-skip (the recording starts mid-stream), 48 kHz, no gain, mapping family 0.
fn opus_head(channels: u32) -> [u8; 19] {
    let mut head = [0; 19];
    head[..8].copy_from_slice(b"OpusHead");
    head[8] = 1;
    head[9] = u8::try_from(channels).unwrap_or(2);
    head[12..16].copy_from_slice(&48_000u32.to_le_bytes());
    head
}

/// Writes WebM: one VP8 or Opus track per [`Track`], then the frames as they are.
pub struct WebmWriter<W: Write + Seek> {
    segment: webm::mux::Segment<W>,
    numbers: Vec<u64>,
    frames: u64,
}

impl<W: Write + Seek> WebmWriter<W> {
    /// A WebM file with these tracks (at least one), in their order.
    pub fn new(out: W, tracks: &[Track]) -> Result<Self, MuxError> {
        if tracks.is_empty() {
            return Err(MuxError::Empty);
        }
        let webm = |e: webm::mux::Error| MuxError::Webm(e.to_string());
        let mut builder = SegmentBuilder::new(Writer::new(out))
            .map_err(webm)?
            .set_mode(SegmentMode::File)
            .map_err(webm)?
            .set_writing_app("sealroom record")
            .map_err(webm)?;
        let mut numbers = Vec::with_capacity(tracks.len());
        for track in tracks {
            let number = match track.kind {
                Kind::Video => {
                    let (next, video) = builder
                        .add_video_track(track.width, track.height, VideoCodecId::VP8, None)
                        .map_err(webm)?;
                    builder = next;
                    u64::from(video)
                }
                Kind::Audio => {
                    let (next, audio) = builder
                        .add_audio_track(48_000, track.channels.max(1), AudioCodecId::Opus, None)
                        .map_err(webm)?;
                    builder = next
                        .set_codec_private(audio, &opus_head(track.channels.max(1)))
                        .map_err(webm)?;
                    u64::from(audio)
                }
            };
            numbers.push(number);
        }
        Ok(Self {
            segment: builder.build(),
            numbers,
            frames: 0,
        })
    }

    /// The next frame, no earlier than the one before.
    pub fn add(&mut self, frame: &TimedFrame) -> Result<(), MuxError> {
        let number = *self
            .numbers
            .get(frame.track)
            .ok_or_else(|| MuxError::Webm(format!("no track {}", frame.track)))?;
        self.segment
            .add_frame(
                number,
                &frame.payload,
                frame.timestamp_ms * 1_000_000,
                frame.keyframe,
            )
            .map_err(|e| MuxError::Webm(e.to_string()))?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the cues, sizes and duration; returns the output.
    pub fn finish(self) -> Result<W, MuxError> {
        if self.frames == 0 {
            return Err(MuxError::Empty);
        }
        self.segment
            .finalize(None)
            .map(Writer::into_inner)
            .map_err(|_| MuxError::Webm("finalizing the segment failed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(track: usize, timestamp_ms: u64, keyframe: bool, len: usize) -> TimedFrame {
        TimedFrame {
            track,
            timestamp_ms,
            keyframe,
            payload: vec![track as u8; len],
        }
    }

    #[test]
    fn a_spool_gives_back_its_frames_and_holds_none_in_the_clear() {
        let (mut writer, reader) = spool().unwrap();
        let frames: Vec<TimedFrame> = (0..200)
            .map(|i| timed(i % 3, i as u64 * 7, i % 10 == 0, 1_000 + i))
            .collect();
        let mut sealed = Vec::new();
        for frame in &frames {
            sealed.extend(writer.write(frame).unwrap());
        }
        sealed.extend(writer.finish().unwrap());
        assert!(
            !sealed.windows(64).any(|w| w.iter().all(|&b| b == 2)),
            "a frame shows in the spool"
        );
        let mut back = Vec::new();
        reader
            .read_all(&sealed[..], |frame| {
                back.push(frame);
                Ok(())
            })
            .unwrap();
        assert_eq!(back, frames);
    }

    #[test]
    fn a_webm_starts_with_ebml_and_names_its_codecs() {
        let tracks = [
            Track {
                sender: 1,
                kind: Kind::Video,
                width: 1280,
                height: 720,
                channels: 0,
                frames: 0,
                bytes: 0,
                first_ms: 0,
                last_ms: 0,
            },
            Track {
                sender: 1,
                kind: Kind::Audio,
                width: 0,
                height: 0,
                channels: 1,
                frames: 0,
                bytes: 0,
                first_ms: 0,
                last_ms: 0,
            },
        ];
        let mut writer = WebmWriter::new(std::io::Cursor::new(Vec::new()), &tracks).unwrap();
        for i in 0..50 {
            writer.add(&timed(i % 2, i as u64 * 20, true, 100)).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        assert_eq!(bytes[..4], [0x1a, 0x45, 0xdf, 0xa3], "EBML magic");
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"V_VP8") && has(b"A_OPUS") && has(b"OpusHead"));
        assert!(matches!(
            WebmWriter::new(std::io::Cursor::new(Vec::new()), &[]),
            Err(MuxError::Empty)
        ));
    }
}
