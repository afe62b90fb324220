//! The replay log: this side's recent reliable events, kept so that a resumed session can send
//! again what its peer did not handle (PROTOCOL.md section 10.6).
//!
//! Offsets are implicit. The log numbers events as they are pushed, from one, in the order
//! they enter their ordered channel, which is the order the peer counts them in: each channel
//! (PROTOCOL.md section 2.2) has its own numbering. The log keeps every channel's events in
//! one queue, in the order they were sent, so its bounds and its eviction stay those of one
//! log.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::budget::OfflineBudget;
use crate::config::ReplayLimits;

/// What a log full of events emitted since the drop does with one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// The server: the client will miss an event, so the session cannot be resumed.
    EndSession,
    /// The client: the emit fails, and the application hears of it.
    KeepOffline,
}

/// Why a session's log can no longer serve a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Break {
    /// Events emitted since the drop alone filled it.
    Full,
    /// Holding it would have taken the logs of waiting sessions past their shared budget.
    Budget,
}

/// Why an event did not go into the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogError {
    /// The session can no longer be resumed; the log has been emptied.
    Broken,
    /// The client's offline buffer is full.
    OfflineFull,
}

/// A logged event: its frame, when it was sent, and its place in its channel. Every recipient
/// of every broadcast logs one, so it is kept to 48 bytes: a fan-out streams through them.
#[derive(Debug)]
struct Entry {
    frame: Bytes,
    /// The event's offset within its channel.
    seq: u64,
    /// When it was sent, in milliseconds after the log's `epoch`. It stops counting after 49
    /// days; a log that old is bounded by its count and bytes alone.
    at: u32,
    channel: u16,
}

/// How far a peer got on each channel: index 0 is channel 0; a channel past the end counts 0.
pub(crate) type Offsets = [u64];

#[derive(Debug)]
pub(crate) struct ReplayLog {
    entries: VecDeque<Entry>,
    /// What entries' times count from.
    epoch: Instant,
    /// The number of `entries[0]` among all events of all channels; one more than the last
    /// when empty.
    first: u64,
    /// Per channel: how many events it numbered, and the offset of its last event that fell
    /// off the log (what a resume can no longer get).
    numbered: Vec<u64>,
    evicted: Vec<u64>,
    bytes: usize,
    /// Events from this offset on were emitted while the connection was down.
    offline_from: Option<u64>,
    limits: ReplayLimits,
    when_full: WhenFull,
    broken: Option<Break>,
    /// What waiting sessions' logs share, and whether this one's bytes are charged to it:
    /// from the drop until a resume or the end.
    budget: Option<Arc<OfflineBudget>>,
    charged: bool,
}

impl ReplayLog {
    pub(crate) fn new(limits: ReplayLimits, when_full: WhenFull) -> Self {
        Self {
            entries: VecDeque::new(),
            epoch: Instant::now(),
            first: 1,
            numbered: vec![0],
            evicted: vec![0],
            bytes: 0,
            offline_from: None,
            limits,
            when_full,
            broken: None,
            budget: None,
            charged: false,
        }
    }

    /// Numbers events from `offset + 1`: a session another node numbered up to `offset`,
    /// carried on here.
    pub(crate) fn continuing_after(mut self, offset: u64) -> Self {
        self.first = offset.saturating_add(1);
        self.numbered[0] = offset;
        self.evicted[0] = offset;
        self
    }

