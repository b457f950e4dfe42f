use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Duration;

use zeroize::Zeroizing;

use super::replay_window::ReplayWindow;
use super::{CipherSuite, Header, SframeError, SframeKey};

/// Label of the MLS exporter call that yields an epoch's SFrame `base_key` (RFC 9605 §5.2).
pub const MLS_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";

/// Context of that exporter call: empty.
pub const MLS_EXPORTER_CONTEXT: &[u8] = b"";

/// Length of that exporter call: `AEAD.Nk` of the suite (RFC 9605 §5.2).
pub const fn mls_exporter_length(suite: CipherSuite) -> usize {
    suite.nk()
}

/// `E`: how many low-order bits of the MLS epoch the KID carries. At most 2^E epochs can be
/// told apart at once; the keyring holds two.
pub const EPOCH_BITS: u32 = 8;

const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;

/// How long the previous epoch's keys keep decrypting after a new epoch is installed, unless
/// the keyring is built with another grace period.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// Longest clear prefix `protect` leaves readable: its length travels in one trailer byte.
pub const MAX_CLEAR_PREFIX: usize = u8::MAX as usize;

/// The KID of RFC 9605 §5.2 for a sender in an epoch, with context 0:
/// `(sender_index << E) | (epoch mod 2^E)`.
///
/// With context 0 the width `S` of the sender index does not change the value, so sender and
/// receivers need not agree on the group size.
pub const fn mls_kid(sender_index: u32, epoch: u64) -> u64 {
    ((sender_index as u64) << EPOCH_BITS) | (epoch & EPOCH_MASK)
}

/// The sender index and epoch bits of a KID, or `None` if it has a non-zero context.
fn split_mls_kid(kid: u64) -> Option<(u32, u64)> {
    let sender_index = u32::try_from(kid >> EPOCH_BITS).ok()?;
    Some((sender_index, kid & EPOCH_MASK))
}

/// A frame that `unprotect` authenticated and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnprotectedFrame {
    /// MLS leaf index of the sender (from the KID, authenticated by the key).
    pub sender_index: u32,
    /// MLS epoch whose key decrypted the frame.
    pub epoch: u64,
    /// How many bytes at the start of `payload` travelled in the clear (authenticated).
    pub clear_prefix_len: usize,
    /// The original frame: clear prefix followed by the decrypted bytes.
    pub payload: Vec<u8>,
}

/// The SFrame keys of one participant in an MLS group, per RFC 9605 §5.2: it protects this
/// participant's frames under the current epoch and unprotects everyone else's, keeping the
/// previous epoch for a grace period so frames in flight across a commit still decrypt.
///
/// Wire format of a protected frame:
/// `clear_prefix || SFrame header || ciphertext and tag || clear_prefix_len (1 byte)`.
/// The clear prefix stays readable for a packetiser or SFU but is authenticated: the SFrame
/// metadata is `clear_prefix || clear_prefix_len`.
///
/// Receiving drops every frame that does not authenticate under a held key, and every
/// (epoch, sender, CTR) seen before or older than [`REPLAY_WINDOW`](super::REPLAY_WINDOW).
/// Time only enters through arguments.
#[derive(Debug)]
pub struct MediaKeyring {
    suite: CipherSuite,
    grace: Duration,
    current: Option<Epoch>,
    sending: Option<SendingKey>,
    previous: Option<RetiringEpoch>,
    /// The epoch whose keys were dropped last, only to name it when its frames arrive late.
    dropped_epoch: Option<u64>,
}

#[derive(Debug)]
struct Epoch {
    number: u64,
    base_key: Zeroizing<Vec<u8>>,
    own_sender_index: u32,
    /// Keys of senders that have sent at least one authentic frame in this epoch.
    receiving: BTreeMap<u32, ReceivingKey>,
}

#[derive(Debug)]
struct RetiringEpoch {
    epoch: Epoch,
    until: Duration,
}

#[derive(Debug)]
struct ReceivingKey {
    key: SframeKey,
    window: ReplayWindow,
}

#[derive(Debug)]
struct SendingKey {
    key: SframeKey,
    /// `None` once `u64::MAX` was used: a CTR never repeats under one key.
    next_ctr: Option<u64>,
}

impl MediaKeyring {
    /// An empty keyring for `suite` with the [`DEFAULT_GRACE`] period. Nothing can be sent or
    /// received until [`install_epoch`](Self::install_epoch).
    pub fn new(suite: CipherSuite) -> Self {
        Self::with_grace(suite, DEFAULT_GRACE)
    }

