//! Relays between nodes: a client that resumes on a node other than the one holding its
//! session is served by the holder, its frames carried over each node's channel.
//!
//! Where each session is held is recorded in Redis under its resume token, for the recovery
//! window. The node the client reached opens a relay to the holder; the holder serves the
//! relayed frames as one more connection of its server (an in-process one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use quicket_core::relay::{RelayLink, Relayed};
use quicket_core::transport::Connector;
use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnector, MemoryListener};
use quicket_core::{DisconnectReason, SocketId};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::node::{Inner, lock};
use crate::wire::{Envelope, kind};

/// Items either way of one relay that may wait; more close the relay as a slow consumer.
const RELAY_QUEUE: usize = 1024;
/// The largest frame a relayed connection carries on the holder's in-process side.
const RELAY_MAX_FRAME: usize = 16 << 20;

/// The relays through this node, either end, by (other node, relay id).
#[derive(Default)]
pub(crate) struct Relays {
    next: AtomicU64,
    routes: Mutex<HashMap<(u64, u64), Route>>,
    /// Reaches this node's own server, for relays that end here.
    server: OnceLock<MemoryConnector>,
}

/// Where what arrives for one relay goes: its local pump.
struct Route {
    to_pump: mpsc::Sender<Relayed>,
    /// Whether the other end has said anything yet.
    answered: bool,
}

/// One relay message on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RelayMessage {
    /// The relay's id, chosen by the node the client reached.
    id: u64,
    /// Whether the sender is the node the client reached (else the holder).
    from_client_side: bool,
    body: Body,
}

#[derive(Debug, Serialize, Deserialize)]
enum Body {
    Open,
    Frame(Bytes),
    Datagram(Bytes),
    Closed {
        reason: u16,
        message: String,
    },
    /// A frame of one of the server's other ordered channels (PROTOCOL.md section 2.2).
    Channel(u16, Bytes),
    /// The frame of a single-frame stream (PROTOCOL.md section 2.3).
    Alone(Bytes),
}

impl Relays {
    /// Ends every relay through this node.
    pub(crate) fn break_all(&self) {
        let routes = std::mem::take(&mut *lock(&self.routes));
        if !routes.is_empty() {
            tracing::info!(
                relays = routes.len(),
                "cross-node messages may have been lost; relayed connections end, and their clients resume"
            );
        }
    }

    /// The listener this node's server serves relays that end here from; only once.
    pub(crate) fn listener(&self) -> Option<MemoryListener> {
        let (listener, connector) = memory::pipe(MemoryConfig::default());
        self.server.set(connector).is_ok().then_some(listener)
    }
}

/// The session key of a resume token.
pub(crate) fn session_key(node: &Inner, token: &[u8]) -> String {
    let hex: String = token.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:session:{hex}", node.config.prefix)
}

/// The node holding `token`'s session, and the session's socket id, as recorded.
pub(crate) async fn holder(node: &Inner, token: &Bytes) -> Option<(u64, SocketId)> {
    let mut conn = node.bus.conn.clone();
    let record: Option<String> = conn.get(session_key(node, token)).await.ok()?;
    let (holder, sid) = record?
        .split_once(' ')
        .map(|(h, s)| (h.to_owned(), s.to_owned()))?;
    Some((u64::from_str_radix(&holder, 16).ok()?, sid.parse().ok()?))
}

/// Deletes `token`'s record: its session was carried on elsewhere.
pub(crate) fn forget(node: &Inner, token: &Bytes) {
    let key = session_key(node, token);
    node.bus.session(crate::bus::Outgoing::SessionGone { key });
}

/// Opens a relay to the node holding `token`'s session, if another live node does.
pub(crate) async fn open(node: &Arc<Inner>, token: &Bytes) -> Option<RelayLink> {
    let (holder, _) = holder(node, token).await?;
    if holder == node.node || !node.peers.alive(node.silence()).contains(&holder) {
        return None;
    }
    let id = node.relays.next.fetch_add(1, Ordering::Relaxed) + 1;
    let link = route(node, holder, id, true);
    if !send(node, holder, id, true, Body::Open) {
        return None;
    }
    tokio::spawn(await_answer(Arc::downgrade(node), holder, id));
    Some(link)
}

