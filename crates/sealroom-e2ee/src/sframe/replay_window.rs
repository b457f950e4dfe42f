use super::SframeError;

/// How many counters below the highest one seen from a sender are still accepted once.
pub const REPLAY_WINDOW: u64 = u128::BITS as u64;

/// Counter-based anti-replay for one sender under one key, after SRTP (RFC 3711 §3.3.2):
/// the highest CTR accepted and a bitmap of which of the `REPLAY_WINDOW` CTRs up to it were
/// accepted. Late frames within the window still pass once; anything older cannot be told
/// apart from a replay and is refused.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    highest: u64,
    /// Bit `i` set: CTR `highest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// A window whose first accepted CTR is `ctr`.
    pub(crate) fn starting_at(ctr: u64) -> Self {
        Self {
            highest: ctr,
            seen: 1,
        }
    }

    /// Whether `ctr` may be accepted; changes nothing, so a frame that then fails
    /// authentication cannot move the window.
    pub(crate) fn check(&self, sender_index: u32, ctr: u64) -> Result<(), SframeError> {
        let Some(age) = self.highest.checked_sub(ctr) else {
            return Ok(());
        };
        if age >= REPLAY_WINDOW {
            Err(SframeError::TooOld { sender_index, ctr })
        } else if self.seen & (1 << age) != 0 {
            Err(SframeError::Replayed { sender_index, ctr })
        } else {
            Ok(())
        }
    }

    /// Records `ctr` as accepted; call only after `check` passed and the frame authenticated.
    pub(crate) fn accept(&mut self, ctr: u64) {
        match ctr.checked_sub(self.highest) {
            Some(advance) => {
                self.seen = if advance >= REPLAY_WINDOW {
                    1
                } else {
                    (self.seen << advance) | 1
                };
                self.highest = ctr;
            }
            None => self.seen |= 1 << (self.highest - ctr),
        }
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
