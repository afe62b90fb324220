//! What the server knows of its devices: last seen, last reading, the alerts acted on, and
//! the readings of the current second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use quicket_examples::iot::{DeviceRow, GroupStat, Stats};
use quicket_examples::web::unix_ms;

/// The fleet as the server sees it.
#[derive(Default)]
pub(crate) struct Fleet {
    devices: Mutex<HashMap<String, Known>>,
    second: Mutex<Second>,
    readings: AtomicU64,
    alerts: AtomicU64,
    duplicate_alerts: AtomicU64,
    commands: AtomicU64,
}

struct Known {
    group: String,
    last_seen: u64,
    value: Option<f32>,
    /// The highest alert id acted on: a device sends its alerts one at a time, in order, and
    /// resends one until it is acked, so anything not above this is a resend.
    last_alert: u64,
}

/// The readings of the second under way, per group.
#[derive(Default)]
struct Second {
    count: u32,
    groups: HashMap<String, (f64, u32)>,
}

impl Fleet {
    /// Notes that `device` of `group` is here now.
    pub(crate) fn seen(&self, device: &str, group: &str) {
        let mut devices = lock(&self.devices);
        let known = devices.entry(device.to_owned()).or_insert_with(|| Known {
            group: group.to_owned(),
            last_seen: 0,
            value: None,
            last_alert: 0,
        });
        known.group = group.to_owned();
        known.last_seen = unix_ms();
    }

    /// Counts a reading from `device` of `group`.
    pub(crate) fn reading(&self, device: &str, group: &str, value: f32) {
        self.readings.fetch_add(1, Ordering::Relaxed);
        {
            let mut second = lock(&self.second);
            second.count += 1;
            let sum = second.groups.entry(group.to_owned()).or_default();
            sum.0 += f64::from(value);
            sum.1 += 1;
        }
        if let Some(known) = lock(&self.devices).get_mut(device) {
            known.last_seen = unix_ms();
            known.value = Some(value);
        }
    }

    /// Records alert `id` of `device`; `false` when it was acted on already.
    pub(crate) fn alert(&self, device: &str, id: u64) -> bool {
        let mut devices = lock(&self.devices);
        let Some(known) = devices.get_mut(device) else {
            return false;
        };
        if id <= known.last_alert {
            self.duplicate_alerts.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        known.last_alert = id;
        self.alerts.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A fresh command id.
    pub(crate) fn next_command(&self) -> u64 {
        self.commands.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Every device known, with `online` telling which are.
    pub(crate) fn rows(&self, online: impl Fn(&str) -> bool) -> Vec<DeviceRow> {
        let mut rows: Vec<DeviceRow> = lock(&self.devices)
            .iter()
            .map(|(id, known)| DeviceRow {
                id: id.clone(),
                group: known.group.clone(),
                online: online(id),
                last_seen: known.last_seen,
                value: known.value,
            })
            .collect();
        rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        rows
    }

    /// The totals, and the second under way, which this ends when `roll` is set.
    pub(crate) fn stats(&self, online: usize, roll: bool) -> Stats {
        let second = {
            let mut second = lock(&self.second);
            if roll {
                std::mem::take(&mut *second)
            } else {
                Second {
                    count: second.count,
                    groups: second.groups.clone(),
                }
            }
        };
        let mut groups: Vec<GroupStat> = second
            .groups
            .into_iter()
            .map(|(group, (sum, count))| GroupStat {
                group,
                #[expect(clippy::cast_possible_truncation, reason = "a mean temperature")]
                mean: (sum / f64::from(count.max(1))) as f32,
                count,
            })
            .collect();
        groups.sort_unstable_by(|a, b| a.group.cmp(&b.group));
        Stats {
            t: unix_ms(),
            rate: second.count,
            readings: self.readings.load(Ordering::Relaxed),
            alerts: self.alerts.load(Ordering::Relaxed),
            duplicate_alerts: self.duplicate_alerts.load(Ordering::Relaxed),
            online: u32::try_from(online).unwrap_or(u32::MAX),
            groups,
        }
    }
}

/// A lock whose data stays consistent even if a holder panicked: each update is one step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
