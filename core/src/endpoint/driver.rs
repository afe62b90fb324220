//! The one task that runs a connection once it is open: it moves frames between the
//! transport, the outbound queue and the handlers, and sleeps until the machine's next
//! deadline.
//!
//! Every decision (when to read, which frame a handler takes next, the heartbeat, the close
//! grace, the peer's last words) is the [`Machine`]'s; the driver only performs them, so the
//! protocol logic is tested without sockets or a clock.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use quicket_proto::{Disconnect, DisconnectReason, Event, Frame, Pong, codec};
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

use super::SessionCore;
use super::backlog::{ByteBudget, Counted, Inbound};
use super::close::Close;
use super::handler::{BoxFuture, EventContext, Handlers, contain_panics_then};
pub(crate) use super::machine::Heartbeat;
use super::machine::{LastWord, Machine, Wake};
use super::outbox::{Next, Outbox, Route};
use crate::config::{RateExceeded, RateLimit};
use crate::error::AckError;
use crate::meters::Class;
use crate::transport::{FrameReader, FrameWriter, Incoming, TransportError};

/// The side-specific half of a connection: the server's socket or the client.
pub(crate) trait Role: Clone + Send + Sync + 'static {
    fn core(&self) -> &Arc<SessionCore>;
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

/// Runs the connection until it closes; returns how it closed.
///
/// `startup` (the server's connect handler) runs before any event is dispatched, so the
/// handlers it registers see the first event, and up to its first await before any frame
/// is written. Frames are read all along: acks, pongs and
/// disconnects are handled at once, while events and presence requests wait in a bounded
/// backlog, in arrival order, until a handler slot is free. `budget` is shared by every
/// connection of a server.
pub(crate) async fn drive<P: Role, R: FrameReader, W: FrameWriter>(
    peer: P,
    mut reader: R,
    mut writer: W,
    heartbeat: Heartbeat,
    startup: Option<BoxFuture>,
    budget: Arc<ByteBudget>,
) -> Close {
    let core = Arc::clone(peer.core());
    // The connect handler's synchronous part (joining rooms, registering handlers) runs
    // before the first frame, the `Welcome`, goes out: as with socket.io, a client that is
    // connected is in the rooms its handler joined, and a broadcast made after cannot miss it.
    let mut startup = startup;
    if let Some(first) = startup.as_mut()
        && poll_once(first).await.is_ready()
    {
        startup = None;
    }
    let mut startup: FuturesUnordered<BoxFuture> = startup.into_iter().collect();
    let mut handlers: FuturesUnordered<BoxFuture> = FuturesUnordered::new();
    let rate = peer.rate_limit();
    let mut machine = Machine::new(
        &core.limits,
        heartbeat,
        rate.as_ref(),
        budget,
        !startup.is_empty(),
        now(),
    );
    let close = pump(
        &peer,
        &mut machine,
        &mut reader,
        &mut writer,
        &mut startup,
        &mut handlers,
    )
    .await;
    let close = read_last_words(&peer, &mut reader, &mut machine, close);
    say_goodbye(&core, &mut writer, &close).await;
    drop(reader);
    core.acks.close();
    // Frames still waiting for an unfinished connect handler stay unhandled and uncounted:
    // a resumed session gets them again from the client, once the handler has finished.
    if startup.is_empty() {
        for inbound in machine.into_leftovers() {
            if let Some(handler) = take(&peer, inbound) {
                handlers.push(handler);
            }
        }
    }
    if !handlers.is_empty() {
        // Handlers already running finish on their own, still in the connection's span;
        // they see a closed connection.
        tokio::spawn(handlers.for_each(|()| async {}).in_current_span());
    }
    close
}

/// Moves frames and wakes at the machine's deadlines until the connection closes.
async fn pump<P: Role, R: FrameReader, W: FrameWriter>(
    peer: &P,
    machine: &mut Machine,
    reader: &mut R,
    writer: &mut W,
    startup: &mut FuturesUnordered<BoxFuture>,
    handlers: &mut FuturesUnordered<BoxFuture>,
) -> Close {
    let core = peer.core();
    let write = write_loop(core, writer);
    tokio::pin!(write);
    let timer = sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut armed = None;
    loop {
        dispatch(peer, machine, handlers).await;
        // Rearming a timer costs a trip to the timer wheel: only when the deadline moves.
        let wake = machine.poll_timeout(now());
        if wake != armed {
            armed = wake;
            if let Some(at) = wake {
                timer.as_mut().reset(Instant::from_std(at));
            }
        }
        tokio::select! {
            biased;
            close = &mut write => return close,
            () = core.outbox.closing(), if !machine.is_closing() => {
                let drain = core.outbox.close_state().and_then(|close| close.drain_within);
                machine.handle_closing(drain, now());
            }
            () = &mut timer, if armed.is_some() => {
                armed = None;
                if let Some(close) = on_deadlines(core, machine) {
                    return close;
                }
            }
            incoming = reader.recv(), if machine.wants_read() => on_read(peer, machine, incoming),
            Some(()) = handlers.next(), if !handlers.is_empty() => machine.handler_finished(),
            Some(()) = startup.next(), if !startup.is_empty() => machine.startup_finished(),
        }
    }
}

