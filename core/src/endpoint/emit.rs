//! Emitting with acknowledgements, and answering acks.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{AckError as AckErrorFrame, Frame, codec};
use tokio::sync::oneshot;

use super::SessionCore;
use super::acks::{AckTable, RegisterError, Waiter};
use crate::error::{AckError, EmitError};
use crate::payload::{FromPayload, IntoPayload};

/// An event awaiting its acknowledgement; `.await` it, optionally after [`EmitWithAck::timeout`].
///
/// Resolves to the peer's reply decoded as `R`, or an [`AckError`].
#[must_use = "the event is only sent when this is awaited"]
pub struct EmitWithAck<R> {
    core: Arc<SessionCore>,
    prepared: Result<(String, Bytes), EmitError>,
    timeout: Duration,
    _reply: PhantomData<fn() -> R>,
}

impl<R> EmitWithAck<R> {
    pub(super) fn new(
        core: Arc<SessionCore>,
        prepared: Result<(String, Bytes), EmitError>,
        timeout: Duration,
    ) -> Self {
        Self {
            core,
            prepared,
            timeout,
            _reply: PhantomData,
        }
    }

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
            core.send_with_ack(codec::encode_event(&event, Some(id), &payload))?;
            let reply = tokio::time::timeout(self.timeout, rx).await;
            match reply {
                Err(_elapsed) => {
                    core.meters.ack_timeouts.increment(1);
                    Err(AckError::Timeout(self.timeout))
                }
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

/// Answers one event's acknowledgement request, exactly once.
///
/// Dropping it unanswered sends the emitter an error, so it never waits for nothing. When the
/// event asked for no ack, sending is a no-op.
pub struct AckSender {
    core: Arc<SessionCore>,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(core: Arc<SessionCore>, id: Option<u64>) -> Self {
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
            Ok(payload) => {
                self.core.send_reliable(codec::encode_ack(id, &payload))?;
                self.core.meters.ack_sent(true);
                Ok(())
            }
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

pub(crate) fn send_ack_error(core: &SessionCore, id: u64, message: &str) -> Result<(), EmitError> {
    core.send_frame(&Frame::AckError(AckErrorFrame {
        id,
        message: message.to_owned(),
    }))?;
    core.meters.ack_sent(false);
    Ok(())
}
