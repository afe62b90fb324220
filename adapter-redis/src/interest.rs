//! The rooms a node follows: those it has members in. It mirrors their presence and, on a
//! Redis Cluster, listens on their channels. Joins and leaves mark a room; one task brings
//! the node in line.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::node::{Inner, lock};
use crate::presence;

/// How long the task waits before trying a subscription that failed (Redis away) again.
const RETRY: Duration = Duration::from_millis(250);

/// Rooms whose membership on this node changed, and how far the task has caught up.
pub(crate) struct Interest {
    /// Rooms to look at again. Bounded by the rooms this node's sockets are in or left.
    marked: Mutex<HashSet<String>>,
    wake: Notify,
    /// Counts the marks made.
    asked: AtomicU64,
    /// Every followed room must be followed again: the link to Redis was lost.
    again: AtomicBool,
    /// The count of marks the subscriptions reflect.
    done: watch::Sender<u64>,
}

impl Default for Interest {
    fn default() -> Self {
        Self {
            marked: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            asked: AtomicU64::new(0),
            again: AtomicBool::new(false),
            done: watch::Sender::new(0),
        }
    }
}

impl Interest {
    /// This node's membership of `room` may have changed.
    pub(crate) fn mark(&self, room: &str) {
        let mut marked = lock(&self.marked);
        if !marked.contains(room) {
            marked.insert(room.to_owned());
        }
        self.asked.fetch_add(1, Ordering::AcqRel);
        drop(marked);
        self.wake.notify_one();
    }

    /// Follows every room again (its channel, its presence): after an outage, a restarted
    /// shard knows none of this node's subscriptions, and the client's own resubscription
    /// cannot be relied on to have reached it.
    pub(crate) fn follow_again(&self) {
        self.again.store(true, Ordering::Release);
        self.asked.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// Wakes the task, to see that its node is gone.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until the subscriptions reflect every mark made before the call.
    pub(crate) async fn settled(&self) {
        let wanted = self.asked.load(Ordering::Acquire);
        let mut done = self.done.subscribe();
        // The task never ends while the node lives; if it did, there is nothing to wait for.
        let _ = done.wait_for(|done| *done >= wanted).await;
    }
}

/// Follows every room this node has members in, and stops following the rest, as rooms are
/// marked; while the node lives (its drop wakes the task to end).
pub(crate) async fn follow(node: Weak<Inner>, interest: Arc<Interest>) {
    let mut followed: HashSet<String> = HashSet::new();
    loop {
        let notified = interest.wake.notified();
        let Some(inner) = node.upgrade() else {
            return;
        };
        let asked = interest.asked.load(Ordering::Acquire);
        let mut rooms: Vec<String> = lock(&interest.marked).drain().collect();
        if interest.again.swap(false, Ordering::AcqRel) {
            rooms.extend(followed.drain());
        }
        let mut failed = false;
        for room in rooms {
            if !bring_in_line(&inner, &mut followed, &room).await {
                failed = true;
                interest.mark_quietly(room);
            }
        }
        if failed {
            drop(inner);
            tokio::time::sleep(RETRY).await;
            continue;
        }
        interest.done.send_replace(asked);
        drop(inner);
        notified.await;
    }
}

impl Interest {
    /// Marks a room again after a failed attempt, without counting a new mark.
    fn mark_quietly(&self, room: String) {
        lock(&self.marked).insert(room);
    }
}

/// Starts or stops following `room` as this node's membership says: its channel (on a
/// Cluster) and its presence; `false` when Redis refused.
async fn bring_in_line(inner: &Arc<Inner>, followed: &mut HashSet<String>, room: &str) -> bool {
    let wanted = inner.local.has_room(room);
    if wanted == followed.contains(room) {
        return true;
    }
    let sharded = inner.bus.conn.sharded();
    let channel = inner.bus.keys.room_channel(room);
    let mut conn = inner.bus.conn.clone();
    if !wanted {
        if sharded && let Err(err) = conn.unsubscribe(&channel).await {
            tracing::warn!(%err, room, "a room's channel unsubscription failed; retrying");
            return false;
        }
        followed.remove(room);
        presence::drop_room(inner, room).await;
        return true;
    }
    // Listening first, then loading: a change told in between is in both, and applying it
    // twice changes nothing.
    let listening = if sharded {
        conn.subscribe(&channel).await
    } else {
        Ok(())
    };
    let loaded = match listening {
        Ok(()) => presence::load_room(inner, room).await,
        Err(err) => Err(err),
    };
    if let Err(err) = loaded {
        tracing::warn!(%err, room, "following a room failed; retrying");
        return false;
    }
    followed.insert(room.to_owned());
    true
}
