//! The receiver's side: when each numbered event arrived, and how often it reconnected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use quicket::{Client, ClientBuilder, ClientConfig, Data, Raw, ReconnectEvent};
use tokio::sync::{mpsc, watch};

use crate::cli::Result;
use crate::scenario::fanout::word;

/// The most arrivals logged; a run sends a few thousand.
const MAX_ARRIVALS: usize = 1 << 18;

/// Every arrival at the receiver, in order: the event's number and when it came.
pub(super) struct Arrivals {
    pub(super) epoch: Instant,
    log: Mutex<Vec<(u64, Duration)>>,
    /// One past the highest number arrived so far.
    reached: watch::Sender<u64>,
    /// Connections the receiver made after its first.
    pub(super) reconnects: AtomicU64,
}

impl Arrivals {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            log: Mutex::default(),
            reached: watch::Sender::new(0),
            reconnects: AtomicU64::new(0),
        })
    }

    fn record(&self, payload: &[u8]) {
        let Some(seq) = word(payload, 0) else {
            return;
        };
        let at = self.epoch.elapsed();
        {
            let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.len() < MAX_ARRIVALS {
                log.push((seq, at));
            }
        }
        self.reached.send_if_modified(|reached| {
            let modified = seq >= *reached;
            *reached = (*reached).max(seq + 1);
            modified
        });
    }

    /// Waits until event `seq` or a later one has arrived.
    pub(super) async fn wait_for(&self, seq: u64, within: Duration) -> Result<()> {
        let mut reached = self.reached.subscribe();
        match tokio::time::timeout(within, reached.wait_for(|r| *r > seq)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(format!("event {seq} did not arrive within {within:?}").into()),
        }
    }

    /// The log so far, in arrival order.
    pub(super) fn take(&self) -> Vec<(u64, Duration)> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A receiver that logs each `msg` here, counts its reconnects, and reports them on the
    /// returned channel.
    pub(super) fn receiver(
        self: &Arc<Self>,
        config: ClientConfig,
    ) -> (ClientBuilder, mpsc::Receiver<ReconnectEvent>) {
        let (tx, events) = mpsc::channel(64);
        let (arrivals, counter) = (Arc::clone(self), Arc::clone(self));
        let builder = Client::builder()
            .config(config)
            .on_reconnect(move |event| {
                if matches!(event, ReconnectEvent::Reconnected { .. }) {
                    counter.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                let _ = tx.try_send(event.clone());
            })
            .on("msg", move |Data(Raw(payload)): Data<Raw>| {
                arrivals.record(&payload);
                async {}
            });
        (builder, events)
    }
}
