//! SFrame (RFC 9605) as a peer or the SFU can feed it: wire frames into
//! `MediaKeyring::unprotect` of a receiver holding a current and a previous epoch, checked
//! against a model of which (epoch, sender, CTR) the keyring may accept.
//!
//! The input is a cipher-suite byte, then operations:
//! - arbitrary wire bytes (also through `Header::decode`, which must round-trip);
//! - a frame forged with a real key for any sender, epoch and CTR: its fate is fully
//!   predicted by the model (accepted, replayed, too old, reflected, unknown or expired epoch);
//! - `protect` of arbitrary plaintext and clear prefix by a real sender, then `unprotect`,
//!   which must give back the frame, after a tampered copy of it was refused;
//! - time passing and new epochs.

#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sealroom_e2ee::sframe::{
    CipherSuite, DEFAULT_GRACE, EPOCH_BITS, Header, MediaKeyring, REPLAY_WINDOW, SframeError,
    SframeKey, mls_kid,
};
use sealroom_fuzz::ops::{OpReader, OpWriter};
use sealroom_fuzz::seeds::{self, Seed};

/// The receiver under test sends as this leaf; the honest sender is leaf 0.
const RECEIVER: u32 = 1;
const SENDER: u32 = 0;
const START: Duration = Duration::from_secs(1_000);
const FIRST_EPOCH: u64 = 6;
/// At most this many operations per input, so no input runs long.
const MAX_OPS: usize = 256;

const OP_RAW: u8 = 0;
const OP_FORGE: u8 = 1;
const OP_ROUND_TRIP: u8 = 2;
const OP_WAIT: u8 = 3;
const OP_NEW_EPOCH: u8 = 4;
const OP_EXPIRE: u8 = 5;
const OPS: u8 = 6;

fuzz_target!(
    init: seeds::write_if_asked(seed_inputs),
    |data: &[u8]| run(data)
);

fn run(data: &[u8]) {
    let mut input = OpReader::new(data);
    let suite = CipherSuite::ALL[usize::from(input.u8()) % CipherSuite::ALL.len()];
    let mut world = World::new(suite);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        match input.u8() % OPS {
            OP_RAW => {
                let wire = input.bytes();
                check_header(wire);
                world.receive_unknown(wire);
            }
            OP_FORGE => {
                let sender = u32::from(input.u8());
                let epoch_choice = input.u8();
                let ctr = input.u64();
                let prefix_len = input.u8();
                let frame = input.bytes();
                world.receive_forged(sender, epoch_choice, ctr, prefix_len, frame);
            }
            OP_ROUND_TRIP => {
                let prefix_len = usize::from(input.u8());
                let tamper_at = usize::from(input.u16());
                let tamper_with = input.u8();
                let frame = input.bytes();
                world.round_trip(prefix_len, frame, tamper_at, tamper_with);
            }
            OP_WAIT => world.now += Duration::from_millis(u64::from(input.u16())),
            OP_NEW_EPOCH => world.new_epoch(input.u8() & 1 == 1),
            _ => {
                world.receiver.expire(world.now);
                world.model.expire(world.now);
            }
        }
    }
}

/// A header that decodes is canonical: it encodes to exactly the bytes it came from.
fn check_header(bytes: &[u8]) {
    if let Ok((header, len)) = Header::decode(bytes) {
        assert_eq!(header.encoded_len(), len);
        assert_eq!(header.encode(), bytes[..len], "{header:?}");
    }
}

/// The base key of an epoch: deterministic, so committed seed frames decrypt.
fn base_key(suite: CipherSuite, epoch: u64) -> Vec<u8> {
    let bytes = epoch.to_be_bytes();
    (0..suite.nk())
        .map(|i| bytes[i % bytes.len()] ^ (i as u8).wrapping_mul(37))
        .collect()
}

struct World {
    suite: CipherSuite,
    now: Duration,
    sender: MediaKeyring,
    receiver: MediaKeyring,
    model: Model,
}

impl World {
    /// Sender and receiver in epoch `FIRST_EPOCH + 1`, with `FIRST_EPOCH` in its grace period.
    fn new(suite: CipherSuite) -> Self {
        let mut world = World {
            suite,
            now: START,
            sender: MediaKeyring::new(suite),
            receiver: MediaKeyring::new(suite),
            model: Model::new(FIRST_EPOCH),
        };
        let key = base_key(suite, FIRST_EPOCH);
        world
            .sender
            .install_epoch(START, FIRST_EPOCH, &key, SENDER)
            .expect("first epoch");
        world
            .receiver
            .install_epoch(START, FIRST_EPOCH, &key, RECEIVER)
            .expect("first epoch");
        world.new_epoch(false);
        world
    }

