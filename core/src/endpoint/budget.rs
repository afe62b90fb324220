//! The byte budget that the replay logs of sessions waiting for a resume share: what the
//! server holds for clients that are not there, all together.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes taken out of a fixed allowance by many holders at once, without a lock.
#[derive(Debug)]
pub(crate) struct OfflineBudget {
    limit: usize,
    used: AtomicUsize,
}

impl OfflineBudget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` if they fit in what is left; whether they did.
    pub(crate) fn charge(&self, bytes: usize) -> bool {
        let charged = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok();
        if charged {
            crate::meters::detached_bytes(bytes as f64);
        }
        charged
    }

    /// Gives back `bytes` taken earlier.
    pub(crate) fn refund(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        crate::meters::detached_bytes(-(bytes as f64));
    }

    /// Bytes taken now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_and_no_further() {
        let budget = OfflineBudget::new(100);
        assert!(budget.charge(60));
        assert!(!budget.charge(41), "61 + 41 would pass 100");
        assert_eq!(budget.used(), 60);
        assert!(budget.charge(40));
        budget.refund(60);
        assert_eq!(budget.used(), 40);
        assert!(
            !budget.charge(usize::MAX),
            "an overflowing charge is refused, not wrapped"
        );
    }
}
