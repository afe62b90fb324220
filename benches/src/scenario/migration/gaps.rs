//! From the receiver's log to the figures: the gap of each break, the steady gap, and what
//! was lost or doubled.

use std::time::Duration;

/// What one run's arrivals show.
#[derive(Debug, PartialEq)]
pub(super) struct Gaps {
    /// Per break, the longest time between consecutive arrivals from the last arrival before
    /// it to the first arrival of an event published after it.
    pub(super) per_break: Vec<Duration>,
    /// The longest time between consecutive arrivals before the first break.
    pub(super) steady_max: Duration,
    /// Events published that never arrived.
    pub(super) lost: u64,
    /// Arrivals beyond the first of their event.
    pub(super) duplicated: u64,
}

/// `log` holds (event, arrival time) in arrival order; `breaks` holds (break time, first event
/// published after it); events `0..published` were published.
pub(super) fn analyse(log: &[(u64, Duration)], breaks: &[(Duration, u64)], published: u64) -> Gaps {
    let gap = |i: usize| log[i].1.saturating_sub(log[i - 1].1);
    let per_break = breaks
        .iter()
        .map(|&(at, mark)| {
            let first_after = log.iter().position(|(_, t)| *t > at).unwrap_or(log.len());
            let healed = log
                .iter()
                .position(|(seq, _)| *seq >= mark)
                .unwrap_or(log.len().saturating_sub(1));
            (first_after.max(1)..=healed)
                .filter(|i| *i < log.len())
                .map(gap)
                .max()
                .unwrap_or_default()
        })
        .collect();
    let before_first = breaks.first().map_or(Duration::MAX, |(at, _)| *at);
    let steady_max = (1..log.len())
        .take_while(|i| log[*i].1 < before_first)
        .map(gap)
        .max()
        .unwrap_or_default();
    let mut counts = vec![0u32; usize::try_from(published).unwrap_or(usize::MAX)];
    let mut duplicated = 0;
    for (seq, _) in log {
        match usize::try_from(*seq).ok().and_then(|i| counts.get_mut(i)) {
            Some(0) => counts[*seq as usize] = 1,
            _ => duplicated += 1,
        }
    }
    Gaps {
        per_break,
        steady_max,
        lost: counts.iter().filter(|c| **c == 0).count() as u64,
        duplicated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_break_gap_spans_the_last_arrival_before_it_to_the_heal() {
        // One event a millisecond; the break at 4.5 ms stalls delivery until 40 ms, where
        // events 4 and 5 arrive, then 6 (the first published after the break) at 41 ms.
        let log = [
            (0, ms(1)),
            (1, ms(2)),
            (2, ms(3)),
            (3, ms(4)),
            (4, ms(40)),
            (5, ms(40)),
            (6, ms(41)),
            (7, ms(42)),
        ];
        let gaps = analyse(&log, &[(Duration::from_micros(4_500), 6)], 8);
        assert_eq!(gaps.per_break, vec![ms(36)]);
        assert_eq!(gaps.steady_max, ms(1));
        assert_eq!((gaps.lost, gaps.duplicated), (0, 0));
    }

    #[test]
    fn missing_and_repeated_events_are_counted() {
        let log = [(0, ms(1)), (2, ms(2)), (2, ms(3)), (9, ms(4))];
        let gaps = analyse(&log, &[], 4);
        assert_eq!(gaps.lost, 2, "events 1 and 3");
        assert_eq!(
            gaps.duplicated, 2,
            "the second 2, and 9 that was never published"
        );
    }
}
