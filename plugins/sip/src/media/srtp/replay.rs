//! The replay list of RFC 3711 §3.3.2: a sliding window of the last 64
//! packet indices accepted. An index below the window, or one already in
//! it, is refused.

const WINDOW: u64 = 64;

#[derive(Debug, Default, Clone)]
pub struct ReplayWindow {
    /// The highest index accepted, once one was.
    top: Option<u64>,
    /// Bit `n` set: index `top - n` was accepted.
    seen: u64,
}

impl ReplayWindow {
    /// Whether `index` may be accepted (it was not, and is not too old).
    pub fn is_fresh(&self, index: u64) -> bool {
        let Some(top) = self.top else { return true };
        if index > top {
            return true;
        }
        let behind = top - index;
        behind < WINDOW && self.seen & (1 << behind) == 0
    }

    /// Records `index` as accepted; call only after it authenticated.
    pub fn accept(&mut self, index: u64) {
        match self.top {
            Some(top) if index <= top => self.seen |= 1 << (top - index),
            Some(top) => {
                let ahead = index - top;
                self.seen = if ahead >= WINDOW {
                    0
                } else {
                    self.seen << ahead
                };
                self.seen |= 1;
                self.top = Some(index);
            }
            None => {
                self.top = Some(index);
                self.seen = 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_repeats_and_the_too_old_keeps_the_late() {
        let mut window = ReplayWindow::default();
        for index in [100, 101, 103] {
            assert!(window.is_fresh(index));
            window.accept(index);
        }
        assert!(!window.is_fresh(101), "a repeat");
        assert!(window.is_fresh(102), "late but inside the window");
        window.accept(102);
        assert!(!window.is_fresh(102));
        window.accept(103 + 63);
        assert!(window.is_fresh(104), "still inside: 63 behind");
        assert!(!window.is_fresh(103), "64 behind is outside");
        window.accept(10_000);
        assert!(!window.is_fresh(166));
        assert!(window.is_fresh(10_001));
    }
}