/// Ends a relay whose holder says nothing for as long as a live node may stay silent: it
/// died after its last heartbeat. The client resumes again at once, and by then this node
/// counts the holder as dead (and may carry the session on, with durable recovery).
async fn await_answer(node: Weak<Inner>, holder: u64, id: u64) {
    let Some(silence) = node.upgrade().map(|node| node.silence()) else {
        return;
    };
    tokio::time::sleep(silence).await;
    let Some(node) = node.upgrade() else {
        return;
    };
    let mut routes = lock(&node.relays.routes);
    if routes
        .get(&(holder, id))
        .is_some_and(|route| !route.answered)
    {
        routes.remove(&(holder, id));
        tracing::info!(
            holder = format_args!("{holder:016x}"),
            "the node holding a resumed session did not answer; the relay ends"
        );
    }
}

/// A relay's local end: what arrives for it is routed to `back`; what its pump sends goes
/// to `peer`, in order.
fn route(node: &Arc<Inner>, peer: u64, id: u64, client_side: bool) -> RelayLink {
    let (back_tx, back) = mpsc::channel(RELAY_QUEUE);
    let route = Route {
        to_pump: back_tx,
        answered: false,
    };
    lock(&node.relays.routes).insert((peer, id), route);
    let (out, mut outgoing) = mpsc::channel(RELAY_QUEUE);
    let node = node.clone();
    tokio::spawn(async move {
        let mut closed = false;
        while let Some(relayed) = outgoing.recv().await {
            let body = match relayed {
                Relayed::Frame(frame) => Body::Frame(frame),
                Relayed::Datagram(frame) => Body::Datagram(frame),
                Relayed::Channel(channel, frame) => Body::Channel(channel, frame),
                Relayed::Alone(frame) => Body::Alone(frame),
                Relayed::Closed { reason, message } => {
                    closed = true;
                    Body::Closed {
                        reason: reason.code(),
                        message,
                    }
                }
                _ => continue,
            };
            if !send(&node, peer, id, client_side, body) {
                // A frame that cannot go leaves a gap: end the relay, so the client resumes.
                lock(&node.relays.routes).remove(&(peer, id));
                break;
            }
            if closed {
                break;
            }
        }
        if !closed {
            let gone = Body::Closed {
                reason: DisconnectReason::TransportClosed.code(),
                message: "the relay ended".to_owned(),
            };
            let _best_effort = send(&node, peer, id, client_side, gone);
        }
        lock(&node.relays.routes).remove(&(peer, id));
    });
    RelayLink::new(out, back)
}

/// Sends one relay message; `false` when it could not go (the relay must then end).
fn send(node: &Inner, peer: u64, id: u64, from_client_side: bool, body: Body) -> bool {
    let message = RelayMessage {
        id,
        from_client_side,
        body,
    };
    match Envelope::new(kind::RELAY, node.node, &message) {
        Ok(envelope) => node.health.is_up() && node.bus.to_node(peer, &envelope),
        Err(err) => {
            tracing::error!(%err, "a relayed frame did not encode");
            false
        }
    }
}

/// Handles a relay message from node `from`.
pub(crate) fn handle(node: &Arc<Inner>, from: u64, message: RelayMessage) {
    let key = (from, message.id);
    let relayed = match message.body {
        Body::Open if message.from_client_side => return serve(node, from, message.id),
        Body::Open => return,
        Body::Frame(frame) => Relayed::Frame(frame),
        Body::Datagram(frame) => Relayed::Datagram(frame),
        Body::Channel(channel, frame) => Relayed::Channel(channel, frame),
        Body::Alone(frame) => Relayed::Alone(frame),
        Body::Closed { reason, message } => Relayed::Closed {
            reason: DisconnectReason::from_code(reason),
            message,
        },
    };
    let route = lock(&node.relays.routes).get_mut(&key).map(|route| {
        route.answered = true;
        route.to_pump.clone()
    });
    let Some(route) = route else {
        return;
    };
    let datagram = matches!(relayed, Relayed::Datagram(_));
    if route.try_send(relayed).is_err() && !datagram {
        // This end cannot keep up: the relay ends, and the client resumes again.
        lock(&node.relays.routes).remove(&key);
        let slow = Body::Closed {
            reason: DisconnectReason::SlowConsumer.code(),
            message: "the relay fell behind".to_owned(),
        };
        let _best_effort = send(node, from, message.id, !message.from_client_side, slow);
    }
}

/// Serves a relay another node opened: one more connection to this node's server.
fn serve(node: &Arc<Inner>, from: u64, id: u64) {
    let Some(connector) = node.relays.server.get().cloned() else {
        tracing::warn!("a relay arrived before the server was built; refused");
        return;
    };
    let link = route(node, from, id, false);
    tokio::spawn(async move {
        match connector.connect().await {
            Ok(connection) => {
                quicket_core::relay::pump(connection, RELAY_MAX_FRAME, link, None).await;
            }
            Err(err) => tracing::warn!(%err, "could not open a relayed connection"),
        }
    });
}
