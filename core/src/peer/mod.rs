//! What a server-side socket and a client have in common: the outbound queue, pending acks,
//! event handlers, emitting, and the driver task that runs the connection.

pub(crate) mod acks;
pub(crate) mod driver;
pub(crate) mod handler;
pub(crate) mod outbox;

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket_proto::{AckError as AckErrorFrame, Frame, PayloadCodec, codec};
use tokio::sync::oneshot;

use self::acks::{AckTable, RegisterError, Waiter};
use self::outbox::{Outbox, PushError};
use crate::config::ConnectionLimits;
use crate::error::{AckError, EmitError};
use crate::payload::{FromPayload, IntoPayload};
use crate::transport::{ConnectionInfo, DatagramSender};

/// The methods a server-side socket and a client share, written once. Both keep `id`, `core`
/// and `handlers` in `self.inner`.
macro_rules! peer_methods {
    ($owner:ident, $peer:literal) => {
        /// The connection's socket id, assigned by the server.
        pub fn id(&self) -> quicket_proto::SocketId {
            self.inner.id
        }

        /// The transport carrying the connection.
        pub fn transport(&self) -> $crate::transport::TransportKind {
            self.inner.core.info.kind
        }

        #[doc = concat!("The ", $peer, "'s address, where the transport has one.")]
        pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
            self.inner.core.info.peer_addr
        }

        /// The connection's payload codec, chosen by the client.
        pub fn codec(&self) -> quicket_proto::PayloadCodec {
            self.inner.core.codec
        }

        #[doc = concat!("The last measured round trip to the ", $peer, ", once a ping has been answered.")]
        pub fn rtt(&self) -> Option<std::time::Duration> {
            self.inner.core.rtt()
        }

        /// The largest volatile frame that travels as a datagram right now; `None` when the
        /// transport has no datagrams. Larger volatile emits take the reliable channel.
        pub fn max_datagram_size(&self) -> Option<usize> {
            self.inner.core.datagrams.as_ref().map(|datagrams| datagrams.max_size())
        }

        /// Handles the event `event` with `handler`, replacing any handler it had.
        pub fn on<H, Args>(&self, event: impl Into<String>, handler: H)
        where
            H: $crate::Handler<$owner, Args>,
            Args: 'static,
        {
            self.inner.handlers.on(event.into(), handler);
        }

        /// Removes the handler of `event`.
        pub fn off(&self, event: &str) {
            self.inner.handlers.off(event);
        }

        /// Handles every event that has no handler of its own; take
        /// [`EventName`]($crate::EventName) to learn which.
        pub fn on_fallback<H, Args>(&self, handler: H)
        where
            H: $crate::Handler<$owner, Args>,
            Args: 'static,
        {
            self.inner.handlers.on_fallback(handler);
        }

        #[doc = concat!("Emits an event to the ", $peer, ".")]
        pub fn emit(
            &self,
            event: &str,
            data: impl $crate::IntoPayload,
        ) -> Result<(), $crate::EmitError> {
            self.inner.core.emit(event, &data)
        }

        #[doc = concat!("Emits an event and waits for the ", $peer, "'s acknowledgement, decoded as `R`.")]
        pub fn emit_with_ack<R>(
            &self,
            event: &str,
            data: impl $crate::IntoPayload,
        ) -> $crate::EmitWithAck<R> {
            self.inner.core.emit_with_ack(event, &data)
        }

        /// Emits that may be dropped under congestion, and travel as datagrams where they fit.
        pub fn volatile(&self) -> $crate::Volatile<'_> {
            $crate::Volatile::new(&self.inner.core)
        }
    };
}

pub(crate) use peer_methods;

/// One connection's sending side, shared by every handle to it.
pub(crate) struct PeerCore {
    pub(crate) codec: PayloadCodec,
    pub(crate) info: ConnectionInfo,
    pub(crate) outbox: Outbox,
    pub(crate) acks: AckTable,
    pub(crate) datagrams: Option<Arc<dyn DatagramSender>>,
    pub(crate) limits: ConnectionLimits,
    /// The largest frame the peer accepts.
    pub(crate) peer_max_frame_size: usize,
    pub(crate) default_ack_timeout: Duration,
    /// The last measured round trip in microseconds; zero until one is measured.
    rtt_micros: AtomicU64,
    last_ping: Mutex<Option<(u64, Instant)>>,
}

