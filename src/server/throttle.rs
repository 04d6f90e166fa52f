//! Rate-limited logging for events a client can repeat at will (refused connections, rejected
//! requests): the counter in the metrics sees every one, the log at most one a second, with the
//! number left out since the last line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Lets one log line through per second.
#[derive(Debug)]
pub struct Throttle {
    start: Instant,
    /// The second (since `start`) of the last line let through, plus one; 0 before any.
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            start: Instant::now(),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    /// `Some(n)` when a line may be written now, `n` being how many were held back since the
    /// last one; `None` when this one should be held back.
    pub fn allow(&self) -> Option<u64> {
        let second = self.start.elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != second
            && self
                .last
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_the_first_line_through_and_counts_the_rest_of_the_second() {
        let throttle = Throttle::default();
        assert_eq!(throttle.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(throttle.allow(), None);
        }
        assert_eq!(throttle.suppressed.load(Ordering::Relaxed), 5);
    }
}
