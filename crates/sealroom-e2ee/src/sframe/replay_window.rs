use super::SframeError;

/// How many counters below the highest one seen from a sender are still accepted once. One
/// counter spans all of a sender's streams (audio 50, video 30 and screen 30 frames/s), so
/// 1,024 counters let a video frame arrive several seconds behind audio — retransmissions and
/// jitter — without being mistaken for a replay. 128 bytes per sender and epoch.
pub const REPLAY_WINDOW: u64 = 1024;

const WORDS: usize = (REPLAY_WINDOW / u64::BITS as u64) as usize;

/// Counter-based anti-replay for one sender under one key, after SRTP (RFC 3711 §3.3.2):
/// the highest CTR accepted and a ring of bits, one per CTR modulo `REPLAY_WINDOW`, saying
/// which of the CTRs up to it were accepted. Late frames within the window still pass once;
/// anything older cannot be told apart from a replay and is refused.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    highest: u64,
    seen: [u64; WORDS],
}

impl ReplayWindow {
    /// A window whose first accepted CTR is `ctr`.
    pub(crate) fn starting_at(ctr: u64) -> Self {
        let mut window = Self {
            highest: ctr,
            seen: [0; WORDS],
        };
        window.set(ctr, true);
        window
    }

    /// Whether `ctr` may be accepted; changes nothing, so a frame that then fails
    /// authentication cannot move the window.
    pub(crate) fn check(&self, sender_index: u32, ctr: u64) -> Result<(), SframeError> {
        let Some(age) = self.highest.checked_sub(ctr) else {
            return Ok(());
        };
        if age >= REPLAY_WINDOW {
            Err(SframeError::TooOld { sender_index, ctr })
        } else if self.get(ctr) {
            Err(SframeError::Replayed { sender_index, ctr })
        } else {
            Ok(())
        }
    }

    /// Records `ctr` as accepted; call only after `check` passed and the frame authenticated.
    pub(crate) fn accept(&mut self, ctr: u64) {
        if let Some(advance) = ctr.checked_sub(self.highest) {
            // The CTRs the window moves over were never seen: clear their bits from the ring.
            if advance >= REPLAY_WINDOW {
                self.seen = [0; WORDS];
            } else {
                for skipped in self.highest + 1..ctr {
                    self.set(skipped, false);
                }
            }
            self.highest = ctr;
        }
        self.set(ctr, true);
    }

    fn get(&self, ctr: u64) -> bool {
        let (word, bit) = Self::position(ctr);
        self.seen[word] & (1 << bit) != 0
    }

    fn set(&mut self, ctr: u64, accepted: bool) {
        let (word, bit) = Self::position(ctr);
        if accepted {
            self.seen[word] |= 1 << bit;
        } else {
            self.seen[word] &= !(1 << bit);
        }
    }

    fn position(ctr: u64) -> (usize, u32) {
        let slot = ctr % REPLAY_WINDOW;
        (
            (slot / u64::from(u64::BITS)) as usize,
            (slot % u64::from(u64::BITS)) as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_within_the_window_passes_once() {
        let mut window = ReplayWindow::starting_at(10);
        for ctr in [12, 11, 5] {
            assert_eq!(window.check(1, ctr), Ok(()));
            window.accept(ctr);
        }
        for ctr in [5, 10, 11, 12] {
            assert_eq!(
                window.check(1, ctr),
                Err(SframeError::Replayed {
                    sender_index: 1,
                    ctr
                })
            );
        }
        assert_eq!(window.check(1, 9), Ok(()));
    }

    #[test]
    fn window_slides_with_the_highest_counter() {
        let mut window = ReplayWindow::starting_at(0);
        window.accept(REPLAY_WINDOW);
        assert_eq!(
            window.check(2, 0),
            Err(SframeError::TooOld {
                sender_index: 2,
                ctr: 0
            })
        );
        assert_eq!(window.check(2, 1), Ok(()));
    }

    #[test]
    fn a_jump_larger_than_the_window_forgets_everything_below() {
        let mut window = ReplayWindow::starting_at(u64::MAX - 1000);
        window.accept(u64::MAX);
        assert_eq!(window.check(0, u64::MAX - 1), Ok(()));
        assert!(window.check(0, u64::MAX).is_err());
    }
}
