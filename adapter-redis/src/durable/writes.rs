//! Session records on their way to Redis: the newest write per key, sent in order of
//! generation, retried until Redis takes them, and a watermark of what it took.
//!
//! An anchor that moves a session into or out of a room must be in Redis before the node
//! delivers any later entry of the log, or a node that carries the session on after a death
//! would count that entry against the wrong rooms. The delivering task waits on
//! [`Writes::confirmed_all`] for that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use super::Durable;
use crate::link::Link;
use crate::node::{Inner, lock};

/// How long a write that Redis refused waits before it is tried again.
const RETRY: Duration = Duration::from_millis(200);

/// One key's pending write.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// `SET key value PX ttl`; only over an existing record unless `create`, so that a
    /// record another node claimed is never written back.
    Set {
        value: Bytes,
        create: bool,
        ttl_ms: u64,
    },
    Delete,
}

impl Write {
    /// `self`, queued after `earlier` for the same key: a record created and then updated
    /// before either was sent is still created.
    fn after(self, earlier: Option<&Write>) -> Write {
        let created = matches!(earlier, Some(Write::Set { create: true, .. }));
        match self {
            Write::Set {
                value,
                create,
                ttl_ms,
            } => Write::Set {
                value,
                create: create || created,
                ttl_ms,
            },
            Write::Delete => Write::Delete,
        }
    }
}

/// The writes not yet taken by Redis.
#[derive(Default)]
pub(crate) struct Writes {
    /// By key, and the generation of the newest.
    queue: Mutex<(HashMap<String, Write>, u64)>,
    wake: Notify,
    /// The generation of the newest write Redis took.
    confirmed: watch::Sender<u64>,
    closed: AtomicBool,
}

impl Writes {
    pub(crate) fn queue(&self, key: String, write: Write) {
        let mut queue = lock(&self.queue);
        let write = write.after(queue.0.get(&key));
        queue.0.insert(key, write);
        queue.1 += 1;
        drop(queue);
        self.wake.notify_one();
    }

    /// Waits until Redis took every write queued before the call (or the node closed).
    pub(crate) async fn confirmed_all(&self) {
        let generation = lock(&self.queue).1;
        let mut confirmed = self.confirmed.subscribe();
        let _closed = confirmed.wait_for(|done| *done >= generation).await;
    }

    /// The node is gone: nothing waits for a write any more.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.confirmed.send_replace(u64::MAX);
        self.wake.notify_one();
    }

    fn take(&self) -> (HashMap<String, Write>, u64) {
        let mut queue = lock(&self.queue);
        (std::mem::take(&mut queue.0), queue.1)
    }
}

/// Sends the queued writes while the node lives, each batch retried until Redis takes it.
pub(crate) async fn run(node: Weak<Inner>, durable: Arc<Durable>) {
    let writes = &durable.writes;
    loop {
        let (mut batch, mut generation) = writes.take();
        if batch.is_empty() {
            if writes.closed.load(Ordering::Relaxed) {
                return;
            }
            writes.wake.notified().await;
            continue;
        }
        loop {
            let Some(conn) = node.upgrade().map(|node| node.bus.conn.clone()) else {
                return;
            };
            match send(&conn, &batch).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::debug!(%err, "session anchors not written; trying again");
                    tokio::time::sleep(RETRY).await;
                    let (newer, newest) = writes.take();
                    for (key, write) in newer {
                        let write = write.after(batch.get(&key));
                        batch.insert(key, write);
                    }
                    generation = newest;
                }
            }
        }
        writes.confirmed.send_replace(generation);
    }
}

async fn send(conn: &Link, batch: &HashMap<String, Write>) -> redis::RedisResult<()> {
    let mut commands = conn.batch();
    for (key, write) in batch {
        let mut cmd;
        match write {
            Write::Set {
                value,
                create,
                ttl_ms,
            } => {
                cmd = redis::cmd("SET");
                cmd.arg(key).arg(value.as_ref()).arg("PX").arg(*ttl_ms);
                if !create {
                    cmd.arg("XX");
                }
            }
            Write::Delete => {
                cmd = redis::cmd("DEL");
                cmd.arg(key);
            }
        }
        commands.add(key, cmd);
    }
    commands.send(conn).await
}
