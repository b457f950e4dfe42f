//! One receiver's view of one published track: which layer it gets and how that layer's RTP
//! is renumbered so the receiver sees one continuous stream.
//!
//! Only RTP headers and, for VP8, the payload descriptor's PictureID and TL0PICIDX are
//! rewritten. The payload bytes after the descriptor (the SFrame-protected frame) are never
//! read except for the VP8 frame tag's keyframe bit, which the client leaves in the clear.

use std::time::Instant;

use str0m::media::MediaKind;
use str0m::rtp::{SeqNo, Vp8Descriptor, Vp8Patch};

use crate::track::LayerId;

/// The parts of an incoming packet the forwarder decides on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketView<'a> {
    pub layer: LayerId,
    pub seq_no: SeqNo,
    pub timestamp: u32,
    pub clock_rate: u32,
    pub arrival: Instant,
    /// Payload bytes, read only for the VP8 payload descriptor.
    pub payload: &'a [u8],
    /// VP8 payload descriptor, for VP8 packets whose descriptor parses.
    pub vp8: Option<Vp8Descriptor>,
}

impl PacketView<'_> {
    /// Whether a receiver can start decoding at this packet: the first packet of a keyframe.
    fn starts_keyframe(&self) -> bool {
        self.vp8.is_some_and(|d| d.starts_keyframe(self.payload))
    }
}

/// Header values for the outgoing copy of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewrite {
    pub seq_no: SeqNo,
    pub timestamp: u32,
    pub vp8_patch: Option<Vp8Patch>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Send the packet with these header values.
    pub forward: Option<Rewrite>,
    /// The receiver waits for a keyframe on this layer.
    pub wants_keyframe: Option<LayerId>,
}

#[derive(Debug)]
pub(crate) struct Forwarder {
    kind: MediaKind,
    /// The layer being forwarded; `None` until the first keyframe (first packet for audio).
    current: Option<LayerId>,
    /// First packet forwarded from the current layer: older ones belong to frames the
    /// receiver never got the start of.
    layer_start: SeqNo,
    seq_offset: i64,
    timestamp_offset: u32,
    picture_id_offset: u16,
    tl0_pic_idx_offset: u8,
    newest: Option<Sent>,
}

/// The newest packet sent to this receiver, where the next layer continues from.
#[derive(Debug, Clone, Copy)]
struct Sent {
    seq_no: u64,
    timestamp: u32,
    arrival: Instant,
    picture_id: Option<u16>,
    tl0_pic_idx: Option<u8>,
}

/// Packets further behind the start of the forwarded stream than this are not reordered
/// but from a restarted stream.
const MAX_REORDER: u64 = 1000;

const PICTURE_ID_15_BIT: u16 = 0x7fff;
const PICTURE_ID_7_BIT: u16 = 0x7f;

impl Forwarder {
    pub fn new(kind: MediaKind) -> Self {
        Forwarder {
            kind,
            current: None,
            layer_start: SeqNo::from(0),
            seq_offset: 0,
            timestamp_offset: 0,
            picture_id_offset: 0,
            tl0_pic_idx_offset: 0,
            newest: None,
        }
    }

    /// The layer being forwarded, if any.
    pub fn current(&self) -> Option<LayerId> {
        self.current
    }

    /// Stops forwarding until the track resumes: the next packet the receiver gets is a
    /// fresh start (a keyframe for video) that continues its numbering without a gap, as a
    /// layer switch does. For a track a moderation control withholds: the receiver must not
    /// NACK the packets it was never meant to get, nor decode across the pause.
    pub fn restart(&mut self) {
        self.current = None;
    }