    fn new_epoch(&mut self, same_low_bits: bool) {
        let current = self.model.current.number;
        let next = if same_low_bits {
            current + (1 << EPOCH_BITS)
        } else {
            current + 1
        };
        let key = base_key(self.suite, next);
        self.sender
            .install_epoch(self.now, next, &key, SENDER)
            .expect("a newer epoch installs");
        self.receiver
            .install_epoch(self.now, next, &key, RECEIVER)
            .expect("a newer epoch installs");
        self.model.install(self.now, next);
    }

    /// Bytes of unknown origin: whatever the keyring says must agree with the model on every
    /// check it makes before authentication.
    fn receive_unknown(&mut self, wire: &[u8]) {
        let result = self.receiver.unprotect(self.now, wire);
        self.model.expire(self.now);
        let Some((header, prefix_len)) = parse(wire) else {
            assert!(
                result.is_err(),
                "a frame without a valid header was accepted"
            );
            return;
        };
        let predicted = self.model.check(header.kid, header.ctr);
        match result {
            Ok(frame) => {
                assert_eq!(predicted, Ok(frame.epoch), "accepted against the model");
                assert_eq!(frame.clear_prefix_len, prefix_len);
                assert_eq!(frame.payload[..prefix_len], wire[..prefix_len]);
                self.model.accept(frame.epoch, header.kid, header.ctr);
            }
            Err(SframeError::AuthenticationFailed | SframeError::TruncatedCiphertext { .. }) => {
                assert!(
                    predicted.is_ok(),
                    "authentication tried, model says {predicted:?}"
                )
            }
            Err(error) => assert_eq!(Err(error), predicted),
        }
    }

    /// A frame made with the real key of `epoch_choice`'s epoch for `sender` and `ctr`.
    fn receive_forged(
        &mut self,
        sender: u32,
        epoch_choice: u8,
        ctr: u64,
        prefix_len: u8,
        frame: &[u8],
    ) {
        let epoch = match epoch_choice % 4 {
            0 => self.model.current.number,
            1 => self.model.current.number.saturating_sub(1),
            2 => self.model.current.number + 1,
            _ => self.model.current.number + (1 << EPOCH_BITS),
        };
        let prefix_len = usize::from(prefix_len).min(frame.len());
        let trailer = prefix_len as u8;
        let kid = mls_kid(sender, epoch);
        let key = SframeKey::derive(self.suite, kid, &base_key(self.suite, epoch));
        let (prefix, secret) = frame.split_at(prefix_len);
        let metadata = [prefix, &[trailer]].concat();
        let mut wire = prefix.to_vec();
        wire.extend(key.encrypt(ctr, &metadata, secret).expect("encrypts"));
        wire.push(trailer);

        let result = self.receiver.unprotect(self.now, &wire);
        self.model.expire(self.now);
        let expected = match self.model.check(kid, ctr) {
            // Same low bits, another epoch: the KID names the held epoch, the key is not its.
            Ok(held) if held != epoch => Err(SframeError::AuthenticationFailed),
            other => other,
        };
        match (result, expected) {
            (Ok(got), Ok(held)) => {
                assert_eq!(
                    (got.sender_index, got.epoch, got.clear_prefix_len),
                    (sender, held, prefix_len)
                );
                assert_eq!(got.payload, frame);
                self.model.accept(held, kid, ctr);
            }
            (result, expected) => assert_eq!(result.map(|f| f.epoch), expected, "{kid} {ctr}"),
        }
    }

