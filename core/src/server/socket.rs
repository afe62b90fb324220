//! A client's connection, as the server sees it.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::Shared;
use quicket_proto::{DisconnectReason, Frame, PayloadCodec, PayloadError, PresenceEnd, SocketId};
use tokio::sync::{Notify, watch};

use super::handshake::Handshake;
use super::lifecycle::{Lifecycle, Phase, Step};
use super::{BroadcastOperator, ServerShared};
use crate::adapter::{BroadcastTarget, OutgoingEvent, Room, TrackedKey};
use crate::config::{RateExceeded, RateLimit};
use crate::endpoint::SessionCore;
use crate::endpoint::close::Close;
use crate::endpoint::driver::Role;
use crate::endpoint::handler::{BoxFuture, Handlers};
use crate::error::{EmitError, JoinError, PresenceError};
use crate::extensions::Extensions;
use crate::payload::{EncodedPayload, FromPayload, IntoPayload};

type DisconnectFn = dyn Fn(Socket, DisconnectReason) -> BoxFuture + Send + Sync;
pub(crate) type ReconnectFn = dyn Fn(Socket) -> BoxFuture + Send + Sync;

/// One connected client. Cheap to clone; every clone is the same socket.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

struct SocketInner {
    id: SocketId,
    core: Arc<SessionCore>,
    handlers: Handlers<Socket>,
    handshake: Handshake,
    server: Arc<ServerShared>,
    on_disconnect: Mutex<Option<Arc<DisconnectFn>>>,
    on_reconnect: Mutex<Option<Arc<ReconnectFn>>>,
    life: Mutex<Lifecycle>,
    phase_changed: Notify,
    /// Set once the ended session has left the server.
    departed: watch::Sender<bool>,
    /// The token that resumes this session; empty without recovery.
    token: Mutex<Bytes>,
    /// What `set_data` attached, encoded with every codec.
    data: Mutex<Option<EncodedPayload>>,
    /// The keys the presence grace took from this dropped session, for its resume to track
    /// again.
    forgotten: Mutex<Vec<TrackedKey>>,
    /// The connect handler, which must run to its end once even if the connection drops
    /// first: a dropped session drives it on, and its resume waits for it.
    startup: Mutex<Option<Shared<BoxFuture>>>,
    /// Whether it carries on a session another node held, which died.
    recovered: bool,
    /// A graceful close waits for routed emits; none is accepted meanwhile.
    closing: AtomicBool,
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        core: Arc<SessionCore>,
        handshake: Handshake,
        server: Arc<ServerShared>,
        recovered: bool,
    ) -> Self {
        let life = Lifecycle::default();
        let gauges = life.phase().gauges();
        crate::meters::sessions(gauges.attached, gauges.detached);
        Self {
            inner: Arc::new(SocketInner {
                id,
                core,
                handlers: Handlers::new(),
                handshake,
                server,
                on_disconnect: Mutex::new(None),
                on_reconnect: Mutex::new(None),
                life: Mutex::new(life),
                phase_changed: Notify::new(),
                departed: watch::Sender::new(false),
                token: Mutex::new(Bytes::new()),
                data: Mutex::new(None),
                forgotten: Mutex::new(Vec::new()),
                startup: Mutex::new(None),
                recovered,
                closing: AtomicBool::new(false),
            }),
        }
    }

    crate::endpoint::endpoint_methods!(Socket, "client");

    /// A reliable emit: straight to the socket, or through the adapter when it orders what
    /// each socket receives (a durable cluster log).
    fn emit_reliable(&self, event: &str, data: &dyn IntoPayload) -> Result<(), EmitError> {
        let adapter = &self.inner.server.adapter;
        let core = &self.inner.core;
        if !adapter.routes_socket_emits() {
            return core.emit(event, data);
        }
        if self.inner.closing.load(Ordering::Relaxed) || core.outbox.is_closing() {
            return Err(EmitError::Disconnected);
        }
        core.check_event_name(event)?;
        let outgoing = OutgoingEvent::new(event, data, false);
        core.check_frame_size(outgoing.frame(core.codec).map_err(Clone::clone)?)?;
        let mut target = BroadcastTarget::default();
        target.sockets.push(self.id());
        target.local = true;
        adapter.broadcast(&target, &outgoing);
        Ok(())
    }

    /// Whether this socket carries on a session that another node of a cluster held until
    /// it died (see [`SessionLocator::adopt`](crate::adapter::SessionLocator::adopt)): same
    /// id, same rooms, and the events its client missed replayed, but its handlers are this
    /// node's, registered again by the connect handler, which runs for it as for a new
    /// socket. A resume on the node that holds the session runs no connect handler at all.
    pub fn recovered(&self) -> bool {
        self.inner.recovered
    }

    /// How many reliable events this session has been sent, numbered as its client counts
    /// them for a resume; `None` when the server keeps no sessions for resuming.
    pub fn events_sent(&self) -> Option<u64> {
        self.inner.core.events_sent()
    }

    /// How many reliable events this session has received from its client, numbered as the
    /// client counts them for a resume.
    pub fn events_received(&self) -> u64 {
        self.inner.core.events_received()
    }

    /// The handshake the client connected with.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// The server's application state of type `T`, as the [`State`](crate::State) extractor
    /// hands it to handlers; `None` when the builder never set one.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.inner.server.state.get()
    }

    /// Typed data attached to the socket, shared with the auth middleware.
    pub fn extensions(&self) -> &Extensions {
        self.inner.handshake.extensions()
    }

    /// Attaches data that any node of a cluster can read, through
    /// [`BroadcastOperator::fetch_sockets`](crate::server::BroadcastOperator::fetch_sockets),
    /// unlike [`Socket::extensions`], which stay in this process.
    pub fn set_data(&self, data: impl IntoPayload) -> Result<(), PayloadError> {
        let encoded = EncodedPayload::encode(&data)?;
        *lock(&self.inner.data) = Some(encoded);
        Ok(())
    }

    /// The data attached with [`Socket::set_data`], decoded as `T`; `None` when there is none.
    pub fn data<T: FromPayload>(&self) -> Option<Result<T, PayloadError>> {
        let data = self.data_payload()?;
        Some(T::decode(
            data.get(PayloadCodec::Bincode).clone(),
            PayloadCodec::Bincode,
        ))
    }

    /// The data attached with [`Socket::set_data`], as encoded.
    pub fn data_payload(&self) -> Option<EncodedPayload> {
        lock(&self.inner.data).clone()
    }

    /// Whether the socket is still connected: a connection serves its session.
    pub fn connected(&self) -> bool {
        self.phase() == Phase::Attached
    }

    /// Waits until the session has ended and left the server: its disconnect handler has
    /// returned, and it is out of its rooms, its presence and the server's socket list. A
    /// dropped session that may still be resumed has not ended; this waits for its window.
    pub async fn closed(&self) {
        let mut departed = self.inner.departed.subscribe();
        // The sender lives as long as this socket: the wait ends only when it is set.
        let _ = departed.wait_for(|departed| *departed).await;
    }

    /// Runs once when the session ends: the client disconnected, was disconnected, or dropped
    /// and did not resume within the recovery window. The socket is still in its rooms while
    /// the handler runs (`rooms()` lists them; broadcasts from it reach the others) and leaves
    /// them, with its presence, when the handler returns.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: Arc<DisconnectFn> =
            Arc::new(move |socket, reason| Box::pin(handler(socket, reason)));
        *self
            .inner
            .on_disconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(handler);
    }

    /// Runs each time the client resumes this session after a drop (`recovered = true` on
    /// both sides): the events it missed are already on their way. Replaces any handler set
    /// before.
    pub fn on_reconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: Arc<ReconnectFn> = Arc::new(move |socket| Box::pin(handler(socket)));
        *lock(&self.inner.on_reconnect) = Some(handler);
    }

    /// Drops the connection abruptly, as a network failure would: no goodbye, and the
    /// session waits for the client to resume it. For moving clients to another node, and
    /// for testing recovery.
    pub fn drop_connection(&self) {
        self.close(Close::silent(
            DisconnectReason::TransportClosed,
            "connection dropped by the server",
        ));
    }

    /// Joins a room.
    pub fn join(&self, room: impl Into<Room>) -> Result<(), JoinError> {
        let max = self.inner.server.config.max_rooms_per_socket;
        self.inner.server.adapter.join(self.id(), room.into(), max)
    }

    /// Leaves a room, with the presence it tracked there.
    pub fn leave(&self, room: &str) {
        self.inner.server.adapter.leave(self.id(), room);
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<Room> {
        self.inner.server.adapter.rooms_of(self.id())
    }

    /// Targets the other sockets in `room` (not this one).
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Targets every socket in `room`, this one included, as socketioxide's `within` does.
    /// What the members of a room must all see in one order goes this way: a room's events
    /// keep to one channel (PROTOCOL.md section 2.2), while the socket's own emits take
    /// another.
    pub fn within(&self, room: impl Into<Room>) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.inner.server), BroadcastTarget::default()).to(room)
    }

    /// Targets every other socket except those in `room`.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Targets every other socket.
    pub fn broadcast(&self) -> BroadcastOperator {
        let target = BroadcastTarget {
            except_sockets: vec![self.id()],
            ..BroadcastTarget::default()
        };
        BroadcastOperator::new(Arc::clone(&self.inner.server), target)
    }

    /// Presence in one of the socket's rooms.
    pub fn presence<'a>(&'a self, room: &'a str) -> SocketPresence<'a> {
        SocketPresence { socket: self, room }
    }

    /// Disconnects the client after writing what is queued for it.
    pub fn disconnect(&self) {
        self.close(Close::graceful(DisconnectReason::ServerDisconnect));
    }

    pub(crate) fn close(&self, close: Close) {
        let adapter = &self.inner.server.adapter;
        if !close.flush || !adapter.routes_socket_emits() {
            return self.inner.core.outbox.close(close);
        }
        // Emits the adapter routes are on their way: a graceful close writes them first,
        // and refuses any later one.
        self.inner.closing.store(true, Ordering::Relaxed);
        let settled = adapter.socket_emits_settled(self.id());
        let wait = close
            .drain_within
            .unwrap_or(self.inner.server.config.limits.close_timeout);
        let core = Arc::clone(&self.inner.core);
        tokio::spawn(async move {
            let _late = tokio::time::timeout(wait, settled).await;
            core.outbox.close(close);
        });
    }

    pub(crate) fn core(&self) -> &Arc<SessionCore> {
        &self.inner.core
    }

    pub(crate) fn phase(&self) -> Phase {
        lock(&self.inner.life).phase()
    }

    /// Takes `step` in the session's life; false when the session was not where the step
    /// starts (another task moved it first).
    pub(crate) fn step(&self, step: Step) -> bool {
        let Some(gauges) = lock(&self.inner.life).apply(step) else {
            return false;
        };
        crate::meters::sessions(gauges.attached, gauges.detached);
        self.inner.phase_changed.notify_waiters();
        true
    }

    /// Waits until the phase is no longer `phase`.
    pub(crate) async fn left_phase(&self, phase: Phase) {
        loop {
            let changed = self.inner.phase_changed.notified();
            if self.phase() != phase {
                return;
            }
            changed.await;
        }
    }

    /// The presence grace of this dropped session is over: its keys go, and are kept for a
    /// resume. Does nothing once a resume has begun; the phase is read under the same lock
    /// that [`restore_presence`](Self::restore_presence) takes, so no key is lost between them.
    pub(crate) fn forget_presence(&self) {
        let mut forgotten = lock(&self.inner.forgotten);
        if self.phase() == Phase::Detached {
            let keys = self.inner.server.adapter.presence().forget(self.id());
            forgotten.extend(keys);
        }
    }

    /// A resumed session tracks again the keys its presence grace took away: the other
    /// members see it join.
    pub(crate) fn restore_presence(&self) {
        let keys = std::mem::take(&mut *lock(&self.inner.forgotten));
        let presence = self.inner.server.adapter.presence();
        for TrackedKey {
            room, key, meta, ..
        } in keys
        {
            if let Err(err) = presence.track(&room, &key, self.id(), meta) {
                tracing::warn!(sid = %self.id(), %room, %key, %err, "a resumed session's presence could not be tracked again");
            }
        }
    }

    /// Keeps `startup` (the connect handler) until it has finished; the future that drives
    /// it for the connection.
    pub(crate) fn begin_startup(&self, startup: BoxFuture) -> BoxFuture {
        let startup = startup.shared();
        *lock(&self.inner.startup) = Some(startup.clone());
        Box::pin(startup)
    }

    /// The connect handler, if the connection dropped before it finished.
    pub(crate) fn unfinished_startup(&self) -> Option<Shared<BoxFuture>> {
        let mut startup = lock(&self.inner.startup);
        if startup
            .as_ref()
            .is_some_and(|running| running.peek().is_some())
        {
            *startup = None;
        }
        startup.clone()
    }

    /// The current resume token; empty without recovery.
    pub(crate) fn token(&self) -> Bytes {
        lock(&self.inner.token).clone()
    }

    /// Replaces the resume token; returns the old one.
    pub(crate) fn swap_token(&self, token: Bytes) -> Bytes {
        std::mem::replace(&mut *lock(&self.inner.token), token)
    }

    pub(crate) fn reconnect_handler(&self) -> Option<Arc<ReconnectFn>> {
        lock(&self.inner.on_reconnect).clone()
    }

    pub(crate) fn server(&self) -> &ServerShared {
        &self.inner.server
    }

    /// Takes the ended session out of the server: its acks, rooms and presence go; so does
    /// what the application attached, which may hold clones of this socket; and whoever
    /// waits for it to close wakes.
    pub(crate) fn depart(&self) {
        self.inner.core.acks.close();
        self.inner.core.outbox.end_session();
        self.inner.server.adapter.remove_socket(self.id());
        self.inner.handlers.clear();
        self.take_disconnect_handler();
        lock(&self.inner.on_reconnect).take();
        lock(&self.inner.startup).take();
        self.extensions().clear();
        self.inner.departed.send_replace(true);
    }

    pub(crate) fn take_disconnect_handler(&self) -> Option<Arc<DisconnectFn>> {
        self.inner
            .on_disconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl SocketInner {
    fn id(&self) -> SocketId {
        self.id
    }
}

impl Drop for SocketInner {
    /// A session dropped before it ended (its welcome could not be queued) leaves the gauges.
    fn drop(&mut self) {
        let life = self.life.get_mut().unwrap_or_else(PoisonError::into_inner);
        let gauges = life.phase().gauges();
        crate::meters::sessions(-gauges.attached, -gauges.detached);
    }
}

/// Locks one of the socket's single-value cells; a poisoned cell still holds a valid value.
fn lock<T>(cell: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id())
            .field("transport", &self.transport())
            .field("connected", &self.connected())
            .finish()
    }
}

