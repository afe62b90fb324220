//! The machine fed instants: every deadline checked at the instant before it and at it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use quicket_proto::{DisconnectReason, Event, Frame, PresenceSubscribe};

use super::{Heartbeat, LastWord, Machine, Wake};
use crate::config::ConnectionLimits;
use crate::endpoint::backlog::{ByteBudget, Inbound};
use crate::endpoint::close::Close;

const SECOND: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_nanos(1);

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_concurrent_handlers: 2,
        max_buffered_events: 4,
        backlog_timeout: 30 * SECOND,
        close_timeout: 2 * SECOND,
        ..ConnectionLimits::default()
    }
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        ping_every: None,
        dead_after: 20 * SECOND,
        ping_at_start: false,
    }
}

fn machine(heartbeat: Heartbeat, starting: bool, now: Instant) -> Machine {
    let budget = Arc::new(ByteBudget::new(usize::MAX));
    Machine::new(&limits(), heartbeat, None, budget, starting, now)
}

fn event(name: &str, ack: Option<u64>) -> Inbound {
    let event = Event {
        name: name.into(),
        ack,
        data: Bytes::new(),
    };
    let counted = ack.is_none().then_some(0);
    Inbound::Event(event, counted, Instant::now())
}

fn name(inbound: &Inbound) -> String {
    match inbound {
        Inbound::Event(event, ..) => event.name.clone(),
        Inbound::Request(frame) => format!("{frame:?}"),
        Inbound::Refused(_) => "refused".into(),
    }
}

fn closed_for(wake: Option<Wake>) -> Option<DisconnectReason> {
    match wake {
        Some(Wake::Close(close)) => Some(close.reason),
        _ => None,
    }
}

#[test]
fn a_silent_peer_dies_at_the_exact_deadline_and_not_a_moment_before() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), false, start);
    let deadline = start + 20 * SECOND;
    assert_eq!(machine.poll_timeout(start), Some(deadline));
    assert_eq!(machine.handle_timeout(deadline - TICK), None);
    assert_eq!(
        closed_for(machine.handle_timeout(deadline)),
        Some(DisconnectReason::PingTimeout)
    );
    assert_eq!(
        machine.handle_timeout(deadline + SECOND),
        None,
        "it fires once"
    );
    assert_eq!(machine.poll_timeout(deadline), None);
}

#[test]
fn every_frame_read_moves_the_deadline() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), false, start);
    machine.handle_read(start + 15 * SECOND);
    assert_eq!(machine.handle_timeout(start + 20 * SECOND), None);
    let deadline = start + 35 * SECOND;
    assert_eq!(machine.poll_timeout(start + 20 * SECOND), Some(deadline));
    assert_eq!(machine.handle_timeout(deadline - TICK), None);
    assert_eq!(
        closed_for(machine.handle_timeout(deadline)),
        Some(DisconnectReason::PingTimeout)
    );
}

#[test]
fn a_backlog_that_holds_reading_back_is_our_silence_not_the_peers() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), true, start);
    for n in 0..4 {
        machine.handle_inbound(event(&n.to_string(), None), 1);
    }
    assert!(!machine.wants_read());
    let later = start + 20 * SECOND;
    assert_eq!(machine.handle_timeout(later), None);
    assert_eq!(machine.poll_timeout(later), Some(later + 20 * SECOND));
}

#[test]
fn pings_go_at_the_start_when_asked_then_at_every_interval() {
    let start = Instant::now();
    let every = Heartbeat {
        ping_every: Some(25 * SECOND),
        dead_after: 60 * SECOND,
        ping_at_start: true,
    };
    let mut machine = machine(every, false, start);
    assert_eq!(machine.handle_timeout(start), Some(Wake::Ping));
    assert_eq!(machine.handle_timeout(start), None);
    assert_eq!(machine.poll_timeout(start), Some(start + 25 * SECOND));
    assert_eq!(machine.handle_timeout(start + 25 * SECOND - TICK), None);
    assert_eq!(
        machine.handle_timeout(start + 25 * SECOND),
        Some(Wake::Ping)
    );

    let server = Heartbeat {
        ping_at_start: false,
        ..every
    };
    let mut machine = super::Machine::new(
        &limits(),
        server,
        None,
        Arc::new(ByteBudget::new(usize::MAX)),
        false,
        start,
    );
    assert_eq!(machine.handle_timeout(start), None);
    assert_eq!(machine.poll_timeout(start), Some(start + 25 * SECOND));
}