impl PeerCore {
    pub(crate) fn new(
        codec: PayloadCodec,
        info: ConnectionInfo,
        datagrams: Option<Arc<dyn DatagramSender>>,
        limits: ConnectionLimits,
        peer_max_frame_size: usize,
        default_ack_timeout: Duration,
    ) -> Self {
        Self {
            codec,
            info,
            outbox: Outbox::new(limits.max_queued_frames, limits.max_queued_bytes),
            acks: AckTable::new(limits.max_pending_acks),
            datagrams,
            limits,
            peer_max_frame_size,
            default_ack_timeout,
            rtt_micros: AtomicU64::new(0),
            last_ping: Mutex::new(None),
        }
    }

    pub(crate) fn check_event_name(&self, name: &str) -> Result<(), EmitError> {
        let max = self.limits.max_event_name_len;
        if name.len() > max {
            return Err(EmitError::EventNameTooLong {
                len: name.len(),
                max,
            });
        }
        Ok(())
    }

    /// Queues an encoded reliable frame.
    pub(crate) fn send_reliable(&self, frame: Bytes) -> Result<(), EmitError> {
        if frame.len() > self.peer_max_frame_size {
            return Err(EmitError::FrameTooLarge {
                size: frame.len(),
                max: self.peer_max_frame_size,
            });
        }
        self.outbox.push(frame).map_err(|err| match err {
            PushError::Closed => EmitError::Disconnected,
            PushError::Overflow => EmitError::SlowConsumer,
        })
    }

    /// Sends an encoded volatile frame as a datagram when it fits, else queues it unless the
    /// queue is congested. Returns whether it left for the transport.
    pub(crate) fn send_volatile(&self, frame: Bytes) -> bool {
        if let Some(datagrams) = &self.datagrams {
            if frame.len() <= datagrams.max_size() {
                return datagrams.send(frame).is_ok();
            }
        }
        frame.len() <= self.peer_max_frame_size && self.outbox.push_volatile(frame)
    }

    /// Queues a control frame.
    pub(crate) fn send_frame(&self, frame: &Frame) -> Result<(), EmitError> {
        self.send_reliable(codec::encode(frame))
    }

    pub(crate) fn emit(&self, event: &str, data: &dyn IntoPayload) -> Result<(), EmitError> {
        self.check_event_name(event)?;
        let payload = data.encode(self.codec)?;
        self.send_reliable(codec::encode_event(event, None, &payload))
    }

    pub(crate) fn emit_volatile(
        &self,
        event: &str,
        data: &dyn IntoPayload,
    ) -> Result<(), EmitError> {
        self.check_event_name(event)?;
        let payload = data.encode(self.codec)?;
        let frame = codec::encode_event(event, None, &payload);
        if frame.len() > self.peer_max_frame_size {
            return Err(EmitError::FrameTooLarge {
                size: frame.len(),
                max: self.peer_max_frame_size,
            });
        }
        if !self.send_volatile(frame) {
            tracing::trace!(event, "volatile event dropped");
        }
        Ok(())
    }

    pub(crate) fn next_ping(&self) -> Frame {
        let mut last = self
            .last_ping
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = last.map_or(0, |(id, _)| id.wrapping_add(1));
        *last = Some((id, Instant::now()));
        Frame::Ping(quicket_proto::Ping { id })
    }