    /// Like [`new`](Self::new), keeping the previous epoch's keys for `grace`.
    pub fn with_grace(suite: CipherSuite, grace: Duration) -> Self {
        Self {
            suite,
            grace,
            current: None,
            sending: None,
            previous: None,
            dropped_epoch: None,
        }
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The MLS leaf index this keyring sends as in the current epoch, if one is installed.
    pub fn own_sender_index(&self) -> Option<u32> {
        self.current.as_ref().map(|epoch| epoch.own_sender_index)
    }

    /// The epoch frames are sent under, if one is installed.
    pub fn current_epoch(&self) -> Option<u64> {
        self.current.as_ref().map(|epoch| epoch.number)
    }

    /// Makes `epoch` current. `base_key` is the MLS exporter output for
    /// [`MLS_EXPORTER_LABEL`], [`MLS_EXPORTER_CONTEXT`] and [`mls_exporter_length`].
    ///
    /// The epoch that was current keeps decrypting until `now + grace`; any older epoch is
    /// dropped at once, as is one whose low [`EPOCH_BITS`] equal the new epoch's (RFC 9605
    /// §5.2). Sending restarts at CTR 0 under the new epoch's key.
    pub fn install_epoch(
        &mut self,
        now: Duration,
        epoch: u64,
        base_key: &[u8],
        own_sender_index: u32,
    ) -> Result<(), SframeError> {
        let expected = mls_exporter_length(self.suite);
        if base_key.len() != expected {
            return Err(SframeError::KeyLength {
                expected,
                actual: base_key.len(),
            });
        }
        if let Some(current) = self.current_epoch()
            && epoch <= current
        {
            return Err(SframeError::StaleEpoch { epoch, current });
        }
        self.sending = Some(SendingKey {
            key: SframeKey::derive(self.suite, mls_kid(own_sender_index, epoch), base_key),
            next_ctr: Some(0),
        });
        let installed = Epoch {
            number: epoch,
            base_key: Zeroizing::new(base_key.to_vec()),
            own_sender_index,
            receiving: BTreeMap::new(),
        };
        if let Some(older) = self.previous.take() {
            self.dropped_epoch = Some(older.epoch.number);
        }
        if let Some(retiring) = self.current.replace(installed) {
            if retiring.number & EPOCH_MASK == epoch & EPOCH_MASK {
                self.dropped_epoch = Some(retiring.number);
            } else {
                self.previous = Some(RetiringEpoch {
                    epoch: retiring,
                    until: now.saturating_add(self.grace),
                });
            }
        }
        Ok(())
    }

    /// Drops the previous epoch's keys if its grace period is over at `now`. `unprotect` does
    /// this itself; call it from a timer so keys leave memory even when no frames arrive.
    pub fn expire(&mut self, now: Duration) {
        if let Some(previous) = &self.previous
            && now >= previous.until
        {
            self.dropped_epoch = Some(previous.epoch.number);
            self.previous = None;
        }
    }

    /// Encrypts `frame` under the current epoch, leaving its first `clear_prefix_len` bytes
    /// readable (0 for Opus and whole frames).
    pub fn protect(
        &mut self,
        clear_prefix_len: usize,
        frame: &[u8],
    ) -> Result<Vec<u8>, SframeError> {
        let trailer = u8::try_from(clear_prefix_len)
            .ok()
            .filter(|_| clear_prefix_len <= frame.len())
            .ok_or(SframeError::ClearPrefixTooLong {
                prefix_len: clear_prefix_len,
                frame_len: frame.len(),
            })?;
        let sending = self.sending.as_mut().ok_or(SframeError::NoEpoch)?;
        let ctr = sending.next_ctr.ok_or(SframeError::CounterExhausted)?;
        let (clear_prefix, secret) = frame.split_at(clear_prefix_len);

        let mut wire = Vec::with_capacity(frame.len() + Header::MAX_LEN + self.suite.nt() + 1);
        wire.extend_from_slice(clear_prefix);
        sending
            .key
            .encrypt_into(ctr, &[clear_prefix, &[trailer]], secret, &mut wire)?;
        wire.push(trailer);
        sending.next_ctr = ctr.checked_add(1);
        Ok(wire)
    }

    /// Authenticates and decrypts a frame made by another member's `protect`.
    ///
    /// Fails closed: a frame without a well-formed SFrame header, under a KID of no held
    /// epoch (or of our own sending key), replayed, or altered anywhere — clear prefix,
    /// header, ciphertext, tag or trailer — is an error and yields no bytes.
    pub fn unprotect(
        &mut self,
        now: Duration,
        wire: &[u8],
    ) -> Result<UnprotectedFrame, SframeError> {
        self.expire(now);
        let (&trailer, body) = wire.split_last().ok_or(SframeError::MissingTrailer)?;
        let clear_prefix_len = usize::from(trailer);
        if clear_prefix_len > body.len() {
            return Err(SframeError::ClearPrefixTooLong {
                prefix_len: clear_prefix_len,
                frame_len: body.len(),
            });
        }
        let (clear_prefix, sframe_ciphertext) = body.split_at(clear_prefix_len);
        let (header, header_len) = Header::decode(sframe_ciphertext)?;
        let (header_bytes, sealed) = sframe_ciphertext.split_at(header_len);

        let kid = header.kid;
        let (sender_index, epoch_bits) =
            split_mls_kid(kid).ok_or(SframeError::UnknownKid { kid })?;
        let suite = self.suite;
        let epoch = self.epoch_for(epoch_bits, kid)?;
        if sender_index == epoch.own_sender_index {
            return Err(SframeError::ReflectedFrame { kid });
        }

        let metadata: [&[u8]; 2] = [clear_prefix, &[trailer]];
        let mut payload = Vec::with_capacity(body.len());
        payload.extend_from_slice(clear_prefix);
        match epoch.receiving.entry(sender_index) {
            Entry::Occupied(mut known) => {
                let receiving = known.get_mut();
                receiving.window.check(sender_index, header.ctr)?;
                receiving.key.decrypt_into(
                    header,
                    header_bytes,
                    &metadata,
                    sealed,
                    &mut payload,
                )?;
                receiving.window.accept(header.ctr);
            }
            Entry::Vacant(slot) => {
                // A sender's key is kept only once a frame under it authenticates, so frames
                // with made-up KIDs cost a derivation but cannot grow the keyring.
                let key = SframeKey::derive(suite, kid, &epoch.base_key);
                key.decrypt_into(header, header_bytes, &metadata, sealed, &mut payload)?;
                slot.insert(ReceivingKey {
                    key,
                    window: ReplayWindow::starting_at(header.ctr),
                });
            }
        }
        Ok(UnprotectedFrame {
            sender_index,
            epoch: epoch.number,
            clear_prefix_len,
            payload,
        })
    }

    /// The key material (KID, `sframe_key`, `sframe_salt`) of `sender_index` in the current
    /// epoch, for doing the bulk AEAD elsewhere (WebCrypto). Whoever uses it for sending owns
    /// the uniqueness of the CTR.
    pub fn current_key(&self, sender_index: u32) -> Result<SframeKey, SframeError> {
        let epoch = self.current.as_ref().ok_or(SframeError::NoEpoch)?;
        let kid = mls_kid(sender_index, epoch.number);
        Ok(SframeKey::derive(self.suite, kid, &epoch.base_key))
    }

    /// The held epoch whose low bits are `epoch_bits`.
    fn epoch_for(&mut self, epoch_bits: u64, kid: u64) -> Result<&mut Epoch, SframeError> {
        if let Some(current) = self.current.as_mut()
            && current.number & EPOCH_MASK == epoch_bits
        {
            return Ok(current);
        }
        if let Some(previous) = self.previous.as_mut()
            && previous.epoch.number & EPOCH_MASK == epoch_bits
        {
            return Ok(&mut previous.epoch);
        }
        match self.dropped_epoch {
            Some(epoch) if epoch & EPOCH_MASK == epoch_bits => {
                Err(SframeError::EpochExpired { epoch })
            }
            _ => Err(SframeError::UnknownKid { kid }),
        }
    }

    /// Lets a unit test reach the end of the counter space without 2^64 frames.
    #[cfg(test)]
    fn start_counter_at(&mut self, ctr: u64) {
        if let Some(sending) = self.sending.as_mut() {
            sending.next_ctr = Some(ctr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
    const NOW: Duration = Duration::from_secs(100);

    fn keyrings(epoch: u64) -> (MediaKeyring, MediaKeyring) {
        let base_key = [epoch as u8; 16];
        let mut alice = MediaKeyring::new(SUITE);
        let mut bob = MediaKeyring::new(SUITE);
        alice.install_epoch(NOW, epoch, &base_key, 0).unwrap();
        bob.install_epoch(NOW, epoch, &base_key, 1).unwrap();
        (alice, bob)
    }

    #[test]
    fn counter_exhaustion_stops_sending_until_the_next_epoch() {
        let (mut alice, mut bob) = keyrings(3);
        alice.start_counter_at(u64::MAX - 1);

        let second_last = alice.protect(0, b"frame").unwrap();
        let last = alice.protect(0, b"frame").unwrap();
        assert_eq!(
            alice.protect(0, b"frame"),
            Err(SframeError::CounterExhausted)
        );
        for wire in [&second_last, &last] {
            assert_eq!(bob.unprotect(NOW, wire).unwrap().payload, b"frame");
        }
        let (header, _) = Header::decode(&last).unwrap();
        assert_eq!(header.ctr, u64::MAX);

        alice.install_epoch(NOW, 4, &[4; 16], 0).unwrap();
        let fresh = alice.protect(0, b"frame").unwrap();
        assert_eq!(Header::decode(&fresh).unwrap().0.ctr, 0);
    }

    #[test]
    fn protect_refuses_a_clear_prefix_it_cannot_carry() {
        let mut keyring = MediaKeyring::new(SUITE);
        assert_eq!(keyring.protect(0, b"frame"), Err(SframeError::NoEpoch));
        let (mut alice, _) = keyrings(1);
        assert_eq!(
            alice.protect(6, b"frame"),
            Err(SframeError::ClearPrefixTooLong {
                prefix_len: 6,
                frame_len: 5
            })
        );
        assert_eq!(
            alice.protect(256, &[0; 300]),
            Err(SframeError::ClearPrefixTooLong {
                prefix_len: 256,
                frame_len: 300
            })
        );
        let wire = alice.protect(MAX_CLEAR_PREFIX, &[7; 300]).unwrap();
        assert_eq!(wire[..MAX_CLEAR_PREFIX], [7; MAX_CLEAR_PREFIX]);
        assert_eq!(wire.last(), Some(&0xff));
    }

    #[test]
    fn current_key_is_the_key_frames_are_protected_with() {
        let (mut alice, bob) = keyrings(9);
        let wire = alice.protect(0, b"frame").unwrap();
        let key = bob.current_key(0).unwrap();
        assert_eq!(key.kid(), mls_kid(0, 9));
        // Whole frame: metadata is just the trailer byte 0.
        let (trailer, sframe_ciphertext) = wire.split_last().unwrap();
        assert_eq!(
            key.decrypt(&[*trailer], sframe_ciphertext).unwrap(),
            b"frame"
        );
    }

    #[test]
    fn kid_carries_sender_index_and_low_epoch_bits() {
        assert_eq!(mls_kid(0, 0), 0);
        assert_eq!(mls_kid(3, 0x1_05), 0x3_05);
        assert_eq!(split_mls_kid(mls_kid(u32::MAX, 7)), Some((u32::MAX, 7)));
        // Non-zero context: not a KID this keyring hands out.
        assert_eq!(split_mls_kid(1 << (32 + EPOCH_BITS)), None);
    }

    #[test]
    fn epoch_must_move_forward_and_base_key_must_have_nk_bytes() {
        let (mut alice, _) = keyrings(5);
        assert_eq!(
            alice.install_epoch(NOW, 5, &[0; 16], 0),
            Err(SframeError::StaleEpoch {
                epoch: 5,
                current: 5
            })
        );
        assert_eq!(
            alice.install_epoch(NOW, 6, &[0; 32], 0),
            Err(SframeError::KeyLength {
                expected: 16,
                actual: 32
            })
        );
        assert_eq!(alice.current_epoch(), Some(5));
    }

    #[test]
    fn epoch_with_the_same_low_bits_replaces_the_previous_at_once() {
        let (mut alice, mut bob) = keyrings(1);
        let old = alice.protect(0, b"old").unwrap();
        let next = 1 + (1 << EPOCH_BITS);
        bob.install_epoch(NOW, next, &[9; 16], 1).unwrap();
        assert_eq!(
            bob.unprotect(NOW, &old),
            Err(SframeError::AuthenticationFailed),
            "the KID now names the new epoch's key"
        );
        assert!(bob.previous.is_none());
    }

    #[test]
    fn receiving_keys_are_kept_only_after_authentication() {
        let (mut alice, mut bob) = keyrings(1);
        let mut forged = alice.protect(0, b"frame").unwrap();
        forged[3] ^= 1;
        assert!(bob.unprotect(NOW, &forged).is_err());
        assert!(bob.current.as_ref().unwrap().receiving.is_empty());
    }
}