/// The time as the machine takes it: tokio's clock, so paused time in tests reaches it.
pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Starts the handlers of waiting frames while the machine has slots for them.
async fn dispatch<P: Role>(
    peer: &P,
    machine: &mut Machine,
    handlers: &mut FuturesUnordered<BoxFuture>,
) {
    while let Some(inbound) = machine.poll_dispatch() {
        if let Inbound::Request(frame) = inbound {
            if let Err(close) = peer.on_frame(frame) {
                machine.stop_reading();
                peer.core().outbox.close(close);
            }
            continue;
        }
        if let Some(mut handler) = take(peer, inbound) {
            // Run the handler up to its first await before starting the next one:
            // handlers start, and their synchronous part runs, in arrival order.
            if poll_once(&mut handler).await.is_pending() {
                machine.handler_started();
                handlers.push(handler);
            }
        }
    }
}

/// Counts an event toward the session's offset and returns its handler, if it has one.
fn take<P: Role>(peer: &P, inbound: Inbound) -> Option<BoxFuture> {
    let (event, counted) = match inbound {
        Inbound::Event(event, counted, arrived) => (Some((event, arrived)), counted),
        Inbound::Refused(counted) => (None, counted),
        Inbound::Request(_) => return None,
    };
    if let Some(channel) = counted {
        peer.core().count_received(channel);
    }
    event.and_then(|(event, arrived)| on_event(peer, event, arrived))
}

/// Acts on every deadline that has passed; the close to end with when the grace is over.
fn on_deadlines(core: &SessionCore, machine: &mut Machine) -> Option<Close> {
    while let Some(wake) = machine.handle_timeout(now()) {
        match wake {
            Wake::Ping => {
                if let Some(rtt) = core.path_stats().and_then(|stats| stats.rtt) {
                    core.meters.rtt(core.info().kind, rtt);
                }
                let _closing = core.send_frame(&core.next_ping());
            }
            Wake::Close(close) => core.outbox.close(close),
            Wake::Abandon => {
                tracing::debug!("queued frames did not drain in time; abandoning them");
                return Some(abandoned_close(&core.outbox));
            }
        }
    }
    None
}

/// Handles one read: the frame goes to the backlog, or its error begins the close.
fn on_read<P: Role>(peer: &P, machine: &mut Machine, incoming: Result<Incoming, TransportError>) {
    let at = now();
    machine.handle_read(at);
    let size = incoming.as_ref().map_or(0, Incoming::size);
    let result = incoming
        .map_err(transport_close)
        .and_then(|incoming| on_incoming(peer, incoming, at))
        .and_then(|inbound| match inbound {
            Some(Inbound::Event(event, counted, arrived)) => match machine.admit(size, at) {
                Ok(()) => Ok(Some(Inbound::Event(event, counted, arrived))),
                Err(outcome) => over_the_limit(peer, event, counted, outcome),
            },
            other => Ok(other),
        });
    match result {
        Ok(Some(inbound)) => machine.handle_inbound(inbound, size),
        Ok(None) => {}
        Err(close) => {
            machine.stop_reading();
            peer.core().outbox.close(close);
        }
    }
}

/// Reads what the peer sent before the connection broke, without waiting; see
/// [`Machine::handle_last_word`].
fn read_last_words<P: Role, R: FrameReader>(
    peer: &P,
    reader: &mut R,
    machine: &mut Machine,
    close: Close,
) -> Close {
    if !machine.wants_last_words(&close) {
        return close;
    }
    while let Some(Ok(incoming)) = reader.recv().now_or_never() {
        let size = incoming.size();
        match machine.handle_last_word(on_incoming(peer, incoming, now()), size) {
            LastWord::More => {}
            LastWord::Done => break,
            LastWord::Goodbye(goodbye) => return goodbye,
        }
    }
    close
}

/// Tells the peer why, when the close says so, then closes the transport.
async fn say_goodbye<W: FrameWriter>(core: &SessionCore, writer: &mut W, close: &Close) {
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
}

