//! A room's presence changes gathered over [`PresenceLimits::diff_batch`], then told as one
//! diff: in a busy room, one frame per batch per subscriber instead of one per change.
//!
//! [`PresenceLimits::diff_batch`]: crate::PresenceLimits::diff_batch

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use super::presence::{Diff, PresenceStore, StoredMeta};

/// The changes of one room since its batch began.
#[derive(Default)]
pub(super) struct Batch {
    /// Metas that joined and are still there, by id.
    joins: BTreeMap<u64, (String, StoredMeta)>,
    /// Metas that were there before the batch and left.
    leaves: Vec<(String, StoredMeta)>,
}

impl Batch {
    /// Adds a change. A meta that joined within the batch and leaves again is never told.
    pub(super) fn merge(&mut self, diff: &Diff) {
        for (key, meta) in &diff.leaves {
            if self.joins.remove(&meta.id).is_none() {
                self.leaves.push((key.clone(), meta.clone()));
            }
        }
        for (key, meta) in &diff.joins {
            self.joins.insert(meta.id, (key.clone(), meta.clone()));
        }
    }

    /// What the batch amounts to.
    pub(super) fn into_diff(self) -> Diff {
        Diff {
            joins: self.joins.into_values().collect(),
            leaves: self.leaves,
        }
    }
}

/// Ends a room's batch when its interval is over, from a task of the runtime.
#[derive(Clone, Default)]
pub(super) struct Flusher {
    store: Weak<Mutex<PresenceStore>>,
}

impl Flusher {
    pub(super) fn new(store: Weak<Mutex<PresenceStore>>) -> Self {
        Self { store }
    }

    /// Flushes `room`'s batch after `interval`; `false` when nothing can (no runtime here,
    /// or the store is gone), and the change must be told at once.
    pub(super) fn schedule(&self, room: &str, interval: Duration) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        if self.store.strong_count() == 0 {
            return false;
        }
        let store = self.store.clone();
        let room = room.to_owned();
        runtime.spawn(async move {
            tokio::time::sleep(interval).await;
            if let Some(store) = store.upgrade() {
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .flush(&room);
            }
        });
        true
    }
}
