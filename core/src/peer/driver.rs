//! The one task that runs a connection once it is open: every read, write, timer and handler
//! completion of that connection goes through its `select!`.
//!
//! It reads frames, polls the handlers they start, drains the outbound queue into the
//! transport, and keeps the heartbeat. Everything it reacts to is a plain method on the
//! socket or client, so the protocol logic stays testable without the loop.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use quicket_proto::{Disconnect, DisconnectReason, Event, Frame, Pong, codec};
use tokio::time::{Instant, sleep};
use tracing::Instrument;

use super::PeerCore;
use super::backlog::{Backlog, ByteBudget, Inbound};
use super::close::Close;
use super::handler::{BoxFuture, EventContext, Handlers, contain_panics_then};
use super::outbox::Next;
use super::rate::RateGate;
use crate::config::{RateExceeded, RateLimit};
use crate::error::AckError;
use crate::meters::Class;
use crate::transport::{FrameReader, FrameWriter, Incoming, TransportError};

/// The side-specific half of a connection: the server's socket or the client.
pub(crate) trait Role: Clone + Send + Sync + 'static {
    fn core(&self) -> &Arc<PeerCore>;
    fn handlers(&self) -> &Handlers<Self>;
    /// Handles a frame that only this side receives. An error closes the connection.
    fn on_frame(&self, frame: Frame) -> Result<(), Close>;
    /// The limit on the events this side receives, if any.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }
    /// Tells the application that an event named `event` was over the rate limit.
    fn rate_limited(&self, _event: &str, _outcome: RateExceeded) {}
}

/// When to ping, and when to give up on a silent peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    pub(crate) ping_every: Option<Duration>,
    pub(crate) dead_after: Duration,
    /// Whether to ping once at the start, so the round trip is known from the first moments
    /// rather than after the first interval (the client, whose server pings only every 25 s).
    pub(crate) ping_at_start: bool,
}

