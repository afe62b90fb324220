//! One open connection's state, with no I/O and no clock: what the driver reads, dispatches
//! and wakes for.
//!
//! The driver (`driver.rs`) only moves frames and timers. It tells the machine what happened
//! (a frame read, a handler finished, the close begun, the time now) and asks it what to do
//! (whether to read, which frame a handler takes next, when to wake and why). Every decision
//! about the heartbeat, the backlog, the close grace and the peer's last words is made here,
//! so each is tested by feeding the machine instants rather than by waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quicket_proto::DisconnectReason;

use super::backlog::{Backlog, ByteBudget, Inbound};
use super::close::Close;
use super::rate::RateGate;
use crate::config::{ConnectionLimits, RateExceeded, RateLimit};

#[cfg(test)]
mod tests;

/// When to ping, and when to give up on a silent peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    pub(crate) ping_every: Option<Duration>,
    pub(crate) dead_after: Duration,
    /// Whether to ping once at the start, so the round trip is known from the first moments
    /// rather than after the first interval (the client, whose server pings only every 25 s).
    pub(crate) ping_at_start: bool,
}

/// Why the driver woke at a deadline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Send a ping.
    Ping,
    /// Begin this close.
    Close(Close),
    /// The close's grace is over: stop writing what is queued.
    Abandon,
}

/// What a frame read after a failed write tells.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LastWord {
    /// Keep reading what is already there.
    More,
    /// Nothing more worth reading.
    Done,
    /// The peer said goodbye: this, not the failed write, is why the connection ended.
    Goodbye(Close),
}

/// The state of one open connection.
pub(crate) struct Machine {
    heartbeat: Heartbeat,
    backlog: Backlog,
    rate: Option<(RateGate, RateExceeded)>,
    max_handlers: usize,
    /// Handlers started and not yet finished.
    running: usize,
    /// The server's connect handler has not finished: no event is dispatched before it, so
    /// what it registers (handlers, rooms) sees the first event.
    starting: bool,
    reading: bool,
    last_inbound: Instant,
    /// When to check the peer's silence next.
    dead_check: Option<Instant>,
    next_ping: Option<Instant>,
    closing: bool,
    /// Once the close has begun, until it fires: when its queue must have drained.
    grace: Option<Instant>,
    /// When a backlog that holds reading back becomes a flood.
    stall: Option<Instant>,
    close_timeout: Duration,
    backlog_timeout: Duration,
}

impl Machine {
    /// A connection opened at `now`; `starting` when a connect handler runs first.
    pub(crate) fn new(
        limits: &ConnectionLimits,
        heartbeat: Heartbeat,
        rate: Option<&RateLimit>,
        budget: Arc<ByteBudget>,
        starting: bool,
        now: Instant,
    ) -> Self {
        let first_ping = if heartbeat.ping_at_start {
            Some(now)
        } else {
            heartbeat.ping_every.map(|every| now + every)
        };
        Self {
            heartbeat,
            backlog: Backlog::new(limits, budget),
            rate: rate.map(|limit| (RateGate::new(limit, now), limit.exceeded)),
            max_handlers: limits.max_concurrent_handlers.max(1),
            running: 0,
            starting,
            reading: true,
            last_inbound: now,
            dead_check: Some(now + heartbeat.dead_after),
            next_ping: first_ping,
            closing: false,
            grace: None,
            stall: None,
            close_timeout: limits.close_timeout,
            backlog_timeout: limits.backlog_timeout,
        }
    }

    /// Whether to read the next frame: reading has not stopped, and the backlog has room.
    pub(crate) fn wants_read(&self) -> bool {
        self.reading && self.backlog.has_room()
    }

    /// Whether the close has begun.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }

    /// Reading stops for good: the connection is closing for a reason found in what was read.
    pub(crate) fn stop_reading(&mut self) {
        self.reading = false;
    }

    /// A frame was read at `now`: the peer is alive.
    pub(crate) fn handle_read(&mut self, now: Instant) {
        self.last_inbound = now;
    }

    /// Charges an event of `size` bytes read at `now` to the rate limit; the outcome the
    /// application chose when it is over.
    pub(crate) fn admit(&mut self, size: usize, now: Instant) -> Result<(), RateExceeded> {
        match &mut self.rate {
            Some((gate, exceeded)) => {
                if gate.admit(size, now) {
                    Ok(())
                } else {
                    Err(*exceeded)
                }
            }
            None => Ok(()),
        }
    }

