//! What the devices did, counted across the fleet and printed once a second as one JSON line.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// The fleet's counters.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) connected: AtomicU64,
    pub(crate) readings: AtomicU64,
    pub(crate) reading_errors: AtomicU64,
    pub(crate) alerts_raised: AtomicU64,
    pub(crate) alerts_acked: AtomicU64,
    pub(crate) duplicate_acks: AtomicU64,
    pub(crate) alert_retries: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) recovered: AtomicU64,
    pub(crate) finished: AtomicU64,
    /// Each command id and the devices it reached.
    commands: Mutex<HashMap<u64, HashSet<u32>>>,
    duplicate_commands: AtomicU64,
}

/// One report line.
#[derive(Serialize)]
struct Report {
    connected: u64,
    readings: u64,
    reading_errors: u64,
    alerts_raised: u64,
    alerts_acked: u64,
    duplicate_acks: u64,
    alert_retries: u64,
    reconnects: u64,
    recovered: u64,
    finished: u64,
    /// Each command id with how many devices it reached.
    commands: HashMap<u64, usize>,
    duplicate_commands: u64,
}

impl Tally {
    /// Counts command `id` reaching device `n`; `false` if it had reached it before.
    pub(crate) fn command(&self, id: u64, n: u32) -> bool {
        let fresh = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default()
            .insert(n);
        if !fresh {
            self.duplicate_commands.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    /// The counters as one JSON line.
    pub(crate) fn line(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(&id, devices)| (id, devices.len()))
            .collect();
        let report = Report {
            connected: get(&self.connected),
            readings: get(&self.readings),
            reading_errors: get(&self.reading_errors),
            alerts_raised: get(&self.alerts_raised),
            alerts_acked: get(&self.alerts_acked),
            duplicate_acks: get(&self.duplicate_acks),
            alert_retries: get(&self.alert_retries),
            reconnects: get(&self.reconnects),
            recovered: get(&self.recovered),
            finished: get(&self.finished),
            commands,
            duplicate_commands: get(&self.duplicate_commands),
        };
        serde_json::to_string(&report).unwrap_or_default()
    }
}

/// Adds one to `counter`.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