/// Runs the connection until it closes; returns how it closed.
///
/// `startup` (the server's connect handler) runs before any event is dispatched, so the
/// handlers it registers see the first event. Frames are read all along: acks, pongs and
/// disconnects are handled at once, while events and presence requests wait in a bounded
/// backlog, in arrival order, until a handler slot is free. A presence subscription sent right
/// after connecting so waits for the connect handler that joins the room. Only a full backlog
/// stops reading; one that stays full past `backlog_timeout` closes with `Flooding`.
/// `budget` is shared by every connection of a server.
pub(crate) async fn drive<P: Role, R: FrameReader, W: FrameWriter>(
    peer: P,
    mut reader: R,
    mut writer: W,
    heartbeat: Heartbeat,
    startup: Option<BoxFuture>,
    budget: Arc<ByteBudget>,
) -> Close {
    let core = Arc::clone(peer.core());
    let mut startup: FuturesUnordered<BoxFuture> = startup.into_iter().collect();
    let mut handlers: FuturesUnordered<BoxFuture> = FuturesUnordered::new();
    let mut backlog = Backlog::new(&core.limits, budget);
    let mut rate = peer
        .rate_limit()
        .map(|limit| (RateGate::new(&limit, Instant::now()), limit));
    let max_handlers = core.limits.max_concurrent_handlers.max(1);
    let mut reading = true;
    let mut last_inbound = Instant::now();

    if heartbeat.ping_at_start {
        let _closing = core.send_frame(&core.next_ping());
    }
    let close = {
        let write = write_loop(&core, &mut writer);
        tokio::pin!(write);
        let dead = sleep(heartbeat.dead_after);
        tokio::pin!(dead);
        let far = Duration::from_secs(86_400 * 365);
        let ping_every = heartbeat.ping_every.unwrap_or(far);
        let ping = sleep(ping_every);
        tokio::pin!(ping);
        let grace = sleep(far);
        tokio::pin!(grace);
        let mut grace_armed = false;
        let stall = sleep(far);
        tokio::pin!(stall);
        let mut stall_deadline = None;

        loop {
            while startup.is_empty() && handlers.len() < max_handlers {
                let Some(inbound) = backlog.pop() else {
                    break;
                };
                let (event, counted, arrived) = match inbound {
                    Inbound::Event(event, counted, arrived) => (event, counted, arrived),
                    Inbound::Refused(counted) => {
                        if counted {
                            core.received.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    Inbound::Request(frame) => {
                        if let Err(close) = peer.on_frame(frame) {
                            reading = false;
                            core.outbox.close(close);
                        }
                        continue;
                    }
                };
                if counted {
                    core.received.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(mut handler) = on_event(&peer, event, arrived) {
                    // Run the handler up to its first await before starting the next one:
                    // handlers start, and their synchronous part runs, in arrival order.
                    if poll_once(&mut handler).await.is_pending() {
                        handlers.push(handler);
                    }
                }
            }
            let deadline = if reading {
                backlog.stall_deadline(Instant::now())
            } else {
                None
            };
            if deadline != stall_deadline {
                stall_deadline = deadline;
                stall
                    .as_mut()
                    .reset(deadline.unwrap_or_else(|| Instant::now() + far));
            }
            tokio::select! {
                biased;
                close = &mut write => break close,
                () = core.outbox.closing(), if !grace_armed => {
                    let drain = core
                        .outbox
                        .close_state()
                        .and_then(|close| close.drain_within)
                        .unwrap_or(core.limits.close_timeout);
                    grace.as_mut().reset(Instant::now() + drain);
                    grace_armed = true;
                    // Events that want a reply would only have it refused. The others were sent
                    // before the peer's goodbye and still count: they run after the close.
                    backlog.retain(Inbound::survives_close);
                }
                () = &mut stall, if stall_deadline.is_some() => {
                    let message = format!(
                        "events waited for handlers over {:?} with reading stopped",
                        core.limits.backlog_timeout
                    );
                    reading = false;
                    stall_deadline = None;
                    core.outbox.close(Close::now(DisconnectReason::Flooding, message));
                }
                () = &mut grace, if grace_armed => {
                    tracing::debug!("queued frames did not drain in time; abandoning them");
                    break abandoned_close(&core);
                }
                incoming = reader.recv(), if reading && backlog.has_room() => {
                    last_inbound = Instant::now();
                    let size = incoming.as_ref().map_or(0, Incoming::size);
                    let result = incoming
                        .map_err(transport_close)
                        .and_then(|i| on_incoming(&peer, i, last_inbound))
                        .and_then(|inbound| match (inbound, &mut rate) {
                            (Some(Inbound::Event(event, counted, arrived)), Some((gate, limit))) => {
                                if gate.admit(size, last_inbound) {
                                    Ok(Some(Inbound::Event(event, counted, arrived)))
                                } else {
                                    over_the_limit(&peer, event, counted, limit.exceeded)
                                }
                            }
                            (inbound, _) => Ok(inbound),
                        });
                    match result {
                        // While closing, only events that want no reply are still worth taking.
                        Ok(Some(inbound)) if !core.outbox.is_closing() || inbound.survives_close() => {
                            backlog.push(inbound, size);
                        }
                        Ok(_) => {}
                        Err(close) => {
                            reading = false;
                            core.outbox.close(close);
                        }
                    }
                }
                Some(()) = handlers.next(), if !handlers.is_empty() => {}
                Some(()) = startup.next(), if !startup.is_empty() => {}
                () = &mut dead => {
                    // While our own backlog holds reading back, the peer's frames wait unread:
                    // that silence is ours, not the peer's.
                    if reading && !backlog.has_room() {
                        last_inbound = Instant::now();
                    }
                    let deadline = last_inbound + heartbeat.dead_after;
                    if deadline > Instant::now() {
                        dead.as_mut().reset(deadline);
                    } else {
                        let message = format!("no frame from the peer for {:?}", heartbeat.dead_after);
                        core.outbox.close(Close::now(DisconnectReason::PingTimeout, message));
                        dead.as_mut().reset(Instant::now() + far);
                    }
                }
                () = &mut ping => {
                    if let Some(rtt) = core.path_stats().and_then(|stats| stats.rtt) {
                        core.meters.rtt(core.info().kind, rtt);
                    }
                    let _closing = core.send_frame(&core.next_ping());
                    ping.as_mut().reset(Instant::now() + ping_every);
                }
            }
        }
    };
    let close = if reading && close.is_recoverable() {
        read_last_words(&peer, &mut reader, &mut backlog, close)
    } else {
        close
    };

    if close.notify_peer {
        let goodbye = codec::encode(&Frame::Disconnect(Disconnect {
            reason: close.reason,
            message: close.message.clone(),
        }));
        let sent = tokio::time::timeout(core.limits.close_timeout, async {
            writer.send(goodbye).await?;
            writer.flush().await
        });
        if let Ok(Err(err)) = sent.await {
            tracing::debug!(%err, "could not send the disconnect frame");
        }
    }
    writer.close(close.reason, &close.message).await;
    drop(reader);
    core.acks.close();
    for inbound in backlog.drain() {
        let (event, counted) = match inbound {
            Inbound::Event(event, counted, arrived) => (Some((event, arrived)), counted),
            Inbound::Refused(counted) => (None, counted),
            Inbound::Request(_) => continue,
        };
        if counted {
            core.received.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(handler) = event.and_then(|(event, arrived)| on_event(&peer, event, arrived)) {
            handlers.push(handler);
        }
    }
    if !handlers.is_empty() {
        // Handlers already running finish on their own, still in the connection's span;
        // they see a closed connection.
        tokio::spawn(handlers.for_each(|()| async {}).in_current_span());
    }
    close
}

/// A write that failed because the peer went away may have raced the peer's own goodbye: the
/// frames it sent last may already sit in our receive buffer. Reads what is there without
/// waiting; the peer's `Disconnect` names the real reason (a client that said goodbye must
/// not leave a session waiting for a resume), and its events still count.
fn read_last_words<P: Role, R: FrameReader>(
    peer: &P,
    reader: &mut R,
    backlog: &mut Backlog,
    close: Close,
) -> Close {
    while backlog.has_room() {
        let Some(Ok(incoming)) = reader.recv().now_or_never() else {
            break;
        };
        let size = incoming.size();
        match on_incoming(peer, incoming, Instant::now()) {
            Ok(Some(inbound)) => backlog.push(inbound, size),
            Ok(None) => {}
            Err(goodbye) if !goodbye.is_recoverable() => return goodbye,
            Err(_) => break,
        }
    }
    close
}

/// Drains the outbound queue into the transport until a close comes out of it.
async fn write_loop<W: FrameWriter>(core: &PeerCore, writer: &mut W) -> Close {
    loop {
        match core.outbox.try_next() {
            Some(Next::Frame(frame)) => {
                if let Err(err) = writer.send(frame).await {
                    return failed_write(core, err);
                }
            }
            Some(Next::Closed(close)) => return close,
            None => {
                if let Err(err) = writer.flush().await {
                    return failed_write(core, err);
                }
                core.outbox.ready().await;
            }
        }
    }
}

/// An event over the rate limit: dropped, keeping its place for the offsets, or the close.
fn over_the_limit<P: Role>(
    peer: &P,
    event: Event,
    counted: bool,
    outcome: RateExceeded,
) -> Result<Option<Inbound>, Close> {
    peer.core().meters.rate_limited.increment(1);
    peer.rate_limited(&event.name, outcome);
    match outcome {
        RateExceeded::Disconnect => Err(Close::now(
            DisconnectReason::Flooding,
            "events over the rate limit",
        )),
        _ => {
            if let Some(id) = event.ack {
                let _closing = super::send_ack_error(peer.core(), id, "over the rate limit");
            }
            Ok(Some(Inbound::Refused(counted)))
        }
    }
}

/// The close after a failed write. A close decided while the write waited (the peer's
/// goodbye, read meanwhile) names the real reason, and the failure is only its consequence.
fn failed_write(core: &PeerCore, err: TransportError) -> Close {
    let close = transport_close(err);
    core.outbox.close(close.clone());
    core.outbox.close_state().unwrap_or(close)
}

fn abandoned_close(core: &PeerCore) -> Close {
    match core.outbox.close_state() {
        Some(close) => Close {
            notify_peer: false,
            ..close
        },
        None => Close::silent(
            DisconnectReason::TransportClosed,
            "the transport stopped accepting frames",
        ),
    }
}

fn transport_close(err: TransportError) -> Close {
    match err {
        TransportError::FrameTooLarge { declared, max } => Close::now(
            DisconnectReason::FrameTooLarge,
            format!("frame of {declared} bytes exceeds the maximum of {max}"),
        ),
        TransportError::Malformed(message) => Close::now(DisconnectReason::ProtocolError, message),
        TransportError::PeerClosed { reason, message } => Close::silent(reason, message),
        other => Close::silent(DisconnectReason::TransportClosed, other.to_string()),
    }
}

async fn poll_once(future: &mut BoxFuture) -> Poll<()> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// Handles one incoming frame, read at `arrived`; events and the peer's own frames are
/// returned for the backlog.
fn on_incoming<P: Role>(
    peer: &P,
    incoming: Incoming,
    arrived: Instant,
) -> Result<Option<Inbound>, Close> {
    let core = peer.core();
    let (bytes, datagram) = match incoming {
        Incoming::Frame(bytes) => (bytes, false),
        Incoming::Datagram(bytes) => (bytes, true),
    };
    let frame = codec::decode(&bytes).map_err(|err| {
        Close::now(
            DisconnectReason::ProtocolError,
            format!("undecodable frame: {err}"),
        )
    })?;
    if datagram && !matches!(frame, Frame::Event(Event { ack: None, .. })) {
        return Err(Close::now(
            DisconnectReason::ProtocolError,
            "only events without an ack id may travel as datagrams",
        ));
    }
    match frame {
        Frame::Event(event) => {
            let class = match (datagram, event.ack) {
                (true, _) => Class::Volatile,
                (false, Some(_)) => Class::Ack,
                (false, None) => Class::Reliable,
            };
            core.meters.event_in(class, bytes.len());
            let counted = !datagram && event.ack.is_none();
            Ok(Some(Inbound::Event(event, counted, arrived)))
        }
        Frame::Ack(ack) => {
            core.meters.ack_received(true);
            core.acks.resolve(ack.id, Ok(ack.data));
            Ok(None)
        }
        Frame::AckError(ack) => {
            core.meters.ack_received(false);
            core.acks
                .resolve(ack.id, Err(AckError::Remote(ack.message)));
            Ok(None)
        }
        Frame::Ping(ping) => {
            let _closing = core.send_frame(&Frame::Pong(Pong { id: ping.id }));
            Ok(None)
        }
        Frame::Pong(pong) => {
            core.record_pong(pong.id);
            Ok(None)
        }
        Frame::Disconnect(bye) => Err(Close::silent(bye.reason, bye.message)),
        other => Ok(Some(Inbound::Request(other))),
    }
}

/// Starts the handler of an event read at `arrived`; its end is timed from then.
fn on_event<P: Role>(peer: &P, event: Event, arrived: Instant) -> Option<BoxFuture> {
    let core = peer.core();
    if let Err(err) = core.check_event_name(&event.name) {
        tracing::debug!(%err, "incoming event refused");
        if let Some(id) = event.ack {
            let _closing = super::send_ack_error(core, id, &err.to_string());
        }
        return None;
    }
    let Some(handler) = peer.handlers().find(&event.name) else {
        tracing::debug!(event = %event.name, "no handler for event");
        if let Some(id) = event.ack {
            let _closing =
                super::send_ack_error(core, id, &format!("unknown event {:?}", event.name));
        }
        return None;
    };
    let name = event.name.clone();
    let ctx = EventContext::new(
        peer.clone(),
        Arc::clone(core),
        event.name,
        event.data,
        event.ack,
    );
    // Extractors and the synchronous part of a handler closure run here, in the driver.
    match std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(ctx))) {
        Ok(future) => future.map(|future| {
            let duration = core.meters.handler_duration.clone();
            contain_panics_then(future, "event", move || duration.record(arrived.elapsed()))
        }),
        Err(_panic) => {
            tracing::error!(event = %name, "an event handler panicked; the connection goes on");
            None
        }
    }
}
