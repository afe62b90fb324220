//! The server: accepts connections from any number of listeners into one set of rooms.

mod broadcast;
mod connection;
mod detached;
mod handshake;
mod lifecycle;
mod member;
mod session;
mod socket;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quicket_proto::{DisconnectReason, SocketId};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use self::broadcast::{AckReplies, BroadcastOperator, BroadcastWithAck};
use self::detached::DetachedSessions;
pub use self::detached::Eviction;
pub use self::handshake::{Handshake, Rejection};
pub use self::session::ResumeFailure;
use self::session::Sessions;
pub use self::socket::{Socket, SocketPresence};
pub use self::state::State;
use self::state::StateMap;
use crate::adapter::{Adapter, BroadcastTarget, LocalAdapter, PresenceKey};
use crate::config::{RateExceeded, ServerConfig};
use crate::endpoint::backlog::ByteBudget;
use crate::endpoint::budget::OfflineBudget;
use crate::endpoint::close::Close;
use crate::endpoint::handler::BoxFuture;
use crate::meters::MeterCache;
use crate::transport::{Listener, SourceLimit, TransportError};

type AuthFn = dyn Fn(Handshake) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send>>
    + Send
    + Sync;
type ConnectFn = dyn Fn(Socket) -> BoxFuture + Send + Sync;
type ResumeFailedFn = dyn Fn(Socket, ResumeFailure) -> BoxFuture + Send + Sync;
pub(crate) type RateLimitedFn = dyn Fn(&Socket, &str, RateExceeded) + Send + Sync;
type SessionEvictedFn = dyn Fn(&Socket, Eviction) + Send + Sync;
pub(crate) type CountsOnlyFn = dyn Fn(&str) -> bool + Send + Sync;

/// A quicket server. Cheap to clone; every clone is the same server.
///
/// ```
/// # async fn demo() {
/// # use quicket_core as quicket;
/// use quicket::{Data, Server, Socket, AckSender};
/// use quicket::transport::memory::{self, MemoryConfig};
///
/// let server = Server::builder()
///     .on_connect(|socket: Socket| async move {
///         socket.on("echo", |Data(text): Data<String>, ack: AckSender| async move {
///             let _ = ack.send(text);
///         });
///     })
///     .build();
/// let (listener, _connector) = memory::pipe(MemoryConfig::default());
/// server.listen(listener);
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    shared: Arc<ServerShared>,
}

pub(crate) struct ServerShared {
    pub(crate) config: ServerConfig,
    pub(crate) adapter: Arc<dyn Adapter>,
    auth: Option<Arc<AuthFn>>,
    on_connect: Option<Arc<ConnectFn>>,
    on_resume_failed: Option<Arc<ResumeFailedFn>>,
    pub(crate) on_rate_limited: Option<Arc<RateLimitedFn>>,
    on_session_evicted: Option<Arc<SessionEvictedFn>>,
    /// Rooms whose presence subscribers get counts, not keys.
    counts_only: Option<Arc<CountsOnlyFn>>,
    /// What the `State` extractor hands out.
    pub(crate) state: StateMap,
    sessions: Sessions,
    /// Bytes of events waiting for handlers, across connections.
    pub(crate) backlog_budget: Arc<ByteBudget>,
    /// The sessions of `sessions` that wait for a resume, by age.
    detached: DetachedSessions<SocketId, Socket>,
    /// What their replay logs may hold, in all.
    pub(crate) detached_bytes: Arc<OfflineBudget>,
    /// The handles of the metrics each event moves.
    pub(crate) meters: MeterCache,
    connections: AtomicUsize,
    /// Connections per source address, against `max_connections_per_source`.
    per_source: Arc<SourceLimit>,
    /// Connections per source address still in their handshake.
    handshakes_per_source: Arc<SourceLimit>,
    /// Woken when the last connection ends.
    idle: Notify,
    shutdown: watch::Sender<bool>,
}

impl ServerShared {
    /// Whether `room`'s presence subscribers get counts only.
    pub(crate) fn counts_only(&self, room: &str) -> bool {
        self.counts_only.as_ref().is_some_and(|rule| rule(room))
    }
}

/// Builds a [`Server`].
#[must_use]
pub struct ServerBuilder {
    config: ServerConfig,
    adapter: Option<Arc<dyn Adapter>>,
    auth: Option<Arc<AuthFn>>,
    on_connect: Option<Arc<ConnectFn>>,
    on_resume_failed: Option<Arc<ResumeFailedFn>>,
    on_rate_limited: Option<Arc<RateLimitedFn>>,
    on_session_evicted: Option<Arc<SessionEvictedFn>>,
    counts_only: Option<Arc<CountsOnlyFn>>,
    state: StateMap,
}