/// The race fixed in the connect path: a client subscribes to a room's presence right after
/// connecting, and the request must wait for the connect handler that joins the room.
#[test]
fn requests_and_events_wait_for_the_connect_handler_then_go_in_arrival_order() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), true, start);
    let subscribe = Frame::PresenceSubscribe(PresenceSubscribe {
        room: "lobby".into(),
    });
    machine.handle_inbound(Inbound::Request(subscribe.clone()), 10);
    machine.handle_inbound(event("hello", None), 10);
    assert!(
        machine.poll_dispatch().is_none(),
        "nothing is dispatched before the connect handler finishes"
    );
    machine.startup_finished();
    let order: Vec<String> = std::iter::from_fn(|| machine.poll_dispatch())
        .map(|inbound| name(&inbound))
        .collect();
    assert_eq!(order, [format!("{subscribe:?}"), "hello".to_owned()]);
}

#[test]
fn handlers_take_slots_and_give_them_back() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), false, start);
    for n in 0..3 {
        machine.handle_inbound(event(&n.to_string(), None), 1);
    }
    for _ in 0..2 {
        assert!(machine.poll_dispatch().is_some());
        machine.handler_started();
    }
    assert!(machine.poll_dispatch().is_none(), "both slots are taken");
    machine.handler_finished();
    assert_eq!(
        machine.poll_dispatch().map(|i| name(&i)).as_deref(),
        Some("2")
    );
}

#[test]
fn a_backlog_stalled_past_its_timeout_is_a_flood() {
    let start = Instant::now();
    let limits = ConnectionLimits {
        backlog_timeout: 5 * SECOND,
        ..limits()
    };
    let heartbeat = Heartbeat {
        dead_after: 60 * SECOND,
        ..heartbeat()
    };
    let budget = Arc::new(ByteBudget::new(usize::MAX));
    let mut machine = Machine::new(&limits, heartbeat, None, budget, true, start);
    for n in 0..4 {
        machine.handle_inbound(event(&n.to_string(), None), 1);
    }
    assert_eq!(machine.poll_timeout(start), Some(start + 5 * SECOND));
    assert_eq!(machine.handle_timeout(start + 5 * SECOND - TICK), None);
    assert_eq!(
        closed_for(machine.handle_timeout(start + 5 * SECOND)),
        Some(DisconnectReason::Flooding)
    );
    assert!(!machine.wants_read(), "reading stops with the flood");
}

#[test]
fn the_close_keeps_what_counts_and_abandons_the_queue_after_its_grace() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), true, start);
    machine.handle_inbound(event("counted", None), 1);
    machine.handle_inbound(event("wants a reply", Some(7)), 1);
    let at = start + SECOND;
    machine.handle_closing(Some(3 * SECOND), at);
    assert!(machine.is_closing());
    machine.handle_inbound(event("late, wants a reply", Some(8)), 1);
    machine.handle_inbound(event("late", None), 1);
    assert_eq!(machine.handle_timeout(at + 3 * SECOND - TICK), None);
    assert_eq!(machine.handle_timeout(at + 3 * SECOND), Some(Wake::Abandon));
    let left: Vec<String> = machine.into_leftovers().iter().map(name).collect();
    assert_eq!(left, ["counted", "late"]);
}

/// The race fixed in the close path: our write fails because the peer went away, and the
/// peer's goodbye already sits unread. The goodbye, not the failed write, ends the session.
#[test]
fn a_goodbye_among_the_last_words_names_the_close() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), false, start);
    let broken = Close::silent(DisconnectReason::TransportClosed, "write failed");
    assert!(machine.wants_last_words(&broken));
    assert_eq!(
        machine.handle_last_word(Ok(Some(event("last", None))), 1),
        LastWord::More
    );
    let goodbye = Close::silent(DisconnectReason::ClientDisconnect, "bye");
    assert_eq!(
        machine.handle_last_word(Err(goodbye.clone()), 0),
        LastWord::Goodbye(goodbye)
    );
    let left: Vec<String> = machine.into_leftovers().iter().map(name).collect();
    assert_eq!(left, ["last"], "the events before the goodbye still count");
}