impl Role for Socket {
    fn core(&self) -> &Arc<SessionCore> {
        &self.inner.core
    }

    fn handlers(&self) -> &Handlers<Self> {
        &self.inner.handlers
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.server.config.rate_limit
    }

    fn rate_limited(&self, event: &str, outcome: RateExceeded) {
        tracing::debug!(event, ?outcome, "event over the rate limit");
        if let Some(hook) = &self.inner.server.on_rate_limited {
            let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                hook(self, event, outcome);
            }));
            if called.is_err() {
                tracing::error!("the rate-limited hook panicked; the connection goes on");
            }
        }
    }

    fn on_frame(&self, frame: Frame) -> Result<(), Close> {
        match frame {
            Frame::PresenceSubscribe(subscribe) => {
                if let Err(err) = self.presence(&subscribe.room).subscribe() {
                    let end = PresenceEnd {
                        room: subscribe.room,
                        message: err.to_string(),
                    };
                    let _closing = self.inner.core.send_frame(&Frame::PresenceEnd(end));
                }
                Ok(())
            }
            Frame::PresenceUnsubscribe(unsubscribe) => {
                let adapter = &self.inner.server.adapter;
                adapter
                    .presence()
                    .unsubscribe(&unsubscribe.room, self.id(), false);
                Ok(())
            }
            other => Err(Close::now(
                DisconnectReason::ProtocolError,
                format!("a client may not send {:?} frames", other.tag()),
            )),
        }
    }
}