    /// The honest sender protects a frame; a tampered copy is refused, the frame itself comes
    /// out whole unless the model says a forged frame already took its CTR.
    fn round_trip(&mut self, prefix_len: usize, frame: &[u8], tamper_at: usize, tamper_with: u8) {
        let wire = match self.sender.protect(prefix_len, frame) {
            Ok(wire) => wire,
            Err(error) => {
                assert!(prefix_len > frame.len() || prefix_len > 255, "{error}");
                return;
            }
        };
        assert_eq!(
            wire[..prefix_len],
            frame[..prefix_len],
            "clear prefix stays clear"
        );
        if tamper_with != 0 {
            let mut tampered = wire.clone();
            tampered[tamper_at % wire.len()] ^= tamper_with;
            // With a 4-byte tag a forgery succeeds once in 2^32; a fuzzer run never gets there.
            let result = self.receiver.unprotect(self.now, &tampered);
            assert!(result.is_err(), "a tampered frame was accepted");
        }
        let (header, _) = parse(&wire).expect("protect writes a valid header");
        let result = self.receiver.unprotect(self.now, &wire);
        self.model.expire(self.now);
        match (result, self.model.check(header.kid, header.ctr)) {
            (Ok(got), Ok(epoch)) => {
                assert_eq!(got.payload, frame);
                assert_eq!((got.sender_index, got.epoch), (SENDER, epoch));
                assert_eq!(got.clear_prefix_len, prefix_len);
                self.model.accept(epoch, header.kid, header.ctr);
            }
            (result, expected) => assert_eq!(result.map(|f| f.epoch), expected),
        }
    }
}

/// The SFrame header inside a wire frame, and the clear prefix length, if they parse.
fn parse(wire: &[u8]) -> Option<(Header, usize)> {
    let (&trailer, body) = wire.split_last()?;
    let prefix_len = usize::from(trailer);
    let (header, _) = Header::decode(body.get(prefix_len..)?).ok()?;
    Some((header, prefix_len))
}

/// What the receiver's keyring should accept: the epochs it holds, and per epoch and sender
/// the highest CTR accepted and every accepted CTR (a window of exact sets).
struct Model {
    current: ModelEpoch,
    previous: Option<(ModelEpoch, Duration)>,
    dropped: Option<u64>,
}

struct ModelEpoch {
    number: u64,
    senders: HashMap<u32, (u64, BTreeSet<u64>)>,
}

impl ModelEpoch {
    fn new(number: u64) -> Self {
        Self {
            number,
            senders: HashMap::new(),
        }
    }
}

const MASK: u64 = (1 << EPOCH_BITS) - 1;

impl Model {
    fn new(epoch: u64) -> Self {
        Self {
            current: ModelEpoch::new(epoch),
            previous: None,
            dropped: None,
        }
    }

    fn install(&mut self, now: Duration, epoch: u64) {
        if let Some((older, _)) = self.previous.take() {
            self.dropped = Some(older.number);
        }
        let retiring = std::mem::replace(&mut self.current, ModelEpoch::new(epoch));
        if retiring.number & MASK == epoch & MASK {
            self.dropped = Some(retiring.number);
        } else {
            self.previous = Some((retiring, now + DEFAULT_GRACE));
        }
    }

    fn expire(&mut self, now: Duration) {
        if let Some((previous, until)) = &self.previous
            && now >= *until
        {
            self.dropped = Some(previous.number);
            self.previous = None;
        }
    }

    fn epoch(&self, bits: u64) -> Option<&ModelEpoch> {
        if self.current.number & MASK == bits {
            return Some(&self.current);
        }
        self.previous
            .as_ref()
            .map(|(previous, _)| previous)
            .filter(|previous| previous.number & MASK == bits)
    }

    /// Every check before authentication: the epoch a frame would decrypt under, or why not.
    fn check(&self, kid: u64, ctr: u64) -> Result<u64, SframeError> {
        let Ok(sender_index) = u32::try_from(kid >> EPOCH_BITS) else {
            return Err(SframeError::UnknownKid { kid });
        };
        let Some(epoch) = self.epoch(kid & MASK) else {
            return Err(match self.dropped {
                Some(epoch) if epoch & MASK == kid & MASK => SframeError::EpochExpired { epoch },
                _ => SframeError::UnknownKid { kid },
            });
        };
        if sender_index == RECEIVER {
            return Err(SframeError::ReflectedFrame { kid });
        }
        if let Some((highest, seen)) = epoch.senders.get(&sender_index)
            && ctr <= *highest
        {
            if *highest - ctr >= REPLAY_WINDOW {
                return Err(SframeError::TooOld { sender_index, ctr });
            }
            if seen.contains(&ctr) {
                return Err(SframeError::Replayed { sender_index, ctr });
            }
        }
        Ok(epoch.number)
    }

