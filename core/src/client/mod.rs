//! The Rust client: connects over any transport and speaks the same events as the server.

mod presence;
mod reconnect;
mod retry;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use quicket_proto::{
    ChannelOffer, ChannelOffset, DisconnectReason, Frame, Hello, PROTOCOL_VERSION, PayloadCodec,
    PresenceSubscribe, PresenceUnsubscribe, Resume, SocketId, Welcome, codec,
};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use self::presence::PresenceFeed;
pub use self::presence::{PresenceCounts, PresenceEvent, PresenceSnapshot, PresenceWatch};
pub use self::reconnect::ReconnectEvent;
use crate::config::ClientConfig;
use crate::endpoint::close::Close;
use crate::endpoint::driver::{Role, now};
use crate::endpoint::greeting::Greeting;
use crate::endpoint::handler::{EventContext, ExtractError, FromEvent, Handler, Handlers};
use crate::endpoint::replay::{ReplayLog, WhenFull};
use crate::endpoint::{Link, SessionCore};
use crate::error::{ConnectError, EmitError};
use crate::meters::Meters;
use crate::payload::EncodedPayload;
use crate::payload::IntoPayload;
use crate::transport::{Connection, Connector, FrameReader, FrameWriter};

/// How many presence events a watch buffers before it drops them.
const PRESENCE_EVENTS: usize = 1024;

/// A connected client. Cheap to clone; every clone is the same connection, and dropping the
/// last one disconnects gracefully. A handler that captures a clone keeps the connection open
/// until [`Client::disconnect`]: take the `Client` extractor in the handler instead.
///
/// ```
/// # use quicket_core as quicket;
/// # async fn demo(connector: quicket::transport::memory::MemoryConnector) -> Result<(), Box<dyn std::error::Error>> {
/// use quicket::{Client, Data};
///
/// let client = Client::builder()
///     .auth("secret-token")
///     .on("chat", |Data(line): Data<String>| async move { println!("{line}") })
///     .connect(&connector)
///     .await?;
/// let echoed: String = client.emit_with_ack("echo", "hello").await?;
/// client.disconnect().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
    /// Present in the application's handles, absent in the driver's own: the connection
    /// closes when the application drops its last one.
    _user: Option<Arc<UserHandle>>,
}

struct ClientInner {
    session: Mutex<Session>,
    core: Arc<SessionCore>,
    handlers: Handlers<Client>,
    presence: Mutex<HashMap<String, PresenceFeed>>,
    closed: watch::Receiver<Option<DisconnectReason>>,
    user: Weak<UserHandle>,
    on_reconnect: Option<Arc<ReconnectFn>>,
}

/// The server's side of the session, as of the last `Welcome`.
struct Session {
    id: SocketId,
    token: bytes::Bytes,
    recovered: bool,
}