impl crate::endpoint::handler::FromEvent<Socket> for Socket {
    fn from_event(
        ctx: &mut crate::endpoint::handler::EventContext<Socket>,
    ) -> Result<Self, crate::endpoint::handler::ExtractError> {
        Ok(ctx.owner().clone())
    }
}

/// Presence operations of one socket in one room.
pub struct SocketPresence<'a> {
    socket: &'a Socket,
    room: &'a str,
}

impl SocketPresence<'_> {
    /// Tracks `key` (e.g. a user id) for this connection with `meta`, or replaces this
    /// connection's meta for it. The socket must be in the room.
    pub fn track(&self, key: &str, meta: impl IntoPayload) -> Result<(), PresenceError> {
        let meta = EncodedPayload::encode(&meta)?;
        let max = self.socket.server().config.presence.max_meta_size;
        let size = PayloadCodec::ALL
            .iter()
            .map(|codec| meta.get(*codec).len())
            .max()
            .unwrap_or(0);
        if size > max {
            return Err(PresenceError::MetaTooLarge { size, max });
        }
        self.socket
            .inner
            .server
            .adapter
            .presence()
            .track(self.room, key, self.socket.id(), meta)
    }

    /// The room's presence: every key with its metas, from every connection.
    pub async fn list(&self) -> Vec<crate::adapter::PresenceKey> {
        self.socket
            .inner
            .server
            .adapter
            .presence()
            .list(self.room)
            .await
    }

    /// How many connections track `key` in the room, from every node: counted where the
    /// presence is held, without copying the room's list.
    pub async fn count(&self, key: &str) -> usize {
        self.socket
            .inner
            .server
            .adapter
            .presence()
            .count(self.room, key)
            .await
    }

    /// Stops tracking `key` for this connection.
    pub fn untrack(&self, key: &str) {
        self.socket
            .inner
            .server
            .adapter
            .presence()
            .untrack(self.room, key, self.socket.id());
    }

    /// Sends the client the room's presence state, then its diffs. The socket must be in the
    /// room; clients may also ask themselves.
    pub fn subscribe(&self) -> Result<(), PresenceError> {
        self.socket
            .inner
            .server
            .adapter
            .presence()
            .subscribe(self.room, self.socket.id())
    }

    /// Ends the client's presence subscription.
    pub fn unsubscribe(&self) {
        self.socket
            .inner
            .server
            .adapter
            .presence()
            .unsubscribe(self.room, self.socket.id(), true);
    }
}