impl ServerBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the application state of type `T` that the [`State`] extractor and
    /// [`Socket::state`] hand out; one value per type, replacing an earlier one.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Uses a multi-node adapter instead of the in-memory one.
    pub fn adapter(mut self, adapter: impl Adapter) -> Self {
        self.adapter = Some(Arc::new(adapter));
        self
    }

    /// Checks every handshake before a socket exists. An `Err` refuses the client with the
    /// rejection's message and data.
    pub fn auth<F, Fut>(mut self, auth: F) -> Self
    where
        F: Fn(Handshake) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Rejection>> + Send + 'static,
    {
        self.auth = Some(Arc::new(move |handshake| Box::pin(auth(handshake))));
        self
    }

    /// Runs for every new socket, before any of its events is read: register handlers here.
    /// Its part up to the first await runs before the client is told it is connected, so a
    /// client whose `connect` has returned is in the rooms joined there. It runs once per
    /// session, to its end, even when the connection drops before it has finished: a session
    /// kept for a resume runs it on, and the resumed connection handles no event until it
    /// has finished.
    pub fn on_connect<F, Fut>(mut self, on_connect: F) -> Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_connect = Some(Arc::new(move |socket| Box::pin(on_connect(socket))));
        self
    }

    /// Runs, after the connect handler, for a client that asked to resume a session and got a
    /// new one instead (`recovered = false`): the place to send it what it needs to resync.
    pub fn on_resume_failed<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Socket, ResumeFailure) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_resume_failed = Some(Arc::new(move |socket, failure| {
            Box::pin(hook(socket, failure))
        }));
        self
    }

    /// Runs, in the socket's connection task, for each event over the socket's
    /// [`RateLimit`](crate::RateLimit), with the event's name and what became of it: the
    /// place to log, count or ban. It must not block.
    pub fn on_rate_limited<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Socket, &str, RateExceeded) + Send + Sync + 'static,
    {
        self.on_rate_limited = Some(Arc::new(hook));
        self
    }

    /// Rooms for which `counts_only(room)` is true send their presence subscribers counts (keys
    /// and connections present, `PresenceCount`) instead of the state and diffs: for rooms
    /// of thousands, where a list is more than anyone reads. Tracking is unchanged. Give every
    /// node of a cluster the same rule.
    pub fn presence_counts_only<F>(mut self, counts_only: F) -> Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.counts_only = Some(Arc::new(counts_only));
        self
    }

    /// Runs when a session waiting for a resume ends early because a limit of
    /// [`RecoveryConfig`](crate::RecoveryConfig) was reached, with which one, just before its
    /// disconnect handler: the place to log or count. It must not block.
    pub fn on_session_evicted<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Socket, Eviction) + Send + Sync + 'static,
    {
        self.on_session_evicted = Some(Arc::new(hook));
        self
    }

    /// Builds the server. It serves nothing until [`Server::listen`] is given a listener.
    pub fn build(self) -> Server {
        let adapter = self
            .adapter
            .unwrap_or_else(|| Arc::new(LocalAdapter::new()));
        let backlog_budget = Arc::new(ByteBudget::new(self.config.max_buffered_bytes_total));
        let per_source = SourceLimit::new(self.config.max_connections_per_source);
        let handshakes_per_source = SourceLimit::new(self.config.max_handshakes_per_source);
        let detached_bytes = self
            .config
            .recovery
            .as_ref()
            .map_or(0, |recovery| recovery.max_detached_bytes);
        let server = Server {
            shared: Arc::new(ServerShared {
                config: self.config,
                adapter,
                auth: self.auth,
                on_connect: self.on_connect,
                on_resume_failed: self.on_resume_failed,
                on_rate_limited: self.on_rate_limited,
                on_session_evicted: self.on_session_evicted,
                counts_only: self.counts_only,
                state: self.state,
                sessions: Sessions::default(),
                detached: DetachedSessions::default(),
                detached_bytes: Arc::new(OfflineBudget::new(detached_bytes)),
                backlog_budget,
                meters: MeterCache::default(),
                connections: AtomicUsize::new(0),
                per_source,
                handshakes_per_source,
                idle: Notify::new(),
                shutdown: watch::Sender::new(false),
            }),
        };
        if let Some(relayed) = server.shared.adapter.relayed() {
            server.listen(relayed);
        }
        server
    }
}

