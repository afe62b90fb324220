//! Event handlers with extractor-style arguments, as in axum and socketioxide.
//!
//! A handler is an async function whose arguments each implement [`FromEvent`]:
//!
//! ```text
//! socket.on("chat", |socket: Socket, Data(msg): Data<Chat>, ack: AckSender| async move { .. });
//! ```
//!
//! `S` is the handle type of the side that receives: `Socket` on the server, `Client` on the
//! client.
//!
//! Ordering: the events of one connection start their handlers in arrival order, and each
//! handler runs up to its first `.await` before the next event is read. Handlers that await
//! run concurrently (at most `max_concurrent_handlers` per connection), so work after an await
//! may finish out of order.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use futures_util::FutureExt;
use quicket_proto::PayloadError;

use super::{AckSender, SessionCore, send_ack_error};
use crate::payload::FromPayload;

/// A boxed handler future.
pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Everything an extractor may take from an incoming event.
pub struct EventContext<S> {
    owner: S,
    core: Arc<SessionCore>,
    name: String,
    data: Bytes,
    ack: Option<u64>,
}

impl<S> EventContext<S> {
    pub(crate) fn new(
        owner: S,
        core: Arc<SessionCore>,
        name: String,
        data: Bytes,
        ack: Option<u64>,
    ) -> Self {
        Self {
            owner,
            core,
            name,
            data,
            ack,
        }
    }

    /// The receiving side's handle.
    pub fn owner(&self) -> &S {
        &self.owner
    }

    /// The event's name.
    pub fn event_name(&self) -> &str {
        &self.name
    }
}

/// Why an argument could not be extracted; the emitter's ack, if any, gets the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The payload does not decode as the handler's type.
    #[error("invalid payload: {0}")]
    Payload(#[from] PayloadError),
    /// A [`State`](crate::State) argument asked for a type the server builder never set.
    #[error("no server state of type {0}: set it with ServerBuilder::state")]
    MissingState(&'static str),
}

/// A handler argument taken from the incoming event.
pub trait FromEvent<S>: Sized {
    /// Extracts the argument.
    fn from_event(ctx: &mut EventContext<S>) -> Result<Self, ExtractError>;

    /// Called instead of the handler when another argument failed to extract; the default
    /// drops the value. [`AckSender`] uses it to give the emitter the real reason.
    fn rejected(self, err: &ExtractError) {
        let _ = err;
    }
}

/// The event's payload, decoded with the connection's codec. `Data<Raw>` takes the bytes as they
/// came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data<T>(pub T);

impl<S, T: FromPayload> FromEvent<S> for Data<T> {
    fn from_event(ctx: &mut EventContext<S>) -> Result<Self, ExtractError> {
        Ok(Data(T::decode(ctx.data.clone(), ctx.core.codec)?))
    }
}

/// The event's name; useful in a fallback handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventName(pub String);

impl<S> FromEvent<S> for EventName {
    fn from_event(ctx: &mut EventContext<S>) -> Result<Self, ExtractError> {
        Ok(EventName(ctx.name.clone()))
    }
}

impl<S> FromEvent<S> for AckSender {
    fn from_event(ctx: &mut EventContext<S>) -> Result<Self, ExtractError> {
        Ok(AckSender::new(Arc::clone(&ctx.core), ctx.ack.take()))
    }

    fn rejected(self, err: &ExtractError) {
        let _closing = self.error(err.to_string());
    }
}

/// An async function usable as an event handler.
pub trait Handler<S, Args>: Send + Sync + 'static {
    /// Extracts the arguments and starts the handler. A failed extraction answers the emitter's
    /// ack with the error and runs nothing.
    fn call(&self, ctx: EventContext<S>) -> Option<BoxFuture>;
}

