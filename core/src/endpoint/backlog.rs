//! The frames that wait for a handler slot, bounded by count and bytes per connection and by
//! a byte budget shared by every connection of a server.
//!
//! A full backlog stops reading from its connection, so the transport's flow control holds the
//! peer back. A peer whose handlers never catch up (or who floods them on purpose) would keep
//! the connection stalled forever: when reading has been held back and no event has left the
//! backlog for a deadline, it is disconnected with `Flooding`. A connection held back only by
//! the server's shared budget still takes events off its backlog as its handlers finish, so
//! other connections' floods never get it disconnected.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use quicket_proto::{Event, Frame};

use crate::config::ConnectionLimits;

/// Bytes of waiting frames across connections, against one cap.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicUsize,
    max: usize,
}

impl ByteBudget {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            max,
        }
    }

    fn exhausted(&self) -> bool {
        self.used.load(Ordering::Relaxed) >= self.max
    }

    fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// What waits in the backlog, in arrival order.
pub(crate) enum Inbound {
    /// An event, with the channel whose offset it counts toward (PROTOCOL.md 10.6) when it
    /// does: it came on an ordered channel and needs no ack; and when it was read, which its
    /// handler's duration counts from.
    Event(Event, Counted, Instant),
    /// A frame for the peer's own handling (presence requests), after what came before it.
    Request(Frame),
    /// An event refused for the rate limit: not handled, but counted in its place when it
    /// counts toward the session's offset.
    Refused(Counted),
}

/// The ordered channel whose offset an event counts toward, if it counts.
pub(crate) type Counted = Option<u16>;

impl Inbound {
    /// Whether it is still worth handling once the connection closes: an event that wants
    /// no reply was sent before the goodbye and counts.
    pub(crate) fn survives_close(&self) -> bool {
        match self {
            Inbound::Event(event, ..) => event.ack.is_none(),
            Inbound::Refused(counted) => counted.is_some(),
            Inbound::Request(_) => false,
        }
    }
}

/// One connection's backlog.
pub(crate) struct Backlog {
    queue: VecDeque<(Inbound, usize)>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    shared: Arc<ByteBudget>,
    stall_limit: Duration,
    /// Since when reading has been held back with no event leaving the backlog.
    stalled_since: Option<Instant>,
}

impl Backlog {
    pub(crate) fn new(limits: &ConnectionLimits, shared: Arc<ByteBudget>) -> Self {
        Self {
            queue: VecDeque::new(),
            bytes: 0,
            max_events: limits.max_buffered_events.max(1),
            max_bytes: limits.max_buffered_bytes.max(1),
            shared,
            stall_limit: limits.backlog_timeout,
            stalled_since: None,
        }
    }

    /// Whether the connection may read another frame: this backlog is under its own caps, and
    /// the server's budget has room unless this backlog is empty, so every connection can
    /// always have one frame in hand however many others are full.
    pub(crate) fn has_room(&self) -> bool {
        self.queue.len() < self.max_events
            && self.bytes < self.max_bytes
            && (self.queue.is_empty() || !self.shared.exhausted())
    }

    /// Adds a frame that took `size` bytes on the wire; a refused event holds none of them.
    pub(crate) fn push(&mut self, inbound: Inbound, size: usize) {
        let size = if matches!(inbound, Inbound::Refused(_)) {
            0
        } else {
            size
        };
        self.bytes += size;
        self.shared.charge(size);
        self.queue.push_back((inbound, size));
    }

    /// Takes the oldest frame.
    pub(crate) fn pop(&mut self) -> Option<Inbound> {
        let (inbound, size) = self.queue.pop_front()?;
        self.bytes -= size;
        self.shared.release(size);
        self.stalled_since = None;
        Some(inbound)
    }