    /// Decides about one incoming packet given the layer the receiver should get.
    /// Video moves to `target` only at a keyframe, so the receiver never gets a frame it
    /// cannot decode; until then it keeps the layer it has.
    pub fn decide(&mut self, packet: &PacketView<'_>, target: LayerId) -> Decision {
        let video = self.kind.is_video();
        let can_start = !video || packet.starts_keyframe();
        let forward = if self.current == Some(packet.layer) {
            if packet.seq_no >= self.layer_start {
                Some(self.rewrite(packet))
            } else if *self.layer_start - *packet.seq_no > MAX_REORDER && can_start {
                // Far behind: the publisher restarted the stream (new SSRC, numbering
                // from scratch), not a late packet. Continue from here.
                self.switch_to(packet);
                Some(self.rewrite(packet))
            } else {
                None
            }
        } else if packet.layer == target && can_start {
            self.switch_to(packet);
            Some(self.rewrite(packet))
        } else {
            None
        };
        let wants_keyframe = (video && self.current != Some(target)).then_some(target);
        Decision {
            forward,
            wants_keyframe,
        }
    }

    /// Continues the outgoing numbering from the newest packet sent, at `packet`.
    fn switch_to(&mut self, packet: &PacketView<'_>) {
        let in_seq = *packet.seq_no;
        // Start below 2^15 like a fresh RTP sender so the receiver's SRTP rollover counter
        // starts at 0 whatever the publisher's stream has reached.
        let out_seq = self
            .newest
            .map_or(u64::from(packet.seq_no.as_u16() & 0x7fff).max(1), |n| {
                n.seq_no + 1
            });
        self.seq_offset = out_seq as i64 - in_seq as i64;

        // The new layer's clock has its own random base: continue the receiver's clock by
        // the wall time elapsed since the last packet, at least one tick.
        let out_timestamp = self.newest.map_or(packet.timestamp, |n| {
            let elapsed = packet.arrival.saturating_duration_since(n.arrival);
            let ticks = elapsed.as_micros() * u128::from(packet.clock_rate) / 1_000_000;
            n.timestamp
                .wrapping_add(u32::try_from(ticks).unwrap_or(u32::MAX).max(1))
        });
        self.timestamp_offset = out_timestamp.wrapping_sub(packet.timestamp);

        // VP8 receivers track frames by PictureID; a keyframe continues the sequence.
        self.picture_id_offset = 0;
        self.tl0_pic_idx_offset = 0;
        if let Some(d) = packet.vp8 {
            if let (Some(pid), Some(newest)) =
                (d.picture_id(), self.newest.and_then(|n| n.picture_id))
            {
                self.picture_id_offset = newest.wrapping_add(1).wrapping_sub(pid);
            }
            if let (Some(idx), Some(newest)) =
                (d.tl0_pic_idx(), self.newest.and_then(|n| n.tl0_pic_idx))
            {
                self.tl0_pic_idx_offset = newest.wrapping_add(1).wrapping_sub(idx);
            }
        }

        self.current = Some(packet.layer);
        self.layer_start = packet.seq_no;
    }

    fn rewrite(&mut self, packet: &PacketView<'_>) -> Rewrite {
        // layer_start ≤ seq_no, and the offset maps layer_start to at least 1.
        let out_seq = (*packet.seq_no as i64 + self.seq_offset) as u64;
        let timestamp = packet.timestamp.wrapping_add(self.timestamp_offset);

        let mut picture_id = None;
        let mut tl0_pic_idx = None;
        let mut vp8_patch = None;
        if let Some(d) = packet.vp8 {
            let mask = if picture_id_is_15_bit(packet.payload) {
                PICTURE_ID_15_BIT
            } else {
                PICTURE_ID_7_BIT
            };
            picture_id = d
                .picture_id()
                .map(|p| p.wrapping_add(self.picture_id_offset) & mask);
            tl0_pic_idx = d
                .tl0_pic_idx()
                .map(|i| i.wrapping_add(self.tl0_pic_idx_offset));
            if self.picture_id_offset != 0 || self.tl0_pic_idx_offset != 0 {
                let mut patch = d.patch();
                if let Some(p) = picture_id {
                    patch = patch.picture_id(p);
                }
                if let Some(i) = tl0_pic_idx {
                    patch = patch.tl0_pic_idx(i);
                }
                // Cannot fail: the fields exist and the values are masked to their width.
                vp8_patch = patch.build().ok();
            }
        }

        if self.newest.is_none_or(|n| out_seq > n.seq_no) {
            self.newest = Some(Sent {
                seq_no: out_seq,
                timestamp,
                arrival: packet.arrival,
                picture_id,
                tl0_pic_idx,
            });
        }

        Rewrite {
            seq_no: SeqNo::from(out_seq),
            timestamp,
            vp8_patch,
        }
    }
}