impl ClientInner {
    fn id(&self) -> SocketId {
        self.session().id
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        // Replaced field by field after each `Welcome`; never left inconsistent.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type ReconnectFn = dyn Fn(&ReconnectEvent) + Send + Sync;

/// Disconnects gracefully when the application's last handle goes.
struct UserHandle(Arc<SessionCore>);

impl Drop for UserHandle {
    fn drop(&mut self) {
        self.0
            .outbox
            .close(Close::graceful(DisconnectReason::ClientDisconnect));
    }
}

/// Builds and connects a [`Client`]. Cloning it shares the handlers registered so far, so a
/// failed attempt can be retried with the same setup.
#[must_use]
#[derive(Clone)]
pub struct ClientBuilder {
    config: ClientConfig,
    codec: PayloadCodec,
    auth: Result<Option<EncodedPayload>, quicket_proto::PayloadError>,
    handlers: Handlers<Client>,
    name: (String, String),
    on_reconnect: Option<Arc<ReconnectFn>>,
}

impl ClientBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The payload codec (default bincode).
    pub fn codec(mut self, codec: PayloadCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Credentials for the server's auth middleware, sent with the connection's codec.
    pub fn auth(mut self, auth: impl IntoPayload) -> Self {
        self.auth = EncodedPayload::encode(&auth).map(Some);
        self
    }

    /// Names the client library in the handshake, for the server's logs.
    pub fn client_name(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.name = (name.into(), version.into());
        self
    }

    /// Handles an event from the first frame on; see [`Client::on`].
    pub fn on<H: Handler<Client, Args>, Args: 'static>(
        self,
        event: impl Into<String>,
        handler: H,
    ) -> Self {
        self.handlers.on(event.into(), handler);
        self
    }

    /// Handles the client's reconnection events: each attempt, the resume, giving up.
    pub fn on_reconnect(
        mut self,
        handler: impl Fn(&ReconnectEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_reconnect = Some(Arc::new(handler));
        self
    }

    /// Connects through `connector`, and reconnects through it after a drop.
    pub async fn connect<C: Connector + Clone>(
        self,
        connector: &C,
    ) -> Result<Client, ConnectError> {
        let connection = connector.connect().await?;
        self.start(connection, Some(connector.clone())).await
    }

    /// Runs the handshake over an open connection. Without a connector to dial again, the
    /// client does not reconnect.
    pub async fn connect_over<C: Connection>(self, connection: C) -> Result<Client, ConnectError> {
        self.start(connection, None::<reconnect::NoRedial<C>>).await
    }

    async fn start<C: Connection, K: Connector>(
        self,
        connection: C,
        redial: Option<K>,
    ) -> Result<Client, ConnectError> {
        let auth = self
            .auth?
            .map(|auth| auth.get(self.codec).clone())
            .unwrap_or_default();
        let dial = Dial {
            codec: self.codec,
            name: self.name,
            auth,
            config: self.config,
        };
        let first = dial.attach(connection, None, Vec::new()).await?;
        let log = ReplayLog::new(dial.config.buffer, WhenFull::KeepOffline);
        let core = Arc::new(SessionCore::new(
            dial.codec,
            first.link.clone(),
            dial.config.limits.clone(),
            Some(log),
            dial.config.default_ack_timeout,
            Meters::noop(),
        ));
        core.outbox.grant_channels(first.channels);
        let (closed_tx, closed) = watch::channel(None);
        let user = Arc::new(UserHandle(Arc::clone(&core)));
        let inner = Arc::new(ClientInner {
            session: Mutex::new(Session {
                id: first.welcome.sid,
                token: first.welcome.session.clone(),
                recovered: false,
            }),
            core,
            handlers: self.handlers,
            presence: Mutex::new(HashMap::new()),
            closed,
            user: Arc::downgrade(&user),
            on_reconnect: self.on_reconnect,
        });
        let driven = Client {
            inner: Arc::clone(&inner),
            _user: None,
        };
        // Everything the client logs, its handlers' lines included, is inside this span.
        let span = client_span(&first.link, first.welcome.sid);
        let run = reconnect::run::<C, K>(driven, dial, first, redial, closed_tx);
        tokio::spawn(run.instrument(span));
        Ok(Client {
            inner,
            _user: Some(user),
        })
    }
}

/// What the client needs to dial again: its handshake.
pub(crate) struct Dial {
    codec: PayloadCodec,
    name: (String, String),
    auth: bytes::Bytes,
    pub(crate) config: ClientConfig,
}

impl Dial {
    /// Runs the handshake over a fresh connection, asking to resume a session when `resume`
    /// names one, after `offsets` on the server's channels.
    async fn attach<C: Connection>(
        &self,
        connection: C,
        resume: Option<Resume>,
        offsets: Vec<ChannelOffset>,
    ) -> Result<reconnect::Attached<C::Reader, C::Writer>, ConnectError> {
        let info = connection.info();
        let path = connection.path_probe();
        let max_channels = connection.max_channels();
        let offered = max_channels.min(self.config.limits.max_channels);
        // Offsets are named even where no channel is wanted: a session that had channels
        // carries on over channel 0 alone from them (PROTOCOL.md section 10.6).
        // The delivery classes are always offered, so the offer always goes (section 2.3).
        let offer = Some(ChannelOffer {
            max_channels: offered,
            offsets,
            classes: true,
        });
        let (mut reader, mut writer, datagrams) =
            connection.split(self.config.limits.max_frame_size);
        let welcome = self
            .handshake(&mut reader, &mut writer, resume, offer)
            .await?;
        // A grant without an offer, or above it, is the server's mistake: take what was offered.
        let granted = welcome.channels.map_or(0, |grant| grant.max_channels);
        let link = Link {
            info,
            datagrams,
            path,
            peer_max_frame_size: welcome.max_frame_size as usize,
            max_channels,
            classes: welcome.channels.is_some_and(|grant| grant.classes),
            server: false,
        };
        Ok(reconnect::Attached {
            reader,
            writer,
            welcome,
            link,
            channels: granted.min(offered),
        })
    }

    /// Sends `Hello`, offering `channels`, and waits for `Welcome`.
    pub(crate) async fn handshake<R: FrameReader, W: FrameWriter>(
        &self,
        reader: &mut R,
        writer: &mut W,
        resume: Option<Resume>,
        channels: Option<ChannelOffer>,
    ) -> Result<Welcome, ConnectError> {
        let hello = Frame::Hello(Hello {
            version: PROTOCOL_VERSION,
            codec: self.codec,
            client_name: self.name.0.clone(),
            client_version: self.name.1.clone(),
            max_frame_size: u32::try_from(self.config.limits.max_frame_size).unwrap_or(u32::MAX),
            auth: self.auth.clone(),
            resume,
            channels,
        });
        let timeout = self.config.handshake_timeout;
        let greeting = Greeting::new(timeout, now());
        let answer = async {
            writer.send(codec::encode(&hello)).await?;
            writer.flush().await?;
            loop {
                if let Some(answer) = greeting.answer(reader.recv().await?) {
                    return answer;
                }
            }
        };
        tokio::select! {
            answer = answer => answer,
            () = tokio::time::sleep_until(greeting.deadline().into()) => {
                Err(ConnectError::Timeout(timeout))
            }
        }
    }
}

impl Client {
    /// Starts building a client with the default configuration and the bincode codec.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            config: ClientConfig::default(),
            codec: PayloadCodec::Bincode,
            auth: Ok(None),
            handlers: Handlers::new(),
            name: ("quicket-rs".into(), env!("CARGO_PKG_VERSION").into()),
            on_reconnect: None,
        }
    }