    fn accept(&mut self, epoch: u64, kid: u64, ctr: u64) {
        let held = if self.current.number == epoch {
            &mut self.current
        } else {
            match &mut self.previous {
                Some((previous, _)) if previous.number == epoch => previous,
                _ => unreachable!("accepted under epoch {epoch}, which the model does not hold"),
            }
        };
        let sender_index = (kid >> EPOCH_BITS) as u32;
        let (highest, seen) = held
            .senders
            .entry(sender_index)
            .or_insert((ctr, BTreeSet::new()));
        *highest = (*highest).max(ctr);
        seen.insert(ctr);
        // Only the window matters; forgetting the rest keeps long inputs cheap.
        let floor = highest.saturating_sub(REPLAY_WINDOW);
        *seen = seen.split_off(&floor);
    }
}

fn seed_inputs() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for suite in CipherSuite::ALL {
        // A real frame of the honest sender, CTR 0 of the current epoch, as raw wire bytes:
        // the first replay is accepted, the second refused.
        let mut sender = MediaKeyring::new(suite);
        let epoch = FIRST_EPOCH + 1;
        sender
            .install_epoch(START, epoch, &base_key(suite, epoch), SENDER)
            .expect("epoch installs");
        let vp8_keyframe = [
            0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xde, 0xad, 0xbe, 0xef,
        ];
        let wire = sender.protect(10, &vp8_keyframe).expect("protects");
        let suite_byte = (suite.id() - 1) as u8;
        let raw = OpWriter::new()
            .u8(suite_byte)
            .u8(OP_RAW)
            .bytes(&wire)
            .u8(OP_RAW)
            .bytes(&wire)
            .finish();
        let name = match suite {
            CipherSuite::AesCtr128HmacSha256_80 => "real-frame-ctr80",
            CipherSuite::AesCtr128HmacSha256_64 => "real-frame-ctr64",
            CipherSuite::AesCtr128HmacSha256_32 => "real-frame-ctr32",
            CipherSuite::AesGcm128Sha256 => "real-frame-gcm128",
            CipherSuite::AesGcm256Sha512 => "real-frame-gcm256",
        };
        seeds.push((name, raw));
    }
    let gcm = (CipherSuite::AesGcm128Sha256.id() - 1) as u8;
    // Opus-like frame, then a video frame with a 3-byte clear prefix, each with a tampered copy.
    seeds.push((
        "round-trips",
        OpWriter::new()
            .u8(gcm)
            .u8(OP_ROUND_TRIP)
            .u8(0)
            .u16(5)
            .u8(0x01)
            .bytes(&[0xfc; 60])
            .u8(OP_ROUND_TRIP)
            .u8(3)
            .u16(0)
            .u8(0x80)
            .bytes(&[0x11, 0x00, 0x00, 1, 2, 3, 4, 5])
            .finish(),
    ));
    // Frames of a second sender out of order, a replay, one behind the window, then the
    // previous epoch's keys after their grace period.
    seeds.push((
        "replay-window",
        OpWriter::new()
            .u8(gcm)
            .u8(OP_FORGE)
            .u8(2)
            .u8(0)
            .u64(5_000)
            .u8(0)
            .bytes(b"frame")
            .u8(OP_FORGE)
            .u8(2)
            .u8(0)
            .u64(4_990)
            .u8(0)
            .bytes(b"late")
            .u8(OP_FORGE)
            .u8(2)
            .u8(0)
            .u64(4_990)
            .u8(0)
            .bytes(b"replay")
            .u8(OP_FORGE)
            .u8(2)
            .u8(0)
            .u64(1_000)
            .u8(0)
            .bytes(b"too old")
            .u8(OP_FORGE)
            .u8(2)
            .u8(1)
            .u64(0)
            .u8(0)
            .bytes(b"previous epoch")
            .u8(OP_WAIT)
            .u16(2_500)
            .u8(OP_FORGE)
            .u8(2)
            .u8(1)
            .u64(1)
            .u8(0)
            .bytes(b"expired")
            .finish(),
    ));
    seeds.push((
        "new-epochs",
        OpWriter::new()
            .u8(gcm)
            .u8(OP_NEW_EPOCH)
            .u8(0)
            .u8(OP_ROUND_TRIP)
            .u8(0)
            .u16(0)
            .u8(0)
            .bytes(b"after one epoch")
            .u8(OP_NEW_EPOCH)
            .u8(1)
            .u8(OP_FORGE)
            .u8(0)
            .u8(1)
            .u64(0)
            .u8(0)
            .bytes(b"same low bits")
            .u8(OP_EXPIRE)
            .finish(),
    ));
    seeds
}
