//! Server-side events: one node emits an application event that the other nodes' handlers
//! receive, optionally answering it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use quicket_core::{AckError, FromPayload, IntoPayload, PayloadCodec, PayloadError};
use tokio::time::Instant;

use crate::node::RedisAdapter;
use crate::wire::{Answer, Ask};

type Reply = Result<Bytes, String>;
type Run = Pin<Box<dyn Future<Output = Reply> + Send>>;
type Handler = Arc<dyn Fn(Bytes) -> Run + Send + Sync>;

/// The handlers of server-side events on this node, by event name.
#[derive(Default)]
pub(crate) struct ServerEvents {
    handlers: RwLock<HashMap<String, Handler>>,
}

impl ServerEvents {
    /// Runs the handler of `name` on `payload`; its answer, or why there is none.
    pub(crate) fn run(&self, name: &str, payload: Bytes) -> Run {
        let handler = self
            .handlers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned();
        match handler {
            Some(handler) => handler(payload),
            None => {
                let message = format!("no handler for server-side event {name:?}");
                Box::pin(std::future::ready(Err(message)))
            }
        }
    }
}

/// Why a server-side emit could not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerEmitError {
    /// The payload did not encode.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// This node cannot reach Redis now, so no other node would hear it.
    #[error("Redis is unreachable")]
    Unreachable,
}

/// One other node's answer to [`RedisAdapter::server_emit_with_ack`].
#[derive(Debug)]
#[non_exhaustive]
pub struct NodeReply<R> {
    /// The node that answered.
    pub node: u64,
    /// Its handler's answer, decoded, or why it has none.
    pub reply: Result<R, AckError>,
}

impl RedisAdapter {
    /// Handles the server-side event `event` when another node emits it; what the handler
    /// returns is the answer an emit with ack gets.
    pub fn on_server_event<T, R, F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        T: FromPayload + Send + 'static,
        R: IntoPayload + Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let run: Handler = Arc::new(move |payload: Bytes| {
            let handler = handler.clone();
            Box::pin(async move {
                let data = T::decode(payload, PayloadCodec::Bincode).map_err(|e| e.to_string())?;
                handler(data)
                    .await
                    .encode(PayloadCodec::Bincode)
                    .map_err(|e| e.to_string())
            })
        });
        self.inner
            .events
            .handlers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(event.into(), run);
    }

    /// Emits the server-side event `event` to every other node's handler.
    pub fn server_emit(&self, event: &str, data: impl IntoPayload) -> Result<(), ServerEmitError> {
        self.send(event, &data, false).map(drop)
    }

    /// Emits the server-side event `event` to every other node and waits up to `timeout` for
    /// their handlers' answers: one per node alive.
    pub async fn server_emit_with_ack<R: FromPayload>(
        &self,
        event: &str,
        data: impl IntoPayload,
        timeout: Duration,
    ) -> Result<Vec<NodeReply<R>>, ServerEmitError> {
        let (pending, nodes) = self.send(event, &data, true)?;
        let expected = nodes.len();
        let answers = pending.collect_from(nodes, Instant::now() + timeout).await;
        let mut replies: Vec<NodeReply<R>> = answers
            .into_iter()
            .filter_map(|(node, answer)| match answer {
                Answer::ServerEvent(reply) => Some(NodeReply {
                    node,
                    reply: reply.map_err(AckError::Remote).and_then(|bytes| {
                        R::decode(bytes, PayloadCodec::Bincode).map_err(AckError::Payload)
                    }),
                }),
                _ => None,
            })
            .collect();
        if replies.len() < expected {
            tracing::debug!(
                answered = replies.len(),
                expected,
                "not every node answered a server-side event"
            );
        }
        replies.sort_by_key(|reply| reply.node);
        Ok(replies)
    }

    fn send(
        &self,
        event: &str,
        data: &dyn IntoPayload,
        reply: bool,
    ) -> Result<(crate::cluster::Pending, std::collections::HashSet<u64>), ServerEmitError> {
        if !self.inner.health.is_up() {
            return Err(ServerEmitError::Unreachable);
        }
        let payload = data.encode(PayloadCodec::Bincode)?;
        Ok(self.inner.ask(Ask::ServerEvent {
            name: event.to_owned(),
            payload,
            reply,
        }))
    }
}
