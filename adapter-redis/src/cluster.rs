//! The other nodes: which are alive, and questions put to all of them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use crate::wire::{Answer, Reply};

/// When each other node was last heard from. Every message counts; a node heartbeats three
/// times per TTL even when idle.
#[derive(Default)]
pub(crate) struct Peers {
    heard: Mutex<HashMap<u64, Instant>>,
}

impl Peers {
    /// Notes a message from `node`; whether it was new.
    pub(crate) fn heard(&self, node: u64) -> bool {
        lock(&self.heard).insert(node, Instant::now()).is_none()
    }

    /// The nodes heard from within `ttl`.
    pub(crate) fn alive(&self, ttl: Duration) -> HashSet<u64> {
        let now = Instant::now();
        lock(&self.heard)
            .iter()
            .filter(|(_, at)| now.duration_since(**at) <= ttl)
            .map(|(node, _)| *node)
            .collect()
    }

    /// Takes out the nodes silent for longer than `ttl`.
    pub(crate) fn take_silent(&self, ttl: Duration) -> Vec<u64> {
        let now = Instant::now();
        let mut heard = lock(&self.heard);
        let silent: Vec<u64> = heard
            .iter()
            .filter(|(_, at)| now.duration_since(**at) > ttl)
            .map(|(node, _)| *node)
            .collect();
        for node in &silent {
            heard.remove(node);
        }
        silent
    }

    /// Forgets a node that said goodbye.
    pub(crate) fn forget(&self, node: u64) {
        lock(&self.heard).remove(&node);
    }

    /// Counts every known node as just heard: this node was cut off from Redis, so their
    /// silence meant nothing.
    pub(crate) fn pardon_all(&self) {
        let now = Instant::now();
        lock(&self.heard).values_mut().for_each(|at| *at = now);
    }
}

type Waiting = Arc<Mutex<HashMap<u64, mpsc::Sender<(u64, Answer)>>>>;

/// Questions this node put to the others, by id, awaiting answers.
#[derive(Default)]
pub(crate) struct Requests {
    next: AtomicU64,
    waiting: Waiting,
}

impl Requests {
    /// Opens a question expecting up to `answers` answers.
    pub(crate) fn open(&self, answers: usize) -> Pending {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, answers_rx) = mpsc::channel(answers.max(1) + 4);
        lock(&self.waiting).insert(id, tx);
        Pending {
            id,
            answers: answers_rx,
            waiting: self.waiting.clone(),
        }
    }

    /// Hands an answer to its question; an answer to a question no longer open is dropped.
    pub(crate) fn answer(&self, from: u64, reply: Reply) {
        let tx = lock(&self.waiting).get(&reply.id).cloned();
        if let Some(tx) = tx {
            let _late_or_extra = tx.try_send((from, reply.answer));
        }
    }
}

/// An open question. Dropping it closes it.
pub(crate) struct Pending {
    pub(crate) id: u64,
    answers: mpsc::Receiver<(u64, Answer)>,
    waiting: Waiting,
}

impl Pending {
    /// Waits for an answer from each of `nodes`, or until `deadline`; the answers that came.
    pub(crate) async fn collect(self, nodes: HashSet<u64>, deadline: Instant) -> Vec<Answer> {
        self.collect_from(nodes, deadline)
            .await
            .into_iter()
            .map(|(_, answer)| answer)
            .collect()
    }

    /// [`Pending::collect`], with the node each answer came from.
    pub(crate) async fn collect_from(
        mut self,
        nodes: HashSet<u64>,
        deadline: Instant,
    ) -> Vec<(u64, Answer)> {
        let mut missing = nodes;
        let mut answers = Vec::new();
        while !missing.is_empty() {
            match timeout_at(deadline, self.answers.recv()).await {
                Ok(Some((from, answer))) => {
                    missing.remove(&from);
                    answers.push((from, answer));
                }
                Ok(None) | Err(_) => break,
            }
        }
        if !missing.is_empty() {
            tracing::debug!(missing = missing.len(), "nodes did not answer in time");
        }
        answers
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.waiting).remove(&self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Single map operations only.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