    crate::endpoint::endpoint_methods!(Client, "server");

    fn emit_reliable(&self, event: &str, data: &dyn IntoPayload) -> Result<(), EmitError> {
        self.inner.core.emit(event, data)
    }

    /// Subscribes to a room's presence. The first event is [`PresenceEvent::Sync`], or
    /// [`PresenceEvent::Ended`] when the server refuses (the socket is not in the room).
    pub fn subscribe_presence(&self, room: &str) -> Result<PresenceWatch, EmitError> {
        let (events_tx, events) = mpsc::channel(PRESENCE_EVENTS);
        let (state_tx, state) = watch::channel(PresenceSnapshot::default());
        self.presence().insert(
            room.to_owned(),
            PresenceFeed {
                events: events_tx,
                state: state_tx,
                parts: std::sync::Mutex::default(),
            },
        );
        let subscribe = Frame::PresenceSubscribe(PresenceSubscribe {
            room: room.to_owned(),
        });
        if let Err(err) = self.inner.core.send_frame(&subscribe) {
            self.presence().remove(room);
            return Err(err);
        }
        Ok(PresenceWatch {
            room: room.to_owned(),
            codec: self.inner.core.codec,
            events,
            state,
        })
    }

    /// Ends a presence subscription.
    pub fn unsubscribe_presence(&self, room: &str) -> Result<(), EmitError> {
        self.presence().remove(room);
        self.inner
            .core
            .send_frame(&Frame::PresenceUnsubscribe(PresenceUnsubscribe {
                room: room.to_owned(),
            }))
    }