macro_rules! impl_handler {
    ($($arg:ident),*) => {
        impl<S, F, Fut, $($arg,)*> Handler<S, ($($arg,)*)> for F
        where
            S: Send + 'static,
            F: Fn($($arg),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($arg: FromEvent<S> + Send + 'static,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, mut ctx: EventContext<S>) -> Option<BoxFuture> {
                $( let $arg = $arg::from_event(&mut ctx); )*
                let failed: Option<ExtractError> = None $( .or_else(|| $arg.as_ref().err().cloned()) )*;
                if let Some(err) = failed {
                    reject(&ctx, &err);
                    $( if let Ok(value) = $arg { value.rejected(&err); } )*
                    return None;
                }
                #[allow(irrefutable_let_patterns)]
                let ($(Ok($arg),)*) = ($($arg,)*) else {
                    return None;
                };
                if let Some(id) = ctx.ack {
                    let _closed = send_ack_error(&ctx.core, id, "the handler does not acknowledge");
                }
                Some(Box::pin((self)($($arg),*)))
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);

fn reject<S>(ctx: &EventContext<S>, err: &ExtractError) {
    tracing::debug!(event = %ctx.name, %err, "event rejected");
    if let Some(id) = ctx.ack {
        let _closed = send_ack_error(&ctx.core, id, &err.to_string());
    }
}

/// A handler with its argument types erased.
pub(crate) trait ErasedHandler<S>: Send + Sync + 'static {
    fn call(&self, ctx: EventContext<S>) -> Option<BoxFuture>;
}

struct Erased<H, Args>(H, PhantomData<fn(Args)>);

impl<S, H: Handler<S, Args>, Args: 'static> ErasedHandler<S> for Erased<H, Args> {
    fn call(&self, ctx: EventContext<S>) -> Option<BoxFuture> {
        self.0.call(ctx)
    }
}

/// The handlers registered on one socket or client.
pub(crate) struct Handlers<S> {
    events: RwLock<HashMap<String, Arc<dyn ErasedHandler<S>>>>,
    fallback: RwLock<Option<Arc<dyn ErasedHandler<S>>>>,
    /// Set by [`Handlers::clear`]: a handler registered later (by a handler still running
    /// when its socket was released) is dropped at once, or it would keep what it captured,
    /// the socket itself often, alive with nothing left to call it.
    cleared: AtomicBool,
}

impl<S> Clone for Handlers<S> {
    /// Another registry with the same handlers (shared, not copied).
    fn clone(&self) -> Self {
        let events = self
            .events
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let fallback = self
            .fallback
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Self {
            events: RwLock::new(events),
            fallback: RwLock::new(fallback),
            cleared: AtomicBool::new(false),
        }
    }
}

impl<S: 'static> Handlers<S> {
    pub(crate) fn new() -> Self {
        Self {
            events: RwLock::default(),
            fallback: RwLock::new(None),
            cleared: AtomicBool::new(false),
        }
    }

    pub(crate) fn on<H: Handler<S, Args>, Args: 'static>(&self, event: String, handler: H) {
        let handler: Arc<dyn ErasedHandler<S>> = Arc::new(Erased(handler, PhantomData));
        let mut events = self.events.write().unwrap_or_else(PoisonError::into_inner);
        if !self.cleared.load(Ordering::Acquire) {
            events.insert(event, handler);
        }
    }

    /// Drops every handler, and with them whatever they captured, and every handler
    /// registered from now on.
    pub(crate) fn clear(&self) {
        let mut events = self.events.write().unwrap_or_else(PoisonError::into_inner);
        // Set under the events lock, and before the fallback's is taken, so that `on` and
        // `on_fallback`, which check it under their lock, either come first and are cleared
        // here, or see it.
        self.cleared.store(true, Ordering::Release);
        events.clear();
        drop(events);
        self.fallback
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    pub(crate) fn off(&self, event: &str) {
        self.events
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(event);
    }

    pub(crate) fn on_fallback<H: Handler<S, Args>, Args: 'static>(&self, handler: H) {
        let handler: Arc<dyn ErasedHandler<S>> = Arc::new(Erased(handler, PhantomData));
        let mut fallback = self
            .fallback
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.cleared.load(Ordering::Acquire) {
            *fallback = Some(handler);
        }
    }

    /// The handler for `event`, else the fallback.
    pub(crate) fn find(&self, event: &str) -> Option<Arc<dyn ErasedHandler<S>>> {
        let found = self
            .events
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(event)
            .cloned();
        found.or_else(|| {
            self.fallback
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }
}

/// Runs a `handler` future (`"event"`, `"connect"`, ...) so that its panic is logged and
/// contained.
pub(crate) fn contain_panics(future: BoxFuture, handler: &'static str) -> BoxFuture {
    contain_panics_then(future, handler, || {})
}

/// [`contain_panics`], calling `done` once the future ends, panicked or not.
pub(crate) fn contain_panics_then(
    future: BoxFuture,
    handler: &'static str,
    done: impl FnOnce() + Send + 'static,
) -> BoxFuture {
    Box::pin(AssertUnwindSafe(future).catch_unwind().map(move |result| {
        if result.is_err() {
            tracing::error!(handler, "a handler panicked; the connection goes on");
        }
        done();
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Handlers;

    /// What a handler captures, to see whether the registry still holds it.
    fn capturing(held: &Arc<()>) -> impl Fn() -> std::future::Ready<()> + Send + Sync + 'static {
        let held = Arc::clone(held);
        move || {
            let _held = &held;
            std::future::ready(())
        }
    }

    #[test]
    fn a_handler_registered_after_the_clear_is_dropped_at_once() {
        let handlers = Handlers::<()>::new();
        let held = Arc::new(());
        handlers.on("before".into(), capturing(&held));
        assert_eq!(Arc::strong_count(&held), 2);
        handlers.clear();
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "the clear drops what was registered"
        );
        handlers.on("after".into(), capturing(&held));
        handlers.on_fallback(capturing(&held));
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "nothing registered later is kept"
        );
        assert!(handlers.find("after").is_none());
    }
}
