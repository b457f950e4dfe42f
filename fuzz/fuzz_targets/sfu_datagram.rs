//! The SFU (`sealroom_sfu::Sfu`) fed by its UDP port: after Alice (audio and simulcast
//! video) and Bob (audio) joined from real SDP offers and connected, inputs send
//! - arbitrary datagrams from a participant's address (routed to its connection: STUN, DTLS,
//!   SRTP parsing), from a stranger, or replays of real datagrams, mutated or not;
//! - arbitrary RTP packets through a client's real SRTP session (payload type, sequence
//!   number, timestamp, marker, and a payload the SFU reads the VP8 descriptor of);
//! - keyframe requests, time passing, a client vanishing, leaving, or a third one joining.
//!
//! It must never panic.

#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sealroom_fuzz::media::{MediaWorld, Publish};
use sealroom_fuzz::ops::{OpReader, OpWriter, mutate};
use sealroom_fuzz::seeds::{self, Seed};

/// Each operation may run the SFU through seconds of simulated time; inputs stay short.
const MAX_OPS: usize = 48;
const STRANGER: &str = "198.51.100.7:9999";

const OP_DATAGRAM: u8 = 0;
const OP_REPLAY: u8 = 1;
const OP_RTP: u8 = 2;
const OP_WAIT: u8 = 3;
const OP_KEYFRAME_REQUEST: u8 = 4;
const OP_VANISH: u8 = 5;
const OP_LEAVE: u8 = 6;
const OP_JOIN: u8 = 7;
const OPS: u8 = 8;

/// Flags of an RTP record.
const RTP_MARKER: u8 = 1;
const RTP_RAW_PT: u8 = 2;
/// The sequence number is a full 64-bit extended one (with a rollover counter).
const RTP_EXTENDED_SEQ: u8 = 4;

fuzz_target!(
    init: seeds::write_if_asked(seed_inputs),
    |data: &[u8]| run(data)
);

fn run(data: &[u8]) {
    let mut world = MediaWorld::connected_pair();
    let mut input = OpReader::new(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        match input.u8() % OPS {
            OP_DATAGRAM => {
                let source = address(&world, input.u8());
                world.inject(source, input.bytes());
            }
            OP_REPLAY => {
                let index = usize::from(input.u8());
                let from = input.u8();
                let mutation = input.bytes();
                if world.captured.is_empty() {
                    continue;
                }
                let (original, contents) = &world.captured[index % world.captured.len()];
                let source = if from == 0 {
                    *original
                } else {
                    address(&world, from)
                };
                let contents = mutate(contents, mutation);
                world.inject(source, &contents);
            }
            OP_RTP => {
                let client = usize::from(input.u8());
                let stream = usize::from(input.u8());
                let flags = input.u8();
                let pt = input.u8();
                let seq_no = if flags & RTP_EXTENDED_SEQ != 0 {
                    input.u64()
                } else {
                    u64::from(input.u16())
                };
                let time = input.u32();
                let payload = input.bytes();
                world.send_rtp(
                    client,
                    stream,
                    pt,
                    flags & RTP_RAW_PT != 0,
                    seq_no,
                    time,
                    flags & RTP_MARKER != 0,
                    payload,
                );
            }
            OP_WAIT => world.advance(Duration::from_millis(u64::from(input.u16()))),
            OP_KEYFRAME_REQUEST => {
                let client = usize::from(input.u8());
                let track = usize::from(input.u8());
                let full = input.u8() & 1 == 1;
                world.request_keyframe(client, track, full);
            }
            OP_VANISH => world.vanish(usize::from(input.u8())),
            OP_LEAVE => world.leave(usize::from(input.u8())),
            _ => {
                if world.clients.len() < 3 {
                    // Refused offers are fine; a panic is not.
                    let _ = world.join("carol", Publish::Audio);
                }
            }
        }
    }
}

/// A source address: one of the clients', or a stranger's.
fn address(world: &MediaWorld, choice: u8) -> SocketAddr {
    world
        .clients
        .get(usize::from(choice % 4))
        .map(|c| c.addr)
        .unwrap_or_else(|| STRANGER.parse().expect("valid address"))
}

