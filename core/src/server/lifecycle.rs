//! A session's life (PROTOCOL.md 10.6) with no I/O and no clock: the phases, the only moves
//! between them, and the deadlines of a session that waits for a resume.
//!
//! A session outlives its connections, so its phase is changed from several tasks: the
//! connection that serves it, the watcher of a dropped session, the connection that resumes
//! it. Each names the move it wants; a move from the wrong phase does nothing and says so,
//! which is how two of them racing (a resume and the window's end) settle on one outcome.

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A connection serves it.
    Attached,
    /// Its connection dropped; it waits for a resume.
    Detached,
    /// A new connection is taking it over.
    Resuming,
    /// Gone for good.
    Ended,
}

/// A move from one phase to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The connection dropped and the session is kept for a resume.
    Detach,
    /// A resume names the waiting session: no other resume, nor the window's end, may take it.
    BeginResume,
    /// The resuming connection serves the session.
    Resumed,
    /// The resume could not go on; the session waits again (and is then ended).
    ResumeFailed,
    /// The served session ends: the client left, or its connection dropped for good.
    EndAttached,
    /// The waiting session ends: its window closed, its log broke, or the server stops.
    EndDetached,
}

impl Step {
    /// The phase this move starts from, and the one it leads to.
    fn edge(self) -> (Phase, Phase) {
        match self {
            Step::Detach => (Phase::Attached, Phase::Detached),
            Step::BeginResume => (Phase::Detached, Phase::Resuming),
            Step::Resumed => (Phase::Resuming, Phase::Attached),
            Step::ResumeFailed => (Phase::Resuming, Phase::Detached),
            Step::EndAttached => (Phase::Attached, Phase::Ended),
            Step::EndDetached => (Phase::Detached, Phase::Ended),
        }
    }
}

/// What a phase adds to the gauges of sessions attached and detached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Gauges {
    pub(crate) attached: i8,
    pub(crate) detached: i8,
}

impl Phase {
    pub(crate) fn gauges(self) -> Gauges {
        match self {
            Phase::Attached => Gauges {
                attached: 1,
                detached: 0,
            },
            Phase::Detached => Gauges {
                attached: 0,
                detached: 1,
            },
            Phase::Resuming | Phase::Ended => Gauges::default(),
        }
    }
}

/// One session's phase. A new session is attached: its first connection serves it.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: Phase,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            phase: Phase::Attached,
        }
    }
}

impl Lifecycle {
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Takes `step` if the session is in its starting phase; then the change to the gauges.
    /// `None` when the session was elsewhere: another task moved it first.
    pub(crate) fn apply(&mut self, step: Step) -> Option<Gauges> {
        let (from, to) = step.edge();
        if self.phase != from {
            return None;
        }
        self.phase = to;
        let (was, now) = (from.gauges(), to.gauges());
        Some(Gauges {
            attached: now.attached - was.attached,
            detached: now.detached - was.detached,
        })
    }
}

/// Why a waiting session's watcher woke at a deadline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DetachedWake {
    /// The presence grace is over: the session's presence goes, the session still waits.
    ForgetPresence,
    /// The recovery window is over: the session ends.
    Expire,
}

/// The deadlines of a session dropped at one instant: its presence grace and its window.
#[derive(Debug)]
pub(crate) struct DetachedTimers {
    /// Until when the presence stays; `None` once forgotten, or when it lasts the window.
    grace: Option<Instant>,
    expiry: Option<Instant>,
}

impl DetachedTimers {
    /// A session dropped at `dropped`, kept for `window`, its presence for `presence_grace`
    /// (capped at the window: a session that ends takes its presence with it).
    pub(crate) fn new(dropped: Instant, window: Duration, presence_grace: Duration) -> Self {
        Self {
            grace: (presence_grace < window).then(|| dropped + presence_grace),
            expiry: Some(dropped + window),
        }
    }

    /// When the watcher must wake next; `None` once the window is over.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.grace, self.expiry].into_iter().flatten().min()
    }

    /// The deadline that has passed at `now`, and what it means; call until `None`. Each
    /// fires once.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<DetachedWake> {
        if self.grace.is_some_and(|at| at <= now) {
            self.grace = None;
            return Some(DetachedWake::ForgetPresence);
        }
        if self.expiry.is_some_and(|at| at <= now) {
            self.expiry = None;
            return Some(DetachedWake::Expire);
        }
        None
    }
}
