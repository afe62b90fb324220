//! Latest values and sequenced events (PROTOCOL.md section 2.3) through packet loss: how far
//! behind the newest value a receiver is, and whether what it handles ever goes backwards.
//!
//! The server sends a steady stream of values to one client (the `pump` event). For each value
//! `i` sent at `t_i`, the receiver's staleness is the time from `t_i` until it first holds
//! value `i` or a newer one. A value lost for good counts from its send time, estimated from
//! its neighbours' on the fixed schedule, until a newer one arrives; values after the last
//! one received are left out.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use quicket::{Client, Data, Raw};
use tokio::sync::Notify;

use crate::cli::{Result, Transport};
use crate::echo::{Pump, Target};
use crate::stats::{Latencies, wall_nanos};

/// The two streams a run measures.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// 2 KiB snapshots every 10 ms: larger than a datagram, so each takes a stream.
    pub(super) latest: Pump,
    /// 64-byte readings every 2 ms, as datagrams.
    pub(super) sequenced: Pump,
}

impl Plan {
    pub(super) fn new(quick: bool) -> Self {
        let seconds = if quick { 1 } else { 5 };
        Self {
            latest: Pump {
                latest: true,
                count: 100 * seconds,
                every_us: 10_000,
                size: 2048,
            },
            sequenced: Pump {
                latest: false,
                count: 500 * seconds,
                every_us: 2_000,
                size: 64,
            },
        }
    }
}

/// What the receiver saw of one stream.
pub(super) struct Outcome {
    pub(super) staleness: Latencies,
    pub(super) sent: u64,
    pub(super) handled: u64,
    /// Values handled after a newer one: the classes promise none.
    pub(super) backwards: u64,
}

/// A value handled: its index, when it left (wall clock), when it was handled.
type Receipt = (u64, u64, u64);

/// One stream of `pump`'s values over `transport`.
pub(super) async fn run(target: &Target, transport: Transport, pump: Pump) -> Result<Outcome> {
    let receipts: Arc<Mutex<Vec<Receipt>>> = Arc::default();
    let progress = Arc::new(Notify::new());
    let (shared, notify) = (Arc::clone(&receipts), Arc::clone(&progress));
    let builder = Client::builder().on("state", move |Data(Raw(value)): Data<Raw>| {
        let index = value
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        let sent = value
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        if let (Some(index), Some(sent)) = (index, sent) {
            let mut receipts = shared.lock().unwrap_or_else(PoisonError::into_inner);
            receipts.push((index, sent, wall_nanos()));
        }
        notify.notify_one();
        async {}
    });
    let client = target.connect(transport, builder).await?;
    client.emit("pump", pump)?;
    let last = u64::from(pump.count) - 1;
    let lasts = Duration::from_micros(u64::from(pump.every_us) * u64::from(pump.count));
    // Bounded: the newest value of a sequenced stream may be lost for good.
    let _ = tokio::time::timeout(lasts + Duration::from_secs(3), async {
        loop {
            let notified = progress.notified();
            let done = receipts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|(index, ..)| *index == last);
            if done {
                return;
            }
            notified.await;
        }
    })
    .await;
    client.disconnect().await;
    let receipts = std::mem::take(&mut *receipts.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(measure(&receipts, pump))
}

/// Staleness of every value up to the last one handled, from the receipts in handling order.
fn measure(receipts: &[Receipt], pump: Pump) -> Outcome {
    let mut newest = None;
    let mut backwards = 0;
    for (index, ..) in receipts {
        if newest.is_some_and(|newest| *index <= newest) {
            backwards += 1;
        }
        newest = newest.max(Some(*index));
    }
    let count = usize::try_from(pump.count).unwrap_or(0);
    let every = u64::from(pump.every_us) * 1000;
    // When each value left, where it was handled; else on the schedule from the one before.
    let mut sent_at: Vec<Option<u64>> = vec![None; count];
    let mut handled_at: Vec<Option<u64>> = vec![None; count];
    for &(index, sent, handled) in receipts {
        if let Some(slot) = usize::try_from(index).ok().filter(|i| *i < count) {
            sent_at[slot] = Some(sent);
            handled_at[slot] = Some(handled.min(handled_at[slot].unwrap_or(u64::MAX)));
        }
    }
    let first_known = sent_at.iter().position(Option::is_some);
    let mut staleness = Latencies::new();
    let (Some(first), Some(newest)) = (first_known, newest) else {
        return Outcome {
            staleness,
            sent: u64::from(pump.count),
            handled: 0,
            backwards,
        };
    };
    let newest = usize::try_from(newest).unwrap_or(0).min(count - 1);
    let mut base = (first, sent_at[first].unwrap_or(0));
    let mut schedule = Vec::with_capacity(newest + 1);
    for (index, sent) in sent_at.iter().enumerate().take(newest + 1) {
        if let Some(sent) = sent {
            base = (index, *sent);
        }
        let steps = index as i64 - base.0 as i64;
        schedule.push(base.1.saturating_add_signed(steps * every as i64));
    }
    // Sweeping down, the earliest moment the receiver held this value or a newer one.
    let mut covered = u64::MAX;
    for index in (0..=newest).rev() {
        covered = covered.min(handled_at[index].unwrap_or(u64::MAX));
        let stale = covered.saturating_sub(schedule[index]);
        staleness.record(Duration::from_nanos(stale));
    }
    Outcome {
        staleness,
        sent: u64::from(pump.count),
        handled: receipts.len() as u64,
        backwards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUMP: Pump = Pump {
        latest: true,
        count: 4,
        every_us: 10_000,
        size: 64,
    };

    #[test]
    fn a_lost_value_is_stale_until_a_newer_one_is_handled() {
        let ms = 1_000_000;
        // Values 0, 2 and 3 each handled 1 ms after they left; value 1 never arrives.
        let receipts = [(0, 0, ms), (2, 20 * ms, 21 * ms), (3, 30 * ms, 31 * ms)];
        let outcome = measure(&receipts, PUMP);
        assert_eq!((outcome.handled, outcome.backwards), (3, 0));
        let summary = outcome.staleness.summary();
        // Value 1 left at 10 ms on the schedule, and value 2 covered it at 21 ms: 11 ms.
        assert!((summary.max_us - 11_000.0).abs() < 100.0, "{summary:?}");
        assert_eq!(outcome.staleness.len(), 4);
    }

    #[test]
    fn a_value_handled_after_a_newer_one_counts_as_backwards() {
        let receipts = [(1, 10, 11), (0, 0, 12), (2, 20, 21)];
        assert_eq!(measure(&receipts, PUMP).backwards, 1);
    }
}
