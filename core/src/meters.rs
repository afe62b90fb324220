//! What a server counts, through the [`metrics`] facade.
//!
//! Nothing is kept until the application installs a recorder; until then every handle is a
//! no-op. The counters that move with every event are registered once per server and kept as
//! handles, so an event costs an atomic add and never a registry lookup or an allocation; the
//! rest (a connection, a handshake, a resume) go through the macros. `docs/metrics.md` lists
//! every metric.

use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use metrics::{Counter, Histogram, Unit, counter, gauge, histogram};

use crate::transport::TransportKind;

pub(crate) const CONNECTIONS_ACCEPTED: &str = "quicket_connections_accepted_total";
pub(crate) const CONNECTIONS_OPEN: &str = "quicket_connections_open";
pub(crate) const HANDSHAKES_COMPLETED: &str = "quicket_handshakes_completed_total";
pub(crate) const HANDSHAKES_REFUSED: &str = "quicket_handshakes_refused_total";
pub(crate) const SESSIONS_ATTACHED: &str = "quicket_sessions_attached";
pub(crate) const SESSIONS_DETACHED: &str = "quicket_sessions_detached";
pub(crate) const SESSIONS_RESUMED: &str = "quicket_sessions_resumed_total";
pub(crate) const RESUMES_FAILED: &str = "quicket_resumes_failed_total";
pub(crate) const DETACHED_BYTES: &str = "quicket_detached_bytes";
pub(crate) const EVENTS_IN: &str = "quicket_events_in_total";
pub(crate) const EVENT_BYTES_IN: &str = "quicket_event_bytes_in_total";
pub(crate) const EVENTS_OUT: &str = "quicket_events_out_total";
pub(crate) const EVENT_BYTES_OUT: &str = "quicket_event_bytes_out_total";
pub(crate) const BROADCAST_RECIPIENTS: &str = "quicket_broadcast_recipients";
pub(crate) const ACKS_SENT: &str = "quicket_acks_sent_total";
pub(crate) const ACKS_RECEIVED: &str = "quicket_acks_received_total";
pub(crate) const ACK_TIMEOUTS: &str = "quicket_ack_timeouts_total";
pub(crate) const SLOW_CONSUMERS: &str = "quicket_slow_consumer_disconnects_total";
pub(crate) const VOLATILE_DROPPED: &str = "quicket_volatile_dropped_total";
pub(crate) const RATE_LIMITED: &str = "quicket_events_rate_limited_total";
pub(crate) const SEQUENCED_STALE: &str = "quicket_sequenced_stale_total";
pub(crate) const HANDLER_DURATION: &str = "quicket_handler_duration_seconds";
pub(crate) const RTT: &str = "quicket_rtt_seconds";

/// A metric's type, for its description.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric of this crate: name, type, unit, and what it means.
const ALL: &[(&str, Kind, Unit, &str)] = &[
    (
        CONNECTIONS_ACCEPTED,
        Kind::Counter,
        Unit::Count,
        "Connections a listener handed to the server, by transport, before their handshake.",
    ),
    (
        CONNECTIONS_OPEN,
        Kind::Gauge,
        Unit::Count,
        "Connections being served now, handshakes included, by transport.",
    ),
    (
        HANDSHAKES_COMPLETED,
        Kind::Counter,
        Unit::Count,
        "Handshakes that passed the Hello and auth checks, by transport.",
    ),
    (
        HANDSHAKES_REFUSED,
        Kind::Counter,
        Unit::Count,
        "Handshakes refused, by transport and reason (a RejectReason or DisconnectReason name).",
    ),
    (
        SESSIONS_ATTACHED,
        Kind::Gauge,
        Unit::Count,
        "Sessions with a connection.",
    ),
    (
        SESSIONS_DETACHED,
        Kind::Gauge,
        Unit::Count,
        "Sessions whose connection dropped, waiting for a resume.",
    ),
    (
        SESSIONS_RESUMED,
        Kind::Counter,
        Unit::Count,
        "Sessions a client resumed after a drop.",
    ),
    (
        RESUMES_FAILED,
        Kind::Counter,
        Unit::Count,
        "Resumes that got a new session instead, by reason (a ResumeFailure name).",
    ),
    (
        DETACHED_BYTES,
        Kind::Gauge,
        Unit::Bytes,
        "Bytes the replay logs of sessions waiting for a resume hold.",
    ),
    (
        EVENTS_IN,
        Kind::Counter,
        Unit::Count,
        "Events received from clients, by class (reliable, volatile: as a datagram, ack: asking for one).",
    ),
    (
        EVENT_BYTES_IN,
        Kind::Counter,
        Unit::Bytes,
        "Encoded bytes of the events received from clients, by class.",
    ),
    (
        EVENTS_OUT,
        Kind::Counter,
        Unit::Count,
        "Events emitted to clients and accepted for sending, by class (reliable, volatile, ack).",
    ),
    (
        EVENT_BYTES_OUT,
        Kind::Counter,
        Unit::Bytes,
        "Encoded bytes of the events emitted to clients, by class.",
    ),
    (
        BROADCAST_RECIPIENTS,
        Kind::Histogram,
        Unit::Count,
        "Sockets of this node one broadcast reached.",
    ),
    (
        ACKS_SENT,
        Kind::Counter,
        Unit::Count,
        "Acknowledgements sent to clients, by result (ok, error).",
    ),
    (
        ACKS_RECEIVED,
        Kind::Counter,
        Unit::Count,
        "Acknowledgements received from clients, by result (ok, error).",
    ),
    (
        ACK_TIMEOUTS,
        Kind::Counter,
        Unit::Count,
        "Acknowledgements a client did not send in time.",
    ),
    (
        SLOW_CONSUMERS,
        Kind::Counter,
        Unit::Count,
        "Connections closed because their outbound queue overflowed.",
    ),
    (
        VOLATILE_DROPPED,
        Kind::Counter,
        Unit::Count,
        "Volatile events not sent, by reason (queue_full, too_large: over the datagram or frame limit).",
    ),
    (
        SEQUENCED_STALE,
        Kind::Counter,
        Unit::Count,
        "Sequenced and latest-value events received after a newer one of their name and key, and dropped.",
    ),
    (
        RATE_LIMITED,
        Kind::Counter,
        Unit::Count,
        "Events over a socket's rate limit.",
    ),
    (
        HANDLER_DURATION,
        Kind::Histogram,
        Unit::Seconds,
        "Time from an event's arrival to its handler's end, waiting for a handler slot included.",
    ),
    (
        RTT,
        Kind::Histogram,
        Unit::Seconds,
        "Round trips to clients, by transport, sampled at every heartbeat.",
    ),
];