    /// Whether a connection is up right now (not while reconnecting).
    pub fn connected(&self) -> bool {
        self.inner.closed.borrow().is_none() && !self.inner.core.outbox.is_closing()
    }

    /// Whether the last reconnect resumed the session: same id and rooms, no event lost.
    pub fn recovered(&self) -> bool {
        self.inner.session().recovered
    }

    /// Waits until the client is closed for good (no more reconnecting), and says why.
    pub async fn closed(&self) -> DisconnectReason {
        let mut closed = self.inner.closed.clone();
        match closed.wait_for(Option::is_some).await {
            Ok(reason) => reason.unwrap_or(DisconnectReason::TransportClosed),
            Err(_driver_gone) => DisconnectReason::TransportClosed,
        }
    }

    /// Disconnects after writing what is queued, and waits until the connection is closed.
    pub async fn disconnect(&self) {
        self.inner
            .core
            .outbox
            .close(Close::graceful(DisconnectReason::ClientDisconnect));
        self.closed().await;
    }

    fn presence(&self) -> MutexGuard<'_, HashMap<String, PresenceFeed>> {
        // Single map operations only: a poisoned map is still a valid map.
        self.inner
            .presence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id())
            .field("transport", &self.transport())
            .finish()
    }
}

impl Role for Client {
    fn core(&self) -> &Arc<SessionCore> {
        &self.inner.core
    }

    fn handlers(&self) -> &Handlers<Self> {
        &self.inner.handlers
    }

    fn on_frame(&self, frame: Frame) -> Result<(), Close> {
        let codec = self.inner.core.codec;
        match frame {
            Frame::PresenceState(state) => {
                if let Some(feed) = self.presence().get(&state.room) {
                    feed.sync(codec, state.entries);
                }
                Ok(())
            }
            Frame::PresenceStatePart(part) => match self.presence().get(&part.room) {
                Some(feed) => feed
                    .part(part.entries)
                    .map_err(|why| Close::now(DisconnectReason::ProtocolError, why)),
                None => Ok(()),
            },
            Frame::PresenceCount(count) => {
                if let Some(feed) = self.presence().get(&count.room) {
                    feed.count(count.keys, count.connections);
                }
                Ok(())
            }
            Frame::PresenceDiff(diff) => {
                if let Some(feed) = self.presence().get(&diff.room) {
                    feed.diff(diff.joins, diff.leaves);
                }
                Ok(())
            }
            Frame::PresenceEnd(end) => {
                if let Some(feed) = self.presence().remove(&end.room) {
                    feed.notify(PresenceEvent::Ended(end.message));
                }
                Ok(())
            }
            other => Err(Close::now(
                DisconnectReason::ProtocolError,
                format!(
                    "a server may not send {:?} frames after the handshake",
                    other.tag()
                ),
            )),
        }
    }
}

/// The span of a client's run: its transport, its peer's address and its socket id.
fn client_span(link: &Link, sid: SocketId) -> tracing::Span {
    let span = tracing::error_span!(
        "client",
        transport = %link.info.kind,
        peer = tracing::field::Empty,
        sid = %sid,
    );
    if let Some(peer) = link.info.peer_addr {
        span.record("peer", tracing::field::display(peer));
    }
    span
}

impl FromEvent<Client> for Client {
    fn from_event(ctx: &mut EventContext<Client>) -> Result<Self, ExtractError> {
        let inner = &ctx.owner().inner;
        Ok(Client {
            inner: Arc::clone(inner),
            _user: inner.user.upgrade(),
        })
    }
}