/// Drains the outbound queue into the transport until a close comes out of it.
async fn write_loop<W: FrameWriter>(core: &SessionCore, writer: &mut W) -> Close {
    loop {
        match core.outbox.try_next() {
            Some(Next::Frame(route, frame)) => {
                let sent = match route {
                    Route::Channel(0) | Route::Superseding(_) => writer.send(frame).await,
                    Route::Channel(channel) => writer.send_on(channel, frame).await,
                    Route::Alone(supersedes) => writer.send_alone(frame, supersedes).await,
                };
                if let Err(err) = sent {
                    return failed_write(&core.outbox, err);
                }
            }
            Some(Next::Closed(close)) => return close,
            None => {
                if let Err(err) = writer.flush().await {
                    return failed_write(&core.outbox, err);
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
    counted: Counted,
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
fn failed_write(outbox: &Outbox, err: TransportError) -> Close {
    let close = transport_close(err);
    outbox.close(close.clone());
    outbox.close_state().unwrap_or(close)
}

/// The close when its grace ran out: the peer is not told, since nothing more gets written.
fn abandoned_close(outbox: &Outbox) -> Close {
    match outbox.close_state() {
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
    arrived: std::time::Instant,
) -> Result<Option<Inbound>, Close> {
    let core = peer.core();
    let (bytes, carrier) = match incoming {
        Incoming::Frame(bytes) => (bytes, Carrier::Channel(0)),
        Incoming::Datagram(bytes) => (bytes, Carrier::Datagram),
        Incoming::Channel(channel, bytes) => {
            if channel == 0 || channel > core.outbox.channels_granted() {
                return Err(Close::now(
                    DisconnectReason::ProtocolError,
                    format!("a frame on channel {channel}, which was not granted"),
                ));
            }
            (bytes, Carrier::Channel(channel))
        }
        Incoming::Alone(bytes) if core.accepts_alone() => (bytes, Carrier::Alone),
        Incoming::Alone(_) => {
            return Err(Close::now(
                DisconnectReason::ProtocolError,
                "a single-frame stream without the delivery classes and a channel granted",
            ));
        }
    };
    let frame = codec::decode(&bytes).map_err(|err| {
        Close::now(
            DisconnectReason::ProtocolError,
            format!("undecodable frame: {err}"),
        )
    })?;
    let carried = matches!(
        (&frame, carrier),
        (_, Carrier::Channel(0))
            | (Frame::Event(Event { ack: None, .. }), _)
            | (Frame::Sequenced(_), Carrier::Datagram | Carrier::Alone)
    );
    if !carried {
        return Err(Close::now(
            DisconnectReason::ProtocolError,
            "a frame where it may not travel: only events without an ack id and sequenced \
             events leave channel 0",
        ));
    }
    match frame {
        Frame::Event(event) => {
            let (class, counted) = match (carrier, event.ack) {
                (Carrier::Datagram, _) => (Class::Volatile, None),
                (Carrier::Alone, _) => (Class::Reliable, None),
                (Carrier::Channel(_), Some(_)) => (Class::Ack, None),
                (Carrier::Channel(channel), None) => (Class::Reliable, Some(channel)),
            };
            core.meters.event_in(class, bytes.len());
            Ok(Some(Inbound::Event(event, counted, arrived)))
        }
        Frame::Sequenced(stamped) => {
            if !core.classes() {
                return Err(Close::now(
                    DisconnectReason::ProtocolError,
                    "a sequenced event without the delivery classes",
                ));
            }
            if !core.admit_sequenced(&stamped.name, &stamped.key, stamped.seq) {
                core.meters.sequenced_stale();
                return Ok(None);
            }
            core.meters.event_in(Class::Volatile, bytes.len());
            let event = Event {
                name: stamped.name,
                ack: None,
                data: stamped.data,
            };
            Ok(Some(Inbound::Event(event, None, arrived)))
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

/// What carried a frame in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    /// An ordered channel: 0, the connection's own, or one the server opened.
    Channel(u16),
    Datagram,
    /// A single-frame stream.
    Alone,
}

/// Starts the handler of an event read at `arrived`; its end is timed from then.
fn on_event<P: Role>(peer: &P, event: Event, arrived: std::time::Instant) -> Option<BoxFuture> {
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

#[cfg(test)]
mod tests {
    use quicket_proto::DisconnectReason;

    use super::{Close, Outbox, TransportError, failed_write};

    /// The race fixed in the close path, write side: the peer's goodbye was read while our
    /// write waited, then the write failed because the peer had gone. The goodbye is why.
    #[test]
    fn a_write_that_fails_after_the_peers_goodbye_keeps_the_goodbyes_reason() {
        let outbox = Outbox::new(16, 1 << 16, None);
        outbox.close(Close::silent(DisconnectReason::ClientDisconnect, "bye"));
        let close = failed_write(&outbox, TransportError::Closed);
        assert_eq!(close.reason, DisconnectReason::ClientDisconnect);
        assert!(!close.is_recoverable(), "no session waits for a resume");
    }

    #[test]
    fn a_write_that_fails_on_its_own_is_a_broken_transport() {
        let outbox = Outbox::new(16, 1 << 16, None);
        let close = failed_write(&outbox, TransportError::Closed);
        assert_eq!(close.reason, DisconnectReason::TransportClosed);
        assert!(close.is_recoverable());
    }
}