    /// Keeps only the frames `keep` approves.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Inbound) -> bool) {
        let (bytes, shared) = (&mut self.bytes, &self.shared);
        self.queue.retain(|(inbound, size)| {
            let kept = keep(inbound);
            if !kept {
                *bytes -= size;
                shared.release(*size);
            }
            kept
        });
    }

    /// Notes whether reading is held back at `now`; returns when the stall becomes too long,
    /// counted from the later of when reading stopped and when an event last left, or `None`
    /// while the backlog has room.
    pub(crate) fn stall_deadline(&mut self, now: Instant) -> Option<Instant> {
        if self.has_room() {
            self.stalled_since = None;
            return None;
        }
        let since = *self.stalled_since.get_or_insert(now);
        Some(since + self.stall_limit)
    }

    /// The frames still waiting, in order; the backlog is empty afterwards.
    pub(crate) fn drain(&mut self) -> Vec<Inbound> {
        let mut drained = Vec::with_capacity(self.queue.len());
        while let Some(inbound) = self.pop() {
            drained.push(inbound);
        }
        drained
    }
}

impl Drop for Backlog {
    fn drop(&mut self) {
        self.shared.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn event(size: usize) -> Inbound {
        Inbound::Event(
            Event {
                name: "e".into(),
                ack: None,
                data: Bytes::from(vec![0; size]),
            },
            Some(0),
            Instant::now(),
        )
    }

    fn limits(events: usize, bytes: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_buffered_events: events,
            max_buffered_bytes: bytes,
            backlog_timeout: Duration::from_secs(5),
            ..ConnectionLimits::default()
        }
    }

    #[test]
    fn reading_stops_at_the_byte_cap_and_resumes_below_it() {
        let budget = Arc::new(ByteBudget::new(usize::MAX));
        let mut backlog = Backlog::new(&limits(100, 1000), budget);
        backlog.push(event(600), 600);
        assert!(backlog.has_room());
        backlog.push(event(600), 600);
        assert!(!backlog.has_room(), "1,200 bytes wait, over 1,000");
        assert!(backlog.pop().is_some());
        assert!(backlog.has_room());
    }

    #[test]
    fn the_shared_budget_stops_full_backlogs_but_never_an_empty_one() {
        let budget = Arc::new(ByteBudget::new(1000));
        let mut greedy = Backlog::new(&limits(100, 1 << 20), Arc::clone(&budget));
        let mut quiet = Backlog::new(&limits(100, 1 << 20), Arc::clone(&budget));
        greedy.push(event(1000), 1000);
        assert!(!greedy.has_room(), "the server's budget is spent");
        assert!(
            quiet.has_room(),
            "an empty backlog may always take one frame"
        );
        quiet.push(event(10), 10);
        assert!(!quiet.has_room());
        drop(greedy);
        assert!(quiet.has_room(), "a dropped backlog gives its bytes back");
        quiet.retain(|_| false);
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_stall_has_a_deadline_from_when_it_began_until_there_is_room_again() {
        let budget = Arc::new(ByteBudget::new(usize::MAX));
        let mut backlog = Backlog::new(&limits(1, 1 << 20), budget);
        let start = Instant::now();
        assert_eq!(backlog.stall_deadline(start), None);
        backlog.push(event(1), 1);
        let later = start + Duration::from_secs(2);
        assert_eq!(
            backlog.stall_deadline(start),
            Some(start + Duration::from_secs(5))
        );
        assert_eq!(
            backlog.stall_deadline(later),
            Some(start + Duration::from_secs(5)),
            "the deadline counts from the stall's start"
        );
        backlog.pop();
        assert_eq!(backlog.stall_deadline(later), None);
        backlog.push(event(1), 1);
        assert_eq!(
            backlog.stall_deadline(later),
            Some(later + Duration::from_secs(5))
        );
    }

    #[test]
    fn an_event_leaving_a_backlog_that_stays_full_starts_its_stall_over() {
        let budget = Arc::new(ByteBudget::new(usize::MAX));
        let mut backlog = Backlog::new(&limits(1, 1 << 20), budget);
        let start = Instant::now();
        backlog.push(event(1), 1);
        backlog.push(event(1), 1);
        let deadline = backlog.stall_deadline(start);
        assert_eq!(deadline, Some(start + Duration::from_secs(5)));
        let later = start + Duration::from_secs(4);
        backlog.pop();
        assert_eq!(
            backlog.stall_deadline(later),
            Some(later + Duration::from_secs(5)),
            "a handler finished: the peer is not stuck"
        );
    }
}