impl Server {
    /// Starts building a server with the default configuration and the in-memory adapter.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: ServerConfig::default(),
            adapter: None,
            auth: None,
            on_connect: None,
            on_resume_failed: None,
            on_rate_limited: None,
            on_session_evicted: None,
            counts_only: None,
            state: StateMap::default(),
        }
    }

    /// Serves every connection `listener` accepts, until the listener fails or the server
    /// shuts down. Call it once per transport; all share the same rooms.
    pub fn listen<L: Listener>(&self, mut listener: L) -> JoinHandle<()> {
        let server = self.clone();
        let mut shutdown = self.shared.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = shutdown.wait_for(|down| *down) => return,
                };
                match accepted {
                    Ok(connection) => {
                        let server = server.clone();
                        tokio::spawn(async move { server.serve(connection).await });
                    }
                    Err(TransportError::Closed) => return,
                    Err(err) => {
                        tracing::error!(%err, "listener failed; it accepts no more");
                        return;
                    }
                }
            }
        })
    }

    /// Targets the sockets in `room`.
    pub fn to(&self, room: impl Into<crate::Room>) -> BroadcastOperator {
        self.all().to(room)
    }

    /// Targets every socket except those in `room`.
    pub fn except(&self, room: impl Into<crate::Room>) -> BroadcastOperator {
        self.all().except(room)
    }

    /// Targets only this node's sockets.
    pub fn local(&self) -> BroadcastOperator {
        self.all().local()
    }

    /// Targets every socket with volatile emits.
    pub fn volatile(&self) -> BroadcastOperator {
        self.all().volatile()
    }

    /// Targets every socket, with acknowledgements awaited for at most `timeout`
    /// (socket.io's `io.timeout(ms).emitWithAck(..)`).
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.all().timeout(timeout)
    }

    /// Every socket of every node (id, rooms, data), as socket.io's `io.fetchSockets()`.
    pub async fn fetch_sockets(&self) -> Vec<crate::adapter::SocketInfo> {
        self.all().fetch_sockets().await
    }

    /// Emits to every socket; returns how many it reached.
    pub fn emit(
        &self,
        event: &str,
        data: impl crate::IntoPayload,
    ) -> Result<usize, crate::EmitError> {
        self.all().emit(event, data)
    }

    /// A socket of this node by id.
    pub fn socket(&self, sid: SocketId) -> Option<Socket> {
        self.shared
            .adapter
            .member(sid)
            .as_ref()
            .and_then(Socket::of)
    }

    /// Every room with at least one socket in it.
    pub async fn rooms(&self) -> Vec<crate::Room> {
        self.shared.adapter.rooms().await
    }

    /// Every socket.
    pub async fn sockets(&self) -> Vec<Socket> {
        self.all().sockets().await
    }

    /// The presence tracked in `room`.
    pub async fn presence(&self, room: &str) -> Vec<PresenceKey> {
        self.shared.adapter.presence().list(room).await
    }

    /// Connections being served right now, handshakes included.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Sessions whose connection dropped and that wait for a resume, within the caps of
    /// [`RecoveryConfig`](crate::RecoveryConfig).
    pub fn detached_count(&self) -> usize {
        self.shared.detached.count(None).0
    }

    /// Bytes of reliable events held for the sessions waiting for a resume, counted as
    /// against [`RecoveryConfig::max_detached_bytes`](crate::RecoveryConfig::max_detached_bytes).
    pub fn detached_bytes(&self) -> usize {
        self.shared.detached_bytes.used()
    }

    /// Shuts down gracefully within `deadline`. Stops every listener, refuses handshakes
    /// under way, writes out what is queued for each socket and then tells it `ServerShutdown`
    /// (clients reconnect at once, to whichever server takes over), ends the sessions waiting
    /// for a resume, and waits until every connection has ended. Every event an `emit`
    /// accepted before this call is written, unless its client stops reading for `deadline`.
    /// A transport may then wait a little longer for each client to read the goodbye and
    /// close (WebTransport: up to `QuicLimits::goodbye_linger`, cut short by the client's
    /// close), since closing first would discard what the client has not read yet.
    pub async fn shutdown(&self, deadline: Duration) {
        let shared = &self.shared;
        shared.shutdown.send_replace(true);
        let close = Close {
            drain_within: Some(deadline),
            ..Close::graceful(DisconnectReason::ServerShutdown)
        };
        for socket in self.sockets().await {
            socket.close(close.clone());
        }
        self.end_all_detached().await;
        loop {
            let idle = shared.idle.notified();
            if shared.connections.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn all(&self) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.shared), BroadcastTarget::default())
    }
}