    /// Charges the log to `budget` while its session waits for a resume.
    pub(crate) fn with_budget(mut self, budget: Arc<OfflineBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The offset the next event gets.
    pub(crate) fn next_offset(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Why the log can no longer serve a resume, if it cannot.
    pub(crate) fn broken_by(&self) -> Option<Break> {
        self.broken
    }

    /// The connection dropped: from now on the log is held for a client that is not there,
    /// and counts toward the budget. When it does not fit, the session cannot be resumed.
    pub(crate) fn detach(&mut self) -> Result<(), LogError> {
        if self.broken.is_some() {
            return Err(LogError::Broken);
        }
        match &self.budget {
            Some(budget) if !self.charged => {
                if !budget.charge(self.bytes) {
                    self.break_session(Break::Budget);
                    return Err(LogError::Broken);
                }
                self.charged = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Logs an event that goes out on a live connection on `channel`: the oldest fall off to
    /// make room. Age is checked only when a resume reads the log: this runs once per
    /// recipient of every broadcast, and the count and byte bounds already cap what it holds.
    pub(crate) fn push_live(&mut self, channel: u16, frame: Bytes, now: Instant) {
        if self.broken.is_some() {
            return;
        }
        while !self.entries.is_empty() && !self.fits(frame.len()) {
            self.pop_front();
        }
        self.push(channel, frame, now);
    }

    /// Logs an event emitted while the connection is down: it waits here for a resume.
    /// Events from before the drop make room first, oldest first: the peer has probably
    /// handled them, and a resume finds out. An event from after the drop is needed for sure,
    /// so when those alone fill the log, the policy decides.
    pub(crate) fn push_offline(
        &mut self,
        channel: u16,
        frame: Bytes,
        now: Instant,
    ) -> Result<(), LogError> {
        if self.broken.is_some() {
            return Err(LogError::Broken);
        }
        let offline_from = *self.offline_from.get_or_insert(self.next_offset());
        self.expire_before(offline_from, now);
        while !self.fits(frame.len()) && self.first < offline_from {
            self.pop_front();
        }
        if !self.fits(frame.len()) {
            return Err(match self.when_full {
                WhenFull::KeepOffline => LogError::OfflineFull,
                WhenFull::EndSession => {
                    self.break_session(Break::Full);
                    LogError::Broken
                }
            });
        }
        if self.charged
            && let Some(budget) = &self.budget
            && !budget.charge(frame.len())
        {
            self.break_session(Break::Budget);
            return Err(LogError::Broken);
        }
        self.push(channel, frame, now);
        Ok(())
    }

    /// The events after each channel's offset, in the order they were sent, for a resume, and
    /// marks the log live again. `None` when the log no longer reaches back that far on some
    /// channel, or an offset is ahead of it.
    pub(crate) fn resume_after(
        &mut self,
        offsets: &Offsets,
        now: Instant,
    ) -> Option<Vec<(u16, Bytes)>> {
        if self.when_full == WhenFull::EndSession {
            self.expire(now);
        }
        let reachable = (0..self.numbered.len().max(offsets.len())).all(|channel| {
            let offset = offsets.get(channel).copied().unwrap_or(0);
            let numbered = self.numbered.get(channel).copied().unwrap_or(0);
            let evicted = self.evicted.get(channel).copied().unwrap_or(0);
            evicted <= offset && offset <= numbered
        });
        if self.broken.is_some() || !reachable {
            return None;
        }
        self.uncharge();
        self.offline_from = None;
        Some(
            self.entries
                .iter()
                .filter(|entry| {
                    entry.seq
                        > offsets
                            .get(usize::from(entry.channel))
                            .copied()
                            .unwrap_or(0)
                })
                .map(|entry| (entry.channel, entry.frame.clone()))
                .collect(),
        )
    }

    /// [`resume_after`](Self::resume_after) for a connection that carries channel 0 alone
    /// (PROTOCOL.md section 10.6): the events after each channel's offset, in the order they
    /// were sent, all become channel 0's, numbered on from its offset, and so does every later
    /// event. The other channels keep the counts the peer reported.
    pub(crate) fn resume_merged(
        &mut self,
        offsets: &Offsets,
        now: Instant,
    ) -> Option<Vec<(u16, Bytes)>> {
        let replay = self.resume_after(offsets, now)?;
        let offset_of = |channel: u16| offsets.get(usize::from(channel)).copied().unwrap_or(0);
        let mut next = offset_of(0);
        for entry in &mut self.entries {
            if entry.seq > offset_of(entry.channel) {
                next += 1;
                entry.channel = 0;
                entry.seq = next;
            }
        }
        for (channel, numbered) in self.numbered.iter_mut().enumerate().skip(1) {
            *numbered = offsets.get(channel).copied().unwrap_or(0);
        }
        self.numbered[0] = next;
        Some(replay.into_iter().map(|(_, frame)| (0, frame)).collect())
    }

    /// How many events after `offset` are gone from the log: what a resume cannot replay.
    /// Only the client, whose events all take channel 0, resumes this way.
    pub(crate) fn missing_after(&self, offset: u64) -> u64 {
        self.evicted[0].saturating_sub(offset)
    }

    /// The offset of the oldest event still held, less one, on channel 0.
    pub(crate) fn oldest_replayable(&self) -> u64 {
        self.evicted[0]
    }

    /// Starts a new session's numbering: only the events emitted offline survive, from one.
    pub(crate) fn restart(&mut self) -> Vec<(u16, Bytes)> {
        let offline_from = self.offline_from.take().unwrap_or(self.next_offset());
        let skip = usize::try_from(offline_from.saturating_sub(self.first)).unwrap_or(usize::MAX);
        let kept: Vec<(u16, Bytes)> = self
            .entries
            .iter()
            .skip(skip)
            .map(|entry| (entry.channel, entry.frame.clone()))
            .collect();
        let now = Instant::now();
        self.uncharge();
        self.entries.clear();
        self.bytes = 0;
        self.first = 1;
        self.numbered = vec![0];
        self.evicted = vec![0];
        self.broken = None;
        for (channel, frame) in &kept {
            self.push(*channel, frame.clone(), now);
        }
        kept
    }

    fn fits(&self, len: usize) -> bool {
        self.entries.len() < self.limits.max_events && self.bytes + len <= self.limits.max_bytes
    }

    fn push(&mut self, channel: u16, frame: Bytes, now: Instant) {
        let index = usize::from(channel);
        if index >= self.numbered.len() {
            self.numbered.resize(index + 1, 0);
            self.evicted.resize(index + 1, 0);
        }
        self.numbered[index] += 1;
        self.bytes += frame.len();
        self.entries.push_back(Entry {
            frame,
            seq: self.numbered[index],
            at: self.millis(now),
            channel,
        });
    }

    /// `now` as an entry's time.
    fn millis(&self, now: Instant) -> u32 {
        let since = now.saturating_duration_since(self.epoch).as_millis();
        u32::try_from(since).unwrap_or(u32::MAX)
    }

    fn pop_front(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.bytes -= entry.frame.len();
            self.first += 1;
            // After a resume onto channel 0 alone, the log may hold channel 0's events out of
            // order for a while (renumbered ones before older ones); what a resume needs is the
            // highest offset gone.
            let evicted = &mut self.evicted[usize::from(entry.channel)];
            *evicted = (*evicted).max(entry.seq);
            if self.charged
                && let Some(budget) = &self.budget
            {
                budget.refund(entry.frame.len());
            }
        }
    }

    /// Gives the log's bytes back to the budget: the session is live again, or over.
    fn uncharge(&mut self) {
        if std::mem::take(&mut self.charged)
            && let Some(budget) = &self.budget
        {
            budget.refund(self.bytes);
        }
    }

    fn expire(&mut self, now: Instant) {
        self.expire_before(u64::MAX, now);
    }

    /// Drops events older than the age bound, but none from `offset` on.
    fn expire_before(&mut self, offset: u64, now: Instant) {
        let max_age = self.limits.max_age.as_millis();
        let now = self.millis(now);
        while let Some(entry) = self.entries.front() {
            if self.first >= offset || u128::from(now.saturating_sub(entry.at)) <= max_age {
                break;
            }
            self.pop_front();
        }
    }

    fn break_session(&mut self, cause: Break) {
        self.uncharge();
        self.broken = Some(cause);
        self.first = self.next_offset();
        self.entries = VecDeque::new();
        self.evicted.clone_from(&self.numbered);
        self.bytes = 0;
    }
}
impl Drop for ReplayLog {
    fn drop(&mut self) {
        self.uncharge();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_entry_stays_within_48_bytes() {
        assert!(size_of::<Entry>() <= 48, "{} bytes", size_of::<Entry>());
    }

    #[test]
    fn an_event_older_than_the_age_bound_is_not_replayed() {
        let limits = ReplayLimits {
            max_age: Duration::from_secs(10),
            ..ReplayLimits::default()
        };
        let mut log = ReplayLog::new(limits, WhenFull::EndSession);
        let start = log.epoch;
        log.push_live(0, frame(1), start);
        log.push_live(0, frame(1), start + Duration::from_secs(5));
        log.push_live(0, frame(1), start + Duration::from_secs(9));
        let replay = log.resume_after(&[0], start + Duration::from_millis(15_500));
        assert_eq!(
            replay, None,
            "the first two are past the bound: no strict resume from 0"
        );
        let replay = log.resume_after(&[2], start + Duration::from_millis(15_500));
        assert_eq!(
            replay.map(|events| events.len()),
            Some(1),
            "the third is within it"
        );
    }

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0; len])
    }

    fn log(budget: &Arc<OfflineBudget>) -> ReplayLog {
        ReplayLog::new(ReplayLimits::default(), WhenFull::EndSession).with_budget(budget.clone())
    }

    #[test]
    fn a_live_log_costs_the_budget_nothing_and_a_waiting_one_all_it_holds() {
        let budget = Arc::new(OfflineBudget::new(1_000));
        let mut waiting = log(&budget);
        let now = Instant::now();
        waiting.push_live(0, frame(300), now);
        assert_eq!(budget.used(), 0);
        waiting.detach().unwrap();
        assert_eq!(budget.used(), 300);
        waiting.push_offline(0, frame(200), now).unwrap();
        assert_eq!(budget.used(), 500);
        assert_eq!(
            waiting.resume_after(&[0], now).map(|events| events.len()),
            Some(2)
        );
        assert_eq!(budget.used(), 0, "resumed: live again");
    }

    fn names(events: Option<Vec<(u16, Bytes)>>) -> Option<Vec<(u16, usize)>> {
        events.map(|events| {
            events
                .into_iter()
                .map(|(channel, frame)| (channel, frame.len()))
                .collect()
        })
    }

    #[test]
    fn each_channel_resumes_after_its_own_offset_in_the_order_sent() {
        let mut log = ReplayLog::new(ReplayLimits::default(), WhenFull::EndSession);
        let now = Instant::now();
        // Frame sizes tell the events apart: channel 0 gets 1 and 4, channel 2 gets 2, 3, 5.
        for (channel, len) in [(0, 1), (2, 2), (2, 3), (0, 4), (2, 5)] {
            log.push_live(channel, frame(len), now);
        }
        assert_eq!(
            names(log.resume_after(&[1, 0, 1], now)),
            Some(vec![(2, 3), (0, 4), (2, 5)]),
            "after event 1 of channel 0 and event 1 of channel 2"
        );
        assert_eq!(names(log.resume_after(&[2, 0, 3], now)), Some(vec![]));
        assert_eq!(
            log.resume_after(&[0, 0, 4], now),
            None,
            "ahead on channel 2"
        );
        assert_eq!(
            log.resume_after(&[0, 1], now),
            None,
            "ahead on channel 1, never used"
        );
    }

    #[test]
    fn a_resume_onto_channel_0_alone_renumbers_what_it_replays_and_what_follows() {
        let mut log = ReplayLog::new(ReplayLimits::default(), WhenFull::EndSession);
        let now = Instant::now();
        for (channel, len) in [(0, 1), (2, 2), (2, 3), (0, 4), (2, 5)] {
            log.push_live(channel, frame(len), now);
        }
        // The peer handled 0:1 and 2:1; it gets 3, 4 and 5, as channel 0's events 2 to 4.
        assert_eq!(
            names(log.resume_merged(&[1, 0, 1], now)),
            Some(vec![(0, 3), (0, 4), (0, 5)])
        );
        log.push_live(0, frame(6), now);
        assert_eq!(names(log.resume_after(&[4, 0, 1], now)), Some(vec![(0, 6)]));
        assert_eq!(
            names(log.resume_after(&[2, 0, 1], now)),
            Some(vec![(0, 4), (0, 5), (0, 6)]),
            "channel 2 keeps the count the peer reported"
        );
        assert_eq!(
            log.resume_after(&[1, 0, 2], now),
            None,
            "nothing more on channel 2"
        );
    }

    #[test]
    fn after_a_merge_an_evicted_event_is_never_offered_again_whatever_the_log_order() {
        let limits = ReplayLimits::default().max_events(3);
        let mut log = ReplayLog::new(limits, WhenFull::EndSession);
        let now = Instant::now();
        // Channel 2's event comes first in the log, channel 0's second; the peer handled the
        // latter only. Merged, the former becomes channel 0's event 2, ahead of event 1.
        log.push_live(2, frame(1), now);
        log.push_live(0, frame(2), now);
        assert_eq!(
            names(log.resume_merged(&[1, 0, 0], now)),
            Some(vec![(0, 1)])
        );
        log.push_live(0, frame(3), now);
        // One more pushes out the renumbered event 2 of channel 0: a peer at 1 can no longer
        // resume, before and after the older event 1 leaves too.
        log.push_live(0, frame(4), now);
        assert_eq!(log.resume_after(&[1], now), None);
        log.push_live(0, frame(5), now);
        assert_eq!(log.resume_after(&[1], now), None, "event 2 stays gone");
        assert_eq!(
            names(log.resume_after(&[3], now)),
            Some(vec![(0, 4), (0, 5)])
        );
    }

    #[test]
    fn a_channel_whose_events_fell_off_cannot_resume_from_before_them() {
        let limits = ReplayLimits::default().max_events(3);
        let mut log = ReplayLog::new(limits, WhenFull::EndSession);
        let now = Instant::now();
        for (channel, len) in [(1, 1), (0, 2), (1, 3), (0, 4)] {
            log.push_live(channel, frame(len), now);
        }
        // Event 1 of channel 1 fell off; channel 0 lost nothing.
        assert_eq!(log.resume_after(&[0, 0], now), None);
        assert_eq!(
            names(log.resume_after(&[0, 1], now)),
            Some(vec![(0, 2), (1, 3), (0, 4)])
        );
    }

    #[test]
    fn the_log_that_would_pass_the_budget_breaks_and_gives_its_bytes_back() {
        let budget = Arc::new(OfflineBudget::new(1_000));
        let now = Instant::now();
        let mut first = log(&budget);
        first.push_live(0, frame(600), now);
        first.detach().unwrap();
        let mut second = log(&budget);
        second.push_live(0, frame(300), now);
        second.detach().unwrap();
        assert!(matches!(
            second.push_offline(0, frame(200), now),
            Err(LogError::Broken)
        ));
        assert_eq!(second.broken_by(), Some(Break::Budget));
        assert_eq!(budget.used(), 600, "only the first still holds bytes");
        let mut third = log(&budget);
        third.push_live(0, frame(500), now);
        assert!(third.detach().is_err(), "500 more do not fit");
        assert_eq!(third.broken_by(), Some(Break::Budget));
        drop(first);
        assert_eq!(budget.used(), 0, "an ended session gives its bytes back");
    }
}
