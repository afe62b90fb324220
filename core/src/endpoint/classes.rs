//! Delivery classes (PROTOCOL.md section 2.3): how an event may travel besides reliable and
//! in order, the sequence numbers that stamp them, and the receiver's rule that drops a value
//! older than one it already handled.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How an emit travels. Every class reaches every transport: where the connection cannot carry
/// one as such (WebSocket, a peer that predates the classes), it degrades as PROTOCOL.md
/// section 2.3 says, never to less than it promises about staleness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// Reliable, and in order within its channel: the default.
    #[default]
    Ordered,
    /// May be dropped; as a datagram where it fits.
    Volatile,
    /// Reliable while the connection lives, in no order: on WebTransport each event has a
    /// stream of its own, so a lost packet holds back that event alone. A resume does not
    /// replay it.
    Unordered,
    /// May be dropped, and never handled after a newer one of the same name: a datagram
    /// stamped with a sequence number.
    Sequenced,
    /// The newest value of the name and this key: on WebTransport each value has a stream of
    /// its own, which a newer value resets; the receiver never handles an older value after
    /// a newer one.
    Latest(String),
}

impl Delivery {
    /// Whether every event is delivered while the connection lives.
    pub fn is_reliable(&self) -> bool {
        matches!(self, Delivery::Ordered | Delivery::Unordered)
    }

    /// The key a `Sequenced` frame carries, for the classes that stamp one.
    pub(crate) fn stamp_key(&self) -> Option<&str> {
        match self {
            Delivery::Sequenced => Some(""),
            Delivery::Latest(key) => Some(key),
            _ => None,
        }
    }
}

/// The next sequence number for a `Sequenced` frame: the microseconds since the Unix epoch,
/// made strictly increasing in this process, so the nodes of a cluster roughly agree.
pub(crate) fn next_seq() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        });
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Which stream a latest value supersedes: a hash of its name and key, the same on every node.
pub(crate) fn latest_slot(name: &str, key: &str) -> u64 {
    // SipHash with fixed keys, as for channels: every node and every run agree.
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

/// The pairs of name and key a receiver remembers by default.
pub(crate) const MAX_REMEMBERED: usize = 4096;

/// The receiver's rule: the highest sequence number handled for each name and key, and a
/// frame at or below it is stale. Bounded: when full, the half with the lowest numbers goes at
/// once, so a peer that sends a new key in every frame costs a scan per half-fill, not per
/// frame.
#[derive(Debug)]
pub(crate) struct Freshness {
    newest: HashMap<u64, u64>,
    max: usize,
}

impl Freshness {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            newest: HashMap::new(),
            max: max.max(1),
        }
    }

    /// Whether a value stamped `seq` for `name` and `key` is newer than any handled so far;
    /// if so it becomes the newest.
    pub(crate) fn admit(&mut self, name: &str, key: &str, seq: u64) -> bool {
        // Pairs are told apart by a 64-bit hash: nothing is allocated per frame, and a
        // collision could only make a peer's own values look stale to itself.
        let pair = latest_slot(name, key);
        if let Some(newest) = self.newest.get_mut(&pair) {
            return Self::advance(newest, seq);
        }
        if self.newest.len() >= self.max {
            let mut seqs: Vec<u64> = self.newest.values().copied().collect();
            let middle = seqs.len().saturating_sub(1) / 2;
            let (_, cut, _) = seqs.select_nth_unstable(middle);
            let cut = *cut;
            self.newest.retain(|_, seq| *seq > cut);
        }
        self.newest.insert(pair, seq);
        true
    }

    fn advance(newest: &mut u64, seq: u64) -> bool {
        if seq <= *newest {
            return false;
        }
        *newest = seq;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_at_or_below_the_newest_of_its_name_and_key_is_stale() {
        let mut fresh = Freshness::new(MAX_REMEMBERED);
        assert!(fresh.admit("pos", "", 5));
        assert!(!fresh.admit("pos", "", 5), "a duplicate");
        assert!(!fresh.admit("pos", "", 4), "older");
        assert!(fresh.admit("pos", "", 9));
        assert!(fresh.admit("pos", "p2", 1), "another key has its own order");
        assert!(fresh.admit("snap", "", 2), "another name too");
        assert!(!fresh.admit("pos", "p2", 1));
    }

    #[test]
    fn when_full_the_half_with_the_lowest_numbers_is_forgotten() {
        let mut fresh = Freshness::new(4);
        for (key, seq) in [("a", 10), ("b", 20), ("c", 30), ("d", 40)] {
            assert!(fresh.admit(key, "", seq));
        }
        assert!(fresh.admit("e", "", 50), "a fifth pair makes room");
        for (key, seq) in [("c", 30), ("d", 40), ("e", 50)] {
            assert!(
                !fresh.admit(key, "", seq),
                "{key}, in the newer half, is remembered"
            );
        }
        assert!(
            fresh.admit("a", "", 1),
            "a, in the older half, was forgotten: its stale value passes once"
        );
    }

    #[test]
    fn sequence_numbers_strictly_increase_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| next_seq()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<u64> = Vec::new();
        for thread in threads {
            let seen = thread.join().unwrap_or_default();
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "increasing per thread"
            );
            all.extend(seen);
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "no number given twice");
    }
}
