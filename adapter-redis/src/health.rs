//! Whether a node can reach Redis, and what it lost while it could not.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A node's view of its Redis connection, for an app's health endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// This node's id in the cluster.
    pub node: u64,
    /// Whether the node can reach Redis now. While it cannot, local delivery goes on and
    /// cross-node traffic is lost.
    pub redis_connected: bool,
    /// How long Redis has been unreachable, while it is.
    pub down_for: Option<Duration>,
    /// Other nodes heard from within the node TTL.
    pub peers: usize,
    /// Times the connection to Redis was lost.
    pub outages: u64,
    /// How long the last finished outage lasted.
    pub last_outage: Option<Duration>,
    /// Cross-node broadcasts this node could not publish (Redis away, or its queue full).
    pub lost_broadcasts: u64,
    /// Messages from other nodes dropped because this node's inbound queue was full.
    pub dropped_inbound: u64,
}

/// The counters behind [`Health`].
#[derive(Debug)]
pub(crate) struct HealthState {
    up: AtomicBool,
    down_since: Mutex<Option<Instant>>,
    last_outage: Mutex<Option<Duration>>,
    outages: AtomicU64,
    pub(crate) lost_broadcasts: AtomicU64,
    pub(crate) dropped_inbound: AtomicU64,
    /// Lost broadcasts when the current outage began, for its log line.
    lost_at_down: AtomicU64,
    /// Counts the moments cross-node messages may have been lost (an outage, a full inbound
    /// queue): relayed connections cannot survive a gap, so each such moment breaks them.
    breaks: watch::Sender<u64>,
    /// Counts the changes a [`HealthWatch`] wakes for.
    changes: watch::Sender<u64>,
}

impl HealthState {
    pub(crate) fn new() -> Self {
        Self {
            up: AtomicBool::new(true),
            down_since: Mutex::new(None),
            last_outage: Mutex::new(None),
            outages: AtomicU64::new(0),
            lost_broadcasts: AtomicU64::new(0),
            dropped_inbound: AtomicU64::new(0),
            lost_at_down: AtomicU64::new(0),
            breaks: watch::Sender::new(0),
            changes: watch::Sender::new(0),
        }
    }

    /// Something [`Health`] reports changed: Redis lost or back, a node heard or gone.
    pub(crate) fn changed(&self) {
        self.changes.send_modify(|count| *count += 1);
    }

    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Cross-node messages may have been lost just now.
    pub(crate) fn broke(&self) {
        self.breaks.send_modify(|count| *count += 1);
    }

    /// Hears every [`HealthState::broke`].
    pub(crate) fn breaks(&self) -> watch::Receiver<u64> {
        self.breaks.subscribe()
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Redis failed a command or dropped the connection. Returns whether this began an outage.
    pub(crate) fn down(&self, why: &dyn std::fmt::Display) -> bool {
        if !self.up.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.broke();
        crate::meters::redis_up(false);
        *lock(&self.down_since) = Some(Instant::now());
        self.outages.fetch_add(1, Ordering::Relaxed);
        self.changed();
        self.lost_at_down.store(
            self.lost_broadcasts.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        tracing::warn!(%why, "Redis is unreachable: cross-node traffic is lost until it is back; local delivery goes on");
        true
    }

    /// Redis answered. Returns the outage this ended, if any.
    pub(crate) fn up(&self) -> Option<Duration> {
        if self.up.swap(true, Ordering::AcqRel) {
            return None;
        }
        crate::meters::redis_up(true);
        let outage = lock(&self.down_since).take().map(|since| since.elapsed());
        *lock(&self.last_outage) = outage;
        self.changed();
        let lost = self.lost_broadcasts.load(Ordering::Relaxed)
            - self.lost_at_down.load(Ordering::Relaxed);
        tracing::warn!(
            outage = ?outage,
            lost_broadcasts = lost,
            "Redis is back; cross-node broadcasts published meanwhile were lost"
        );
        outage.or(Some(Duration::ZERO))
    }

    /// How long Redis has been unreachable, while it is.
    pub(crate) fn down_for(&self) -> Option<Duration> {
        lock(&self.down_since).map(|since| since.elapsed())
    }

    pub(crate) fn snapshot(&self, node: u64, peers: usize) -> Health {
        Health {
            node,
            redis_connected: self.is_up(),
            down_for: self.down_for(),
            peers,
            outages: self.outages.load(Ordering::Relaxed),
            last_outage: *lock(&self.last_outage),
            lost_broadcasts: self.lost_broadcasts.load(Ordering::Relaxed),
            dropped_inbound: self.dropped_inbound.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