    /// A frame for the handlers, `size` bytes on the wire. While closing, only events that
    /// want no reply are still worth taking.
    pub(crate) fn handle_inbound(&mut self, inbound: Inbound, size: usize) {
        if !self.is_closing() || inbound.survives_close() {
            self.backlog.push(inbound, size);
        }
    }

    /// The next frame for a handler slot, in arrival order: none before the connect handler
    /// finishes, nor while every slot is taken.
    pub(crate) fn poll_dispatch(&mut self) -> Option<Inbound> {
        if self.starting || self.running >= self.max_handlers {
            return None;
        }
        self.backlog.pop()
    }

    /// A handler took a slot and is still running.
    pub(crate) fn handler_started(&mut self) {
        self.running += 1;
    }

    /// A handler finished and gave its slot back.
    pub(crate) fn handler_finished(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// The connect handler finished: events may be dispatched.
    pub(crate) fn startup_finished(&mut self) {
        self.starting = false;
    }

    /// The close began at `now`; its queue may drain for `drain`, else the close timeout.
    /// Events that want a reply would only have it refused; the others were sent before the
    /// peer's goodbye and still count: they run after the close.
    pub(crate) fn handle_closing(&mut self, drain: Option<Duration>, now: Instant) {
        self.closing = true;
        self.grace = Some(now + drain.unwrap_or(self.close_timeout));
        self.backlog.retain(Inbound::survives_close);
    }

    /// When the driver must wake next, as seen at `now`; `None` for never.
    pub(crate) fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        self.stall = if self.reading {
            self.backlog.stall_deadline(now)
        } else {
            None
        };
        [self.stall, self.grace, self.dead_check, self.next_ping]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next deadline that has passed at `now`, and what to do about it; call until
    /// `None`. Each deadline fires once.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Wake> {
        if self.stall.is_some_and(|at| at <= now) {
            self.stall = None;
            self.reading = false;
            let message = format!(
                "events waited for handlers over {:?} with reading stopped",
                self.backlog_timeout
            );
            return Some(Wake::Close(Close::now(DisconnectReason::Flooding, message)));
        }
        if self.grace.is_some_and(|at| at <= now) {
            self.grace = None;
            return Some(Wake::Abandon);
        }
        if self.dead_check.is_some_and(|at| at <= now)
            && let Some(close) = self.check_silence(now)
        {
            return Some(Wake::Close(close));
        }
        if self.next_ping.is_some_and(|at| at <= now) {
            self.next_ping = self.heartbeat.ping_every.map(|every| now + every);
            return Some(Wake::Ping);
        }
        None
    }

    /// A peer silent for the whole heartbeat timeout is dead. While our own backlog holds
    /// reading back, the peer's frames wait unread: that silence is ours, not the peer's.
    fn check_silence(&mut self, now: Instant) -> Option<Close> {
        if self.reading && !self.backlog.has_room() {
            self.last_inbound = now;
        }
        let deadline = self.last_inbound + self.heartbeat.dead_after;
        if deadline > now {
            self.dead_check = Some(deadline);
            return None;
        }
        self.dead_check = None;
        let message = format!("no frame from the peer for {:?}", self.heartbeat.dead_after);
        Some(Close::now(DisconnectReason::PingTimeout, message))
    }

    /// Whether to look for the peer's last words after `close`: a write that failed because
    /// the peer went away may have raced the peer's own goodbye, already in our receive
    /// buffer.
    pub(crate) fn wants_last_words(&self, close: &Close) -> bool {
        self.reading && close.is_recoverable() && self.backlog.has_room()
    }

    /// A frame read, without waiting, after the connection broke: its events still count,
    /// and the peer's `Disconnect` names the real reason (a client that said goodbye must
    /// not leave a session waiting for a resume).
    pub(crate) fn handle_last_word(
        &mut self,
        word: Result<Option<Inbound>, Close>,
        size: usize,
    ) -> LastWord {
        match word {
            Ok(Some(inbound)) => self.backlog.push(inbound, size),
            Ok(None) => {}
            Err(goodbye) if !goodbye.is_recoverable() => return LastWord::Goodbye(goodbye),
            Err(_) => return LastWord::Done,
        }
        if self.backlog.has_room() {
            LastWord::More
        } else {
            LastWord::Done
        }
    }

    /// The frames still waiting once the connection has ended, in arrival order.
    pub(crate) fn into_leftovers(mut self) -> Vec<Inbound> {
        self.backlog.drain()
    }
}