/// An RTP record.
#[allow(clippy::too_many_arguments)]
fn rtp(
    input: OpWriter,
    client: u8,
    stream: u8,
    flags: u8,
    pt: u8,
    seq_no: u16,
    time: u32,
    payload: &[u8],
) -> OpWriter {
    input
        .u8(OP_RTP)
        .u8(client)
        .u8(stream)
        .u8(flags)
        .u8(pt)
        .u16(seq_no)
        .u32(time)
        .bytes(payload)
}

/// A VP8 RTP payload: payload descriptor (start of partition, 15-bit PictureID) and the frame
/// tag a Sealroom client leaves clear, then bytes that stand for SFrame ciphertext.
fn vp8(picture_id: u16, keyframe: bool) -> Vec<u8> {
    let [high, low] = (picture_id | 0x8000).to_be_bytes();
    let mut payload = vec![0x90, 0x80, high, low];
    if keyframe {
        payload.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    } else {
        payload.extend_from_slice(&[0x11, 0x00, 0x00]);
    }
    payload.extend_from_slice(&[0xa5; 40]);
    payload
}

fn seed_inputs() -> Vec<Seed> {
    // Alice's streams: 0 audio, 1 video layer "l", 2 video layer "h".
    let mut media = OpWriter::new();
    for n in 0..3u16 {
        let time = u32::from(n) * 3000;
        media = rtp(media, 0, 1, RTP_MARKER, 0, 100 + n, time, &vp8(n, n == 0));
        media = rtp(media, 0, 2, RTP_MARKER, 0, 500 + n, time, &vp8(n, n == 0));
        media = rtp(media, 0, 0, 0, 0, 900 + n, u32::from(n) * 960, &[0xfc; 60]);
        media = rtp(media, 1, 0, 0, 0, 7 + n, u32::from(n) * 960, &[0x78; 40]);
        media = media.u8(OP_WAIT).u16(33);
    }
    media = media.u8(OP_KEYFRAME_REQUEST).u8(1).u8(1).u8(0);
    media = media.u8(OP_WAIT).u16(500);
    // A switch to the low layer's non-keyframes, a packet with an unknown payload type, and
    // one with a large sequence-number jump.
    media = rtp(media, 0, 1, RTP_MARKER, 0, 104, 12_000, &vp8(4, false));
    media = rtp(media, 0, 1, RTP_RAW_PT, 13, 105, 12_000, &vp8(5, false));
    media = rtp(media, 0, 2, 0, 0, 40_000, 15_000, &vp8(6, false));

    let mut garbage = OpWriter::new();
    for contents in [
        &[][..],
        &[0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42],
        &[0x16, 0xfe, 0xfd, 0x00, 0x00, 0xff],
        &[
            0x17, 0xfe, 0xfd, 0x00, 0x01, 0, 0, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4,
        ],
        &[0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2],
        &[0x81, 0xc8, 0x00, 0x01],
        &[0x8f, 0xce, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2],
    ] {
        garbage = garbage.u8(OP_DATAGRAM).u8(0).bytes(contents);
        garbage = garbage.u8(OP_DATAGRAM).u8(3).bytes(contents);
    }

    // Real datagrams again: from where they came (SRTP replays, STUN checks), from a
    // stranger (a valid STUN check moves the participant's route), and with a bit flipped.
    let mut replay = OpWriter::new();
    for index in [0u8, 5, 17, 31] {
        replay = replay.u8(OP_REPLAY).u8(index).u8(0).bytes(&[]);
        replay = replay.u8(OP_REPLAY).u8(index).u8(3).bytes(&[]);
        replay = replay.u8(OP_REPLAY).u8(index).u8(0).bytes(&[0, 20, 0x40]);
    }
    replay = rtp(replay, 0, 1, RTP_MARKER, 0, 1, 0, &vp8(0, true));

    let mut churn = OpWriter::new().u8(OP_JOIN);
    churn = churn.u8(OP_WAIT).u16(300);
    churn = rtp(churn, 0, 2, RTP_MARKER, 0, 1, 0, &vp8(0, true));
    churn = churn.u8(OP_LEAVE).u8(0);
    churn = rtp(churn, 0, 1, RTP_MARKER, 0, 2, 0, &vp8(1, true));
    churn = churn.u8(OP_VANISH).u8(1);
    churn = churn.u8(OP_WAIT).u16(20_000).u8(OP_WAIT).u16(20_000);

    vec![
        ("media", media.finish()),
        ("garbage-from-alice", garbage.finish()),
        ("replayed-datagrams", replay.finish()),
        ("join-leave-vanish", churn.finish()),
    ]
}