/// RFC 7741 §4.2: X bit, then I bit, then the M bit of the PictureID says 15 bits.
fn picture_id_is_15_bit(payload: &[u8]) -> bool {
    matches!(payload, [x, i, m, ..] if x & 0x80 != 0 && i & 0x80 != 0 && m & 0x80 != 0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use str0m::media::Rid;

    use super::*;

    /// A VP8 packet: descriptor with 15-bit PictureID, then a frame tag (keyframe or not).
    fn vp8_payload(start: bool, key: bool, picture_id: u16) -> Vec<u8> {
        let s = if start { 0x10 } else { 0x00 };
        let tag = if key { 0x10 } else { 0x11 };
        vec![
            0x80 | s,
            0x80,
            0x80 | (picture_id >> 8) as u8,
            picture_id as u8,
            tag,
            0xaa,
            0xbb,
        ]
    }

    fn view<'a>(layer: &str, seq: u64, ts: u32, at: Instant, payload: &'a [u8]) -> PacketView<'a> {
        PacketView {
            layer: Some(Rid::from(layer)),
            seq_no: SeqNo::from(seq),
            timestamp: ts,
            clock_rate: 90_000,
            arrival: at,
            payload,
            vp8: Vp8Descriptor::parse(payload).ok(),
        }
    }

    #[test]
    fn video_starts_at_a_keyframe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(MediaKind::Video);
        let h = Some(Rid::from("h"));

        let delta = vp8_payload(true, false, 10);
        let d = f.decide(&view("h", 100, 1000, t0, &delta), h);
        assert_eq!(d.forward, None);
        assert_eq!(d.wants_keyframe, Some(h));

        let key = vp8_payload(true, true, 11);
        let d = f.decide(&view("h", 101, 4000, t0, &key), h);
        let first = d.forward.expect("keyframe is forwarded");
        assert_eq!(d.wants_keyframe, None);
        assert_eq!(*first.seq_no, 101);
        assert_eq!(first.timestamp, 4000);
        assert_eq!(
            first.vp8_patch, None,
            "nothing to renumber on the first layer"
        );

        // An older packet of the same layer belongs to a frame the receiver never started.
        assert_eq!(f.decide(&view("h", 100, 1000, t0, &delta), h).forward, None);
    }

    #[test]
    fn layer_switch_waits_for_keyframe_and_continues_numbering() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(MediaKind::Video);
        let (l, h) = (Some(Rid::from("l")), Some(Rid::from("h")));

        let key_h = vp8_payload(true, true, 500);
        let sent = f.decide(&view("h", 7000, 90_000, t0, &key_h), h).forward;
        assert_eq!(sent.map(|r| *r.seq_no), Some(7000));

        // Target drops to l: h keeps flowing until l's keyframe.
        let t1 = t0 + Duration::from_millis(100);
        let delta_l = vp8_payload(true, false, 20);
        let d = f.decide(&view("l", 300, 5_000, t1, &delta_l), l);
        assert_eq!((d.forward, d.wants_keyframe), (None, Some(l)));
        let delta_h = vp8_payload(true, false, 501);
        let d = f.decide(&view("h", 7001, 93_000, t1, &delta_h), l);
        assert_eq!(d.forward.map(|r| *r.seq_no), Some(7001));
        assert_eq!(f.current(), Some(h));

        let t2 = t0 + Duration::from_millis(200);
        let key_l = vp8_payload(true, true, 21);
        let d = f.decide(&view("l", 301, 6_000, t2, &key_l), l);
        let switched = d.forward.expect("switch at l's keyframe");
        assert_eq!(*switched.seq_no, 7002, "sequence continues");
        // 100 ms after the last h packet at 90 kHz.
        assert_eq!(switched.timestamp, 93_000 + 9_000);
        assert!(switched.vp8_patch.is_some(), "PictureID continues from 501");
        assert_eq!(f.current(), Some(l));

        // h is no longer forwarded.
        let d = f.decide(&view("h", 7002, 96_000, t2, &delta_h), l);
        assert_eq!(d.forward, None);
        // l continues with the same offsets.
        let d = f.decide(&view("l", 302, 9_000, t2, &delta_l), l);
        let next = d.forward.expect("l continues");
        assert_eq!((*next.seq_no, next.timestamp), (7003, 105_000));
    }

    #[test]
    fn restarted_stream_is_picked_up_at_its_next_keyframe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(MediaKind::Video);
        let h = Some(Rid::from("h"));
        let key = vp8_payload(true, true, 1);
        let delta = vp8_payload(true, false, 2);
        let first = f.decide(&view("h", 60_000, 0, t0, &key), h).forward;
        assert_eq!(first.map(|r| *r.seq_no), Some(60_000 & 0x7fff));

        // The publisher starts again from sequence number 10.
        let t1 = t0 + Duration::from_millis(40);
        assert_eq!(f.decide(&view("h", 10, 500, t1, &delta), h).forward, None);
        let again = f.decide(&view("h", 11, 500, t1, &key), h).forward;
        assert_eq!(again.map(|r| *r.seq_no), Some((60_000 & 0x7fff) + 1));
        let next = f.decide(&view("h", 12, 3500, t1, &delta), h).forward;
        assert_eq!(next.map(|r| *r.seq_no), Some((60_000 & 0x7fff) + 2));
    }

    #[test]
    fn restart_resumes_at_a_keyframe_without_a_gap() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(MediaKind::Video);
        let h = Some(Rid::from("h"));
        let key = vp8_payload(true, true, 40);
        let first = f.decide(&view("h", 500, 0, t0, &key), h).forward;
        assert_eq!(first.map(|r| *r.seq_no), Some(500));
        f.restart();

        // Packets 501..=600 were withheld; a delta frame cannot resume.
        let t1 = t0 + Duration::from_secs(1);
        let delta = vp8_payload(true, false, 141);
        let d = f.decide(&view("h", 601, 90_000, t1, &delta), h);
        assert_eq!((d.forward, d.wants_keyframe), (None, Some(h)));
        let key = vp8_payload(true, true, 142);
        let resumed = f.decide(&view("h", 602, 93_000, t1, &key), h);
        let resumed = resumed.forward.expect("resumes at a keyframe");
        assert_eq!(*resumed.seq_no, 501, "no gap for the receiver to NACK");
        assert_eq!(resumed.timestamp, 90_000, "one second later at 90 kHz");
        assert!(resumed.vp8_patch.is_some(), "PictureID continues from 40");
    }

    #[test]
    fn audio_needs_no_keyframe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(MediaKind::Audio);
        let opus = [0x78u8, 1, 2, 3];
        let packet = PacketView {
            layer: None,
            seq_no: SeqNo::from(70_000),
            timestamp: 960,
            clock_rate: 48_000,
            arrival: t0,
            payload: &opus,
            vp8: None,
        };
        let d = f.decide(&packet, None);
        let out = d.forward.expect("audio is forwarded at once");
        assert_eq!(d.wants_keyframe, None);
        assert_eq!(
            out.seq_no.roc(),
            0,
            "receiver's rollover counter starts at 0"
        );
        assert_eq!(out.seq_no.as_u16(), 70_000u64 as u16 & 0x7fff);
    }

    #[test]
    fn picture_id_width_is_read_from_the_m_bit() {
        assert!(picture_id_is_15_bit(&vp8_payload(true, true, 300)));
        assert!(!picture_id_is_15_bit(&[0x90, 0x80, 0x05, 0x10]));
        assert!(!picture_id_is_15_bit(&[0x10, 0x10]));
    }
}