/// Tells the installed recorder what each of quicket's metrics means, and its unit, for
/// exporters that publish descriptions (Prometheus's `# HELP` lines). Call it after installing
/// the recorder; calling it again does no harm. `docs/metrics.md` has the same list.
pub fn describe_metrics() {
    for &(name, kind, unit, help) in ALL {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, unit, help),
            Kind::Gauge => metrics::describe_gauge!(name, unit, help),
            Kind::Histogram => metrics::describe_histogram!(name, unit, help),
        }
    }
}

/// How an event travelled, for the `class` label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Class {
    /// On the ordered channel, asking for no ack.
    Reliable = 0,
    /// Volatile: as a datagram, or on the ordered channel while it is not congested. Only
    /// datagrams are told apart on arrival.
    Volatile = 1,
    /// Asking for an ack.
    Ack = 2,
}

/// Why a volatile event was not sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VolatileDrop {
    /// The outbound queue was half full.
    QueueFull = 0,
    /// Larger than the path's datagram limit on a transport that refuses those, or than
    /// the peer's frame limit.
    TooLarge = 1,
}

/// A counter's `ok` and `error` series.
fn per_result(name: &'static str) -> [Counter; 2] {
    [
        counter!(name, "result" => "ok"),
        counter!(name, "result" => "error"),
    ]
}

/// Events one way, by [`Class`]: how many, and their bytes.
struct Flow {
    events: [Counter; 3],
    bytes: [Counter; 3],
}

impl Flow {
    fn register(events: &'static str, bytes: &'static str) -> Self {
        let per_class = |name: &'static str| {
            [
                counter!(name, "class" => "reliable"),
                counter!(name, "class" => "volatile"),
                counter!(name, "class" => "ack"),
            ]
        };
        Self {
            events: per_class(events),
            bytes: per_class(bytes),
        }
    }

    fn add(&self, class: Class, events: usize, bytes: usize) {
        self.events[class as usize].increment(events as u64);
        self.bytes[class as usize].increment(bytes as u64);
    }
}

/// The handles of the metrics that move with each event, shared by a server's sessions.
pub(crate) struct Meters {
    inbound: Flow,
    outbound: Flow,
    acks_sent: [Counter; 2],
    acks_received: [Counter; 2],
    pub(crate) ack_timeouts: Counter,
    volatile_dropped: [Counter; 2],
    pub(crate) slow_consumers: Counter,
    pub(crate) rate_limited: Counter,
    sequenced_stale: Counter,
    pub(crate) handler_duration: Histogram,
    rtt: [Histogram; 3],
    recipients: Histogram,
}

impl Meters {
    /// Registers every handle with the current recorder.
    fn register() -> Self {
        Self {
            inbound: Flow::register(EVENTS_IN, EVENT_BYTES_IN),
            outbound: Flow::register(EVENTS_OUT, EVENT_BYTES_OUT),
            acks_sent: per_result(ACKS_SENT),
            acks_received: per_result(ACKS_RECEIVED),
            ack_timeouts: counter!(ACK_TIMEOUTS),
            volatile_dropped: [
                counter!(VOLATILE_DROPPED, "reason" => "queue_full"),
                counter!(VOLATILE_DROPPED, "reason" => "too_large"),
            ],
            slow_consumers: counter!(SLOW_CONSUMERS),
            rate_limited: counter!(RATE_LIMITED),
            sequenced_stale: counter!(SEQUENCED_STALE),
            handler_duration: histogram!(HANDLER_DURATION),
            rtt: [
                histogram!(RTT, "transport" => "webtransport"),
                histogram!(RTT, "transport" => "websocket"),
                histogram!(RTT, "transport" => "memory"),
            ],
            recipients: histogram!(BROADCAST_RECIPIENTS),
        }
    }

