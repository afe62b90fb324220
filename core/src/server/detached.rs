//! The sessions waiting for a resume, oldest first, under two caps: all of them, and those of
//! one source address. Each dropped connection leaves a session for the recovery window, so a
//! client that connects and drops in a loop would otherwise grow memory without bound; past a
//! cap, the oldest session of the set that is full ends first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::transport::source_key;

/// Why a session waiting for a resume ended before its recovery window ran out, as
/// [`ServerBuilder::on_session_evicted`](crate::ServerBuilder::on_session_evicted) hears it.
/// Its disconnect handler runs next, and a later resume gets a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Eviction {
    /// [`RecoveryConfig::max_detached`](crate::RecoveryConfig::max_detached) sessions
    /// waited; this was the oldest.
    TooManyWaiting,
    /// [`RecoveryConfig::max_detached_per_source`](crate::RecoveryConfig::max_detached_per_source)
    /// sessions from its source address waited; this was their oldest.
    TooManyFromSource,
    /// Its events would have taken the buffers of all waiting sessions past
    /// [`RecoveryConfig::max_detached_bytes`](crate::RecoveryConfig::max_detached_bytes).
    MemoryBudget,
    /// Events emitted to it since the drop filled its own buffer
    /// ([`RecoveryConfig::buffer`](crate::RecoveryConfig::buffer)): it would miss one.
    BufferFull,
}

/// The caps of a [`DetachedSessions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) total: usize,
    pub(crate) per_source: usize,
}

/// Detached sessions by age, keyed by `K` (a socket id), holding `V` (the socket).
pub(crate) struct DetachedSessions<K, V> {
    inner: Mutex<Queue<K, V>>,
}

struct Queue<K, V> {
    next_age: u64,
    by_age: BTreeMap<u64, (K, V)>,
    entries: HashMap<K, (u64, Option<IpAddr>)>,
    by_source: HashMap<IpAddr, BTreeSet<u64>>,
}

impl<K: Copy + Eq + Hash, V> Default for DetachedSessions<K, V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Queue {
                next_age: 0,
                by_age: BTreeMap::new(),
                entries: HashMap::new(),
                by_source: HashMap::new(),
            }),
        }
    }
}

impl<K: Copy + Eq + Hash, V> DetachedSessions<K, V> {
    /// Adds a session that just detached, if `still_detached` says it has not moved on
    /// already; returns the sessions it displaces, oldest first, and which cap each passed,
    /// for the caller to end.
    ///
    /// `still_detached` runs under the lock that [`remove`](Self::remove) takes, so a resume
    /// that removes the session after its own phase change can never leave it counted here.
    pub(crate) fn add(
        &self,
        key: K,
        value: V,
        source: Option<IpAddr>,
        caps: Caps,
        still_detached: impl FnOnce() -> bool,
    ) -> Vec<(V, Eviction)> {
        let mut queue = self.lock();
        if !still_detached() || queue.entries.contains_key(&key) {
            return Vec::new();
        }
        let source = source.map(source_key);
        let age = queue.next_age;
        queue.next_age += 1;
        queue.by_age.insert(age, (key, value));
        queue.entries.insert(key, (age, source));
        let mut displaced = Vec::new();
        if let Some(source) = source {
            queue.by_source.entry(source).or_default().insert(age);
            while queue.by_source.get(&source).map_or(0, BTreeSet::len) > caps.per_source {
                let oldest = queue
                    .by_source
                    .get(&source)
                    .and_then(|ages| ages.first().copied());
                let taken = oldest.and_then(|age| queue.take(age));
                displaced.extend(taken.map(|value| (value, Eviction::TooManyFromSource)));
            }
        }
        while queue.by_age.len() > caps.total {
            let oldest = queue.by_age.first_key_value().map(|(age, _)| *age);
            let taken = oldest.and_then(|age| queue.take(age));
            displaced.extend(taken.map(|value| (value, Eviction::TooManyWaiting)));
        }
        displaced
    }

    /// Forgets a session that left the detached phase: resumed, or ended.
    pub(crate) fn remove(&self, key: K) {
        let mut queue = self.lock();
        if let Some((age, _)) = queue.entries.get(&key).copied() {
            queue.take(age);
        }
    }

    /// How many sessions wait, in all and from `source`.
    pub(crate) fn count(&self, source: Option<IpAddr>) -> (usize, usize) {
        let queue = self.lock();
        let from_source = source
            .map(source_key)
            .and_then(|source| queue.by_source.get(&source))
            .map_or(0, BTreeSet::len);
        (queue.by_age.len(), from_source)
    }

    fn lock(&self) -> MutexGuard<'_, Queue<K, V>> {
        // Map operations only, and the caller's phase check.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Copy + Eq + Hash, V> Queue<K, V> {
    fn take(&mut self, age: u64) -> Option<V> {
        let (key, value) = self.by_age.remove(&age)?;
        if let Some((_, Some(source))) = self.entries.remove(&key)
            && let Some(ages) = self.by_source.get_mut(&source)
        {
            ages.remove(&age);
            if ages.is_empty() {
                self.by_source.remove(&source);
            }
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        total: 4,
        per_source: 2,
    };

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    fn add(
        set: &DetachedSessions<u32, u32>,
        id: u32,
        source: Option<IpAddr>,
    ) -> Vec<(u32, Eviction)> {
        set.add(id, id, source, CAPS, || true)
    }

    #[test]
    fn past_the_per_source_cap_that_sources_oldest_session_ends() {
        let set = DetachedSessions::default();
        assert!(add(&set, 1, ip(1)).is_empty());
        assert!(add(&set, 2, ip(2)).is_empty());
        assert!(add(&set, 3, ip(1)).is_empty());
        assert_eq!(
            add(&set, 4, ip(1)),
            vec![(1, Eviction::TooManyFromSource)],
            "the third from 10.0.0.1"
        );
        assert_eq!(set.count(ip(1)), (3, 2));
        assert_eq!(set.count(ip(2)), (3, 1));
    }

    #[test]
    fn past_the_total_cap_the_oldest_session_of_all_ends() {
        let set = DetachedSessions::default();
        for id in 1..=4 {
            assert!(add(&set, id, ip(id as u8)).is_empty());
        }
        assert_eq!(add(&set, 5, None), vec![(1, Eviction::TooManyWaiting)]);
        assert_eq!(add(&set, 6, ip(9)), vec![(2, Eviction::TooManyWaiting)]);
        assert_eq!(set.count(ip(1)), (4, 0), "1 left its source's count too");
    }

    #[test]
    fn a_removed_session_no_longer_counts_and_is_never_displaced() {
        let set = DetachedSessions::default();
        add(&set, 1, ip(1));
        add(&set, 2, ip(1));
        set.remove(1);
        set.remove(1);
        assert_eq!(set.count(ip(1)), (1, 1));
        assert!(add(&set, 3, ip(1)).is_empty());
        assert_eq!(add(&set, 4, ip(1)), vec![(2, Eviction::TooManyFromSource)]);
    }

    #[test]
    fn a_session_that_moved_on_before_it_was_added_is_not_counted() {
        let set = DetachedSessions::<u32, u32>::default();
        assert!(set.add(1, 1, ip(1), CAPS, || false).is_empty());
        assert_eq!(set.count(ip(1)), (0, 0));
    }
}
