//! Application state, set once on the server builder and handed to every handler by the
//! [`State`] extractor, as in axum and socketioxide: no `Arc` clones captured in closures.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::Socket;
use crate::endpoint::handler::{EventContext, ExtractError, FromEvent};

/// A handler argument: the value of type `T` set with
/// [`ServerBuilder::state`](crate::ServerBuilder::state), cloned. Keep it cheap to clone (an
/// `Arc`, a pool handle).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// # use quicket_core as quicket;
/// use quicket::{AckSender, Server, Socket, State};
///
/// #[derive(Clone, Default)]
/// struct Scores(Arc<AtomicU64>);
///
/// let server = Server::builder()
///     .state(Scores::default())
///     .on_connect(|socket: Socket| async move {
///         socket.on("score", |State(scores): State<Scores>, ack: AckSender| async move {
///             let total = scores.0.fetch_add(1, Ordering::Relaxed) + 1;
///             let _ = ack.send(total);
///         });
///     })
///     .build();
/// # drop(server);
/// ```
///
/// A handler asking for a type that was never set is not run; the emitter's ack gets an
/// error naming the type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromEvent<Socket> for State<T> {
    fn from_event(ctx: &mut EventContext<Socket>) -> Result<Self, ExtractError> {
        ctx.owner()
            .state::<T>()
            .map(State)
            .ok_or(ExtractError::MissingState(std::any::type_name::<T>()))
    }
}

/// One value per type, fixed when the server is built: read without a lock.
#[derive(Clone, Default)]
pub(crate) struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl StateMap {
    pub(crate) fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
            .cloned()
    }
}
