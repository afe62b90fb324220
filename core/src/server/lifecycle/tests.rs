use std::time::{Duration, Instant};

use super::{DetachedTimers, DetachedWake, Gauges, Lifecycle, Phase, Step};

const STEPS: [Step; 6] = [
    Step::Detach,
    Step::BeginResume,
    Step::Resumed,
    Step::ResumeFailed,
    Step::EndAttached,
    Step::EndDetached,
];

/// A session brought to `phase` by the moves a real one takes.
fn in_phase(phase: Phase) -> Lifecycle {
    let mut life = Lifecycle::default();
    let path: &[Step] = match phase {
        Phase::Attached => &[],
        Phase::Detached => &[Step::Detach],
        Phase::Resuming => &[Step::Detach, Step::BeginResume],
        Phase::Ended => &[Step::EndAttached],
    };
    for step in path {
        assert!(life.apply(*step).is_some(), "{step:?}");
    }
    assert_eq!(life.phase(), phase);
    life
}

#[test]
fn each_move_is_taken_from_its_one_phase_and_nowhere_else() {
    // The session phases of PROTOCOL.md 10.6, as (move, from, to).
    let graph = [
        (Step::Detach, Phase::Attached, Phase::Detached),
        (Step::BeginResume, Phase::Detached, Phase::Resuming),
        (Step::Resumed, Phase::Resuming, Phase::Attached),
        (Step::ResumeFailed, Phase::Resuming, Phase::Detached),
        (Step::EndAttached, Phase::Attached, Phase::Ended),
        (Step::EndDetached, Phase::Detached, Phase::Ended),
    ];
    for (step, from, to) in graph {
        for phase in [
            Phase::Attached,
            Phase::Detached,
            Phase::Resuming,
            Phase::Ended,
        ] {
            let mut life = in_phase(phase);
            let moved = life.apply(step).is_some();
            assert_eq!(moved, phase == from, "{step:?} from {phase:?}");
            assert_eq!(life.phase(), if moved { to } else { phase });
        }
    }
    assert_eq!(STEPS.len(), graph.len());
}

#[test]
fn an_ended_session_never_moves_again() {
    for end in [Step::EndAttached, Step::EndDetached] {
        let mut life = in_phase(Phase::Attached);
        if end == Step::EndDetached {
            life.apply(Step::Detach);
        }
        assert!(life.apply(end).is_some());
        for step in STEPS {
            assert_eq!(life.apply(step), None, "{step:?} after {end:?}");
        }
    }
}

#[test]
fn a_resume_and_the_windows_end_racing_settle_on_one_outcome() {
    // The resume names the session first: the window's end finds nothing to end.
    let mut life = in_phase(Phase::Detached);
    assert!(life.apply(Step::BeginResume).is_some());
    assert_eq!(life.apply(Step::EndDetached), None);
    assert!(life.apply(Step::Resumed).is_some());
    assert_eq!(life.phase(), Phase::Attached);

    // The window ends first: the resume finds no session to take.
    let mut life = in_phase(Phase::Detached);
    assert!(life.apply(Step::EndDetached).is_some());
    assert_eq!(life.apply(Step::BeginResume), None);
    assert_eq!(life.phase(), Phase::Ended);
}

#[test]
fn a_failed_resume_leaves_the_session_waiting_to_be_ended() {
    let mut life = in_phase(Phase::Resuming);
    assert!(life.apply(Step::ResumeFailed).is_some());
    assert_eq!(life.phase(), Phase::Detached);
    assert!(life.apply(Step::EndDetached).is_some());
}

#[test]
fn the_gauges_follow_the_phase_through_a_whole_life() {
    let mut life = Lifecycle::default();
    // A new session counts as one attached.
    let mut attached = 1;
    let mut detached = 0;
    let expected = [
        (Step::Detach, 0, 1),
        (Step::BeginResume, 0, 0),
        (Step::ResumeFailed, 0, 1),
        (Step::BeginResume, 0, 0),
        (Step::Resumed, 1, 0),
        (Step::EndAttached, 0, 0),
    ];
    for (step, want_attached, want_detached) in expected {
        let Gauges {
            attached: da,
            detached: dd,
        } = life.apply(step).expect("a legal move");
        attached += i32::from(da);
        detached += i32::from(dd);
        assert_eq!(
            (attached, detached),
            (want_attached, want_detached),
            "{step:?}"
        );
    }
}

#[test]
fn presence_goes_at_the_grace_and_the_session_at_the_window_to_the_instant() {
    let dropped = Instant::now();
    let grace = Duration::from_secs(10);
    let window = Duration::from_secs(120);
    let mut timers = DetachedTimers::new(dropped, window, grace);
    let tick = Duration::from_nanos(1);

    assert_eq!(timers.poll_timeout(), Some(dropped + grace));
    assert_eq!(timers.handle_timeout(dropped + grace - tick), None);
    assert_eq!(
        timers.handle_timeout(dropped + grace),
        Some(DetachedWake::ForgetPresence)
    );
    assert_eq!(timers.handle_timeout(dropped + grace), None, "fires once");

    assert_eq!(timers.poll_timeout(), Some(dropped + window));
    assert_eq!(timers.handle_timeout(dropped + window - tick), None);
    assert_eq!(
        timers.handle_timeout(dropped + window),
        Some(DetachedWake::Expire)
    );
    assert_eq!(timers.poll_timeout(), None);
    assert_eq!(timers.handle_timeout(dropped + window * 2), None);
}

#[test]
fn a_grace_as_long_as_the_window_keeps_presence_until_the_session_ends() {
    let dropped = Instant::now();
    let window = Duration::from_secs(30);
    for grace in [window, window * 2] {
        let mut timers = DetachedTimers::new(dropped, window, grace);
        assert_eq!(timers.poll_timeout(), Some(dropped + window));
        assert_eq!(
            timers.handle_timeout(dropped + window),
            Some(DetachedWake::Expire)
        );
        assert_eq!(timers.handle_timeout(dropped + window), None);
    }
}

#[test]
fn a_watcher_that_wakes_late_sees_both_deadlines_in_order() {
    let dropped = Instant::now();
    let window = Duration::from_secs(5);
    let mut timers = DetachedTimers::new(dropped, window, Duration::from_secs(1));
    let late = dropped + Duration::from_secs(60);
    assert_eq!(
        timers.handle_timeout(late),
        Some(DetachedWake::ForgetPresence)
    );
    assert_eq!(timers.handle_timeout(late), Some(DetachedWake::Expire));
    assert_eq!(timers.handle_timeout(late), None);
}