    /// Handles that record nothing, for the client side, whose traffic is not the server's.
    pub(crate) fn noop() -> Arc<Meters> {
        static NOOP: LazyLock<Arc<Meters>> = LazyLock::new(|| {
            Arc::new(metrics::with_local_recorder(
                &metrics::NoopRecorder,
                Meters::register,
            ))
        });
        Arc::clone(&NOOP)
    }

    pub(crate) fn event_in(&self, class: Class, bytes: usize) {
        self.inbound.add(class, 1, bytes);
    }

    /// `events` sent, of `bytes` in all.
    pub(crate) fn events_out(&self, class: Class, events: usize, bytes: usize) {
        self.outbound.add(class, events, bytes);
    }

    pub(crate) fn ack_sent(&self, ok: bool) {
        self.acks_sent[usize::from(!ok)].increment(1);
    }

    pub(crate) fn ack_received(&self, ok: bool) {
        self.acks_received[usize::from(!ok)].increment(1);
    }

    pub(crate) fn volatile_dropped(&self, why: VolatileDrop) {
        self.volatile_dropped[why as usize].increment(1);
    }

    /// A sequenced event dropped on arrival for a newer one.
    pub(crate) fn sequenced_stale(&self) {
        self.sequenced_stale.increment(1);
    }

    /// How many sockets a broadcast went to.
    pub(crate) fn broadcast(&self, recipients: usize) {
        self.recipients.record(recipients as f64);
    }

    pub(crate) fn rtt(&self, transport: TransportKind, rtt: Duration) {
        let index = match transport {
            TransportKind::WebTransport => 0,
            TransportKind::WebSocket => 1,
            TransportKind::Memory => 2,
        };
        self.rtt[index].record(rtt);
    }
}

/// A server's [`Meters`], registered again whenever the installed recorder changes: a server
/// built before its application installed a recorder still records.
#[derive(Default)]
pub(crate) struct MeterCache(Mutex<Option<(usize, Arc<Meters>)>>);

impl MeterCache {
    /// The handles for a new session.
    pub(crate) fn current(&self) -> Arc<Meters> {
        let recorder =
            metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>().addr());
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &*cached {
            Some((registered_with, meters)) if *registered_with == recorder => Arc::clone(meters),
            _ => {
                let meters = Arc::new(Meters::register());
                *cached = Some((recorder, Arc::clone(&meters)));
                meters
            }
        }
    }
}

/// Counts a connection handed to the server; the gauge of open ones, to decrement at its end.
pub(crate) fn connection_accepted(transport: TransportKind) -> metrics::Gauge {
    let label = transport.label();
    counter!(CONNECTIONS_ACCEPTED, "transport" => label).increment(1);
    let open = gauge!(CONNECTIONS_OPEN, "transport" => label);
    open.increment(1.0);
    open
}

pub(crate) fn handshake_completed(transport: TransportKind) {
    counter!(HANDSHAKES_COMPLETED, "transport" => transport.label()).increment(1);
}

pub(crate) fn handshake_refused(transport: TransportKind, reason: &'static str) {
    counter!(HANDSHAKES_REFUSED, "transport" => transport.label(), "reason" => reason).increment(1);
}

pub(crate) fn session_resumed() {
    counter!(SESSIONS_RESUMED).increment(1);
}

pub(crate) fn resume_failed(reason: &'static str) {
    counter!(RESUMES_FAILED, "reason" => reason).increment(1);
}

/// Moves the session gauges: `attached` and `detached` are +1, -1 or 0. Both are touched
/// either way, so that both show from the first session on.
pub(crate) fn sessions(attached: i8, detached: i8) {
    gauge!(SESSIONS_ATTACHED).increment(f64::from(attached));
    gauge!(SESSIONS_DETACHED).increment(f64::from(detached));
}

/// Bytes taken by (positive) or given back from (negative) the waiting sessions' replay logs.
pub(crate) fn detached_bytes(delta: f64) {
    gauge!(DETACHED_BYTES).increment(delta);
}

/// A broadcast that found no socket, and so no session's [`Meters`], to count it with.
pub(crate) fn broadcast_to_none() {
    histogram!(BROADCAST_RECIPIENTS).record(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_in_the_documented_table() {
        let doc = include_str!("../../docs/metrics.md");
        for (name, ..) in ALL {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is missing from docs/metrics.md"
            );
        }
    }
}