#[test]
fn no_last_words_are_read_after_a_close_that_was_decided() {
    let start = Instant::now();
    let mut machine = machine(heartbeat(), false, start);
    let decided = Close::now(DisconnectReason::ServerDisconnect, "kicked");
    assert!(!machine.wants_last_words(&decided));
    let broken = Close::silent(DisconnectReason::TransportClosed, "write failed");
    machine.stop_reading();
    assert!(
        !machine.wants_last_words(&broken),
        "reading had stopped for a reason of its own"
    );
    let mut machine = self::machine(heartbeat(), false, start);
    let reset = Close::silent(DisconnectReason::TransportClosed, "reset");
    assert_eq!(machine.handle_last_word(Err(reset), 0), LastWord::Done);
}

/// What the driver does with the machine, one step at a time.
#[derive(Debug, Clone)]
enum Step {
    Read { ack: bool },
    Start,
    Finish,
    StartupDone,
    Close,
    Clock(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any::<bool>().prop_map(|ack| Step::Read { ack }),
        3 => Just(Step::Start),
        2 => Just(Step::Finish),
        1 => Just(Step::StartupDone),
        1 => Just(Step::Close),
        2 => (0..30_000u64).prop_map(Step::Clock),
    ]
}

proptest! {
    /// Whatever the interleaving, the machine hands events out as a plain queue would: each
    /// once, in arrival order, dropping only those that want a reply once the close began;
    /// nothing before the connect handler finishes or past the handler slots; and the peer
    /// is declared dead only after a full timeout of silence.
    #[test]
    fn events_leave_once_in_order_and_deadlines_hold(steps in proptest::collection::vec(step(), 1..200)) {
        let start = Instant::now();
        let mut machine = machine(heartbeat(), true, start);
        let (mut now, mut last_read, mut next) = (start, start, 0u32);
        let mut model: VecDeque<(String, bool)> = VecDeque::new();
        let (mut starting, mut running, mut closing) = (true, 0usize, false);
        for step in steps {
            match step {
                Step::Read { ack } => {
                    if machine.wants_read() {
                        machine.handle_read(now);
                        last_read = now;
                        if !(closing && ack) {
                            model.push_back((next.to_string(), ack));
                        }
                        machine.handle_inbound(event(&next.to_string(), ack.then_some(1)), 1);
                        next += 1;
                    }
                }
                Step::Start => {
                    let dispatched = machine.poll_dispatch();
                    if starting || running == 2 {
                        prop_assert!(dispatched.is_none(), "dispatched while it must wait");
                    } else {
                        prop_assert_eq!(dispatched.as_ref().map(name), model.pop_front().map(|(n, _)| n));
                    }
                    if dispatched.is_some() {
                        machine.handler_started();
                        running += 1;
                    }
                }
                Step::Finish => {
                    if running > 0 {
                        machine.handler_finished();
                        running -= 1;
                    }
                }
                Step::StartupDone => {
                    machine.startup_finished();
                    starting = false;
                }
                Step::Close => {
                    if !closing {
                        closing = true;
                        machine.handle_closing(None, now);
                        model.retain(|(_, ack)| !ack);
                    }
                }
                Step::Clock(millis) => {
                    now += Duration::from_millis(millis);
                    while let Some(wake) = machine.handle_timeout(now) {
                        if let Wake::Close(close) = &wake
                            && close.reason == DisconnectReason::PingTimeout
                        {
                            prop_assert!(now >= last_read + 20 * SECOND, "declared dead too early");
                        }
                    }
                }
            }
        }
        let left: Vec<String> = machine.into_leftovers().iter().map(name).collect();
        let expected: Vec<String> = model.into_iter().map(|(n, _)| n).collect();
        prop_assert_eq!(left, expected);
    }
}

#[test]
fn a_side_that_never_pings_still_pings_once_at_the_start_when_asked() {
    let start = Instant::now();
    let once = Heartbeat {
        ping_every: None,
        dead_after: 60 * SECOND,
        ping_at_start: true,
    };
    let mut machine = machine(once, false, start);
    assert_eq!(machine.handle_timeout(start), Some(Wake::Ping));
    assert_eq!(
        machine.poll_timeout(start),
        Some(start + 60 * SECOND),
        "no other ping"
    );
}
