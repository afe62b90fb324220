//! The inbound event rate limit: token buckets by count and by bytes, fed the time, so they
//! are tested without a clock.

use std::time::Instant;

use crate::config::RateLimit;

/// One token bucket: `rate` tokens a second, up to `burst`, starting full.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }
}

/// One connection's rate limit on the events it receives.
#[derive(Debug)]
pub(crate) struct RateGate {
    events: Bucket,
    bytes: Bucket,
}

impl RateGate {
    pub(crate) fn new(limit: &RateLimit, now: Instant) -> Self {
        Self {
            events: Bucket::new(
                f64::from(limit.events_per_second),
                f64::from(limit.event_burst.max(1)),
                now,
            ),
            bytes: Bucket::new(
                limit.bytes_per_second as f64,
                limit.byte_burst.max(1) as f64,
                now,
            ),
        }
    }

    /// Whether an event of `size` bytes arriving at `now` is within the limit; if so, it is
    /// charged to both buckets. An event over the limit costs nothing.
    pub(crate) fn admit(&mut self, size: usize, now: Instant) -> bool {
        self.events.refill(now);
        self.bytes.refill(now);
        let size = size as f64;
        if self.events.tokens < 1.0 || self.bytes.tokens < size {
            return false;
        }
        self.events.tokens -= 1.0;
        self.bytes.tokens -= size;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn limit(events_per_second: u32, event_burst: u32, bytes: u64) -> RateLimit {
        RateLimit {
            events_per_second,
            event_burst,
            bytes_per_second: bytes,
            byte_burst: bytes,
            ..RateLimit::default()
        }
    }

    #[test]
    fn a_burst_passes_then_events_pass_at_the_rate() {
        let start = Instant::now();
        let mut gate = RateGate::new(&limit(10, 3, 1 << 20), start);
        assert!((0..3).all(|_| gate.admit(1, start)), "the burst");
        assert!(!gate.admit(1, start), "the fourth at once");
        assert!(!gate.admit(1, start + Duration::from_millis(99)));
        assert!(
            gate.admit(1, start + Duration::from_millis(100)),
            "one per 100 ms"
        );
        assert!(!gate.admit(1, start + Duration::from_millis(150)));
    }

    #[test]
    fn bytes_are_limited_apart_from_the_count() {
        let start = Instant::now();
        let mut gate = RateGate::new(&limit(1000, 1000, 1000), start);
        assert!(gate.admit(600, start));
        assert!(!gate.admit(600, start), "1,200 bytes at once, over 1,000");
        assert!(gate.admit(400, start), "a refused event cost nothing");
        assert!(gate.admit(600, start + Duration::from_millis(600)));
    }

    #[test]
    fn an_idle_gate_refills_only_to_its_burst() {
        let start = Instant::now();
        let mut gate = RateGate::new(&limit(10, 3, 1 << 20), start);
        let later = start + Duration::from_secs(3600);
        assert!((0..3).all(|_| gate.admit(1, later)));
        assert!(!gate.admit(1, later));
    }
}