    pub(crate) fn record_pong(&self, id: u64) {
        let last = *self
            .last_ping
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((sent_id, sent_at)) = last {
            if sent_id == id {
                let micros = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.rtt_micros.store(micros.max(1), Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    pub(crate) fn emit_with_ack<R>(
        self: &Arc<Self>,
        event: &str,
        data: &dyn IntoPayload,
    ) -> EmitWithAck<R> {
        let prepared = self
            .check_event_name(event)
            .and_then(|()| data.encode(self.codec).map_err(EmitError::from))
            .map(|payload| (event.to_owned(), payload));
        EmitWithAck {
            core: Arc::clone(self),
            prepared,
            timeout: self.default_ack_timeout,
            _reply: PhantomData,
        }
    }
}

/// An event awaiting its acknowledgement; `.await` it, optionally after [`EmitWithAck::timeout`].
///
/// Resolves to the peer's reply decoded as `R`, or an [`AckError`].
#[must_use = "the event is only sent when this is awaited"]
pub struct EmitWithAck<R> {
    core: Arc<PeerCore>,
    prepared: Result<(String, Bytes), EmitError>,
    timeout: Duration,
    _reply: PhantomData<fn() -> R>,
}

impl<R> EmitWithAck<R> {
    /// How long to wait for the reply (default: the configured ack timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<R: FromPayload + Send + 'static> IntoFuture for EmitWithAck<R> {
    type Output = Result<R, AckError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<R, AckError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (event, payload) = self.prepared?;
            let core = self.core;
            let (tx, rx) = oneshot::channel();
            let id = core
                .acks
                .register(Waiter::One(tx))
                .map_err(|err| match err {
                    RegisterError::TooMany => AckError::TooManyPending,
                    RegisterError::Closed => AckError::Disconnected,
                })?;
            let _pending = CancelOnDrop {
                acks: &core.acks,
                id,
            };
            core.send_reliable(codec::encode_event(&event, Some(id), &payload))?;
            let reply = tokio::time::timeout(self.timeout, rx).await;
            match reply {
                Err(_elapsed) => Err(AckError::Timeout(self.timeout)),
                Ok(Err(_dropped)) => Err(AckError::Disconnected),
                Ok(Ok(Err(err))) => Err(err),
                Ok(Ok(Ok(bytes))) => R::decode(bytes, core.codec).map_err(AckError::Payload),
            }
        })
    }
}

/// Forgets a pending ack id when its emitter stops waiting, so ids never leak.
struct CancelOnDrop<'a> {
    acks: &'a AckTable,
    id: u64,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.acks.cancel(self.id);
    }
}

/// Emits that may be dropped: as a datagram where the transport has them and the frame fits,
/// else on the reliable channel unless the connection's queue is congested.
pub struct Volatile<'a> {
    core: &'a PeerCore,
}

impl<'a> Volatile<'a> {
    pub(crate) fn new(core: &'a PeerCore) -> Self {
        Self { core }
    }

    /// Emits an event that may be dropped. An `Ok` does not mean it was delivered.
    pub fn emit(&self, event: &str, data: impl IntoPayload) -> Result<(), EmitError> {
        self.core.emit_volatile(event, &data)
    }
}

/// Answers one event's acknowledgement request, exactly once.
///
/// Dropping it unanswered sends the emitter an error, so it never waits for nothing. When the
/// event asked for no ack, sending is a no-op.
pub struct AckSender {
    core: Arc<PeerCore>,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(core: Arc<PeerCore>, id: Option<u64>) -> Self {
        Self { core, id }
    }

    /// Whether the emitter asked for an acknowledgement.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Replies with a payload.
    pub fn send(mut self, data: impl IntoPayload) -> Result<(), EmitError> {
        let Some(id) = self.id.take() else {
            return Ok(());
        };
        match data.encode(self.core.codec) {
            Ok(payload) => self.core.send_reliable(codec::encode_ack(id, &payload)),
            Err(err) => {
                let _closing = send_ack_error(&self.core, id, &err.to_string());
                Err(err.into())
            }
        }
    }

    /// Replies with an error message.
    pub fn error(mut self, message: impl Into<String>) -> Result<(), EmitError> {
        match self.id.take() {
            Some(id) => send_ack_error(&self.core, id, &message.into()),
            None => Ok(()),
        }
    }
}

impl Drop for AckSender {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _closed = send_ack_error(&self.core, id, "the handler did not acknowledge");
        }
    }
}

pub(crate) fn send_ack_error(core: &PeerCore, id: u64, message: &str) -> Result<(), EmitError> {
    core.send_frame(&Frame::AckError(AckErrorFrame {
        id,
        message: message.to_owned(),
    }))
}
