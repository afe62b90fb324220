//! One connection's life on the server: handshake, socket, driver, departure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use metrics::Gauge;
use quicket_proto::{
    ChannelGrant, DisconnectReason, Frame, RejectReason, SocketId, Welcome, codec,
};
use tokio::time::sleep_until;
use tracing::Instrument;

use super::handshake::Handshake;
use super::lifecycle::Step;
use super::session::ResumeFailure;
use super::{Server, ServerShared, Socket};
use crate::adapter::Adoption;
use crate::endpoint::close::Close;
use crate::endpoint::driver::{Heartbeat, drive, now};
use crate::endpoint::greeting::{self, Greeting, Refusal};
use crate::endpoint::handler::{BoxFuture, contain_panics};
use crate::endpoint::replay::{ReplayLog, WhenFull};
use crate::endpoint::{Link, SessionCore};
use crate::meters;
use crate::transport::{Connection, ConnectionInfo, FrameReader, FrameWriter, TransportKind};

impl Server {
    /// Runs one connection to its end: handshake, then events until it closes.
    ///
    /// Everything it logs, its handlers' lines included, is inside a `connection` span with
    /// the connection's `transport`, `peer` address and, once the session is known, `sid`.
    pub async fn serve<C: Connection>(&self, connection: C) {
        let info = connection.info();
        // At the error level, so that it is on whenever any line of the connection is.
        let span = tracing::error_span!(
            "connection",
            transport = %info.kind,
            peer = tracing::field::Empty,
            sid = tracing::field::Empty,
        );
        if let Some(peer) = info.peer_addr {
            span.record("peer", tracing::field::display(peer));
        }
        self.run(connection).instrument(span).await;
    }

    async fn run<C: Connection>(&self, connection: C) {
        let shared = &self.shared;
        let info = connection.info();
        let path = connection.path_probe();
        let max_channels = connection.max_channels();
        let (mut reader, mut writer, datagrams) =
            connection.split(shared.config.limits.max_frame_size);
        let _slot = ConnectionSlot::take(shared, info.kind);
        let ip = info.peer_addr.map(|addr| addr.ip());
        let source = ip.map(|ip| shared.per_source.take(ip));
        // Held until the handshake ends: what one address may have waiting for its Hello.
        let handshaking = ip.map(|ip| shared.handshakes_per_source.take(ip));
        let over = match (&source, &handshaking) {
            (Some(None), _) => Some("too many connections from this address"),
            (_, Some(None)) => Some("too many handshakes from this address"),
            _ => None,
        };
        if let Some(full) = over {
            let refusal = greeting::refusal(RejectReason::ServerFull, full);
            return deliver(refusal, &mut writer, info.kind).await;
        }
        let handshake = self.await_hello(&mut reader, &info).await;
        drop(handshaking);
        let handshake = match handshake {
            Ok(handshake) => handshake,
            Err(refusal) => return deliver(refusal, &mut writer, info.kind).await,
        };
        meters::handshake_completed(info.kind);

        if let Some(relay) = self.relay(&handshake).await {
            tracing::debug!(
                "resume of a session another node holds; relaying the connection there"
            );
            let hello = handshake.hello_frame();
            let pump = crate::relay::pump_split(reader, writer, datagrams, relay, Some(hello));
            // Shutting down drops the relay: the client reconnects, to this node or another.
            let mut shutdown = shared.shutdown.subscribe();
            tokio::select! {
                () = pump => {}
                _ = shutdown.wait_for(|down| *down) => {}
            }
            return;
        }
        let link = Link {
            info,
            datagrams,
            path,
            peer_max_frame_size: handshake.peer_max_frame_size(),
            max_channels,
            classes: handshake.channel_offer().is_some_and(|offer| offer.classes),
            server: true,
        };
        if let Some((socket, startup)) = self.attach(handshake, link).await {
            self.run_session(socket, startup, reader, writer).await;
        }
    }

    /// The client's Hello, parsed, unless the handshake's deadline or a shutdown comes first.
    async fn await_hello<R: FrameReader>(
        &self,
        reader: &mut R,
        info: &ConnectionInfo,
    ) -> Result<Handshake, Refusal> {
        let shared = &self.shared;
        let greeting = Greeting::new(shared.config.handshake_timeout, now());
        let mut shutdown = shared.shutdown.subscribe();
        let shutting_down =
            || greeting::refusal(RejectReason::ShuttingDown, "the server is shutting down");
        let handshake = tokio::select! {
            done = self.handshake(&greeting, reader, info) => done,
            () = sleep_until(greeting.deadline().into()) => Err(Refusal::Timeout),
            _ = shutdown.wait_for(|down| *down) => Err(shutting_down()),
        };
        match handshake {
            Ok(_) if *shared.shutdown.borrow() => Err(shutting_down()),
            other => other,
        }
    }

    /// The session this connection serves, resumed or new, and what runs before its first
    /// event: the reconnect handler, or the connect handler.
    async fn attach(
        &self,
        handshake: Handshake,
        link: Link,
    ) -> Option<(Socket, Option<BoxFuture>)> {
        let resume = handshake
            .resume()
            .filter(|_| self.shared.config.recovery.is_some());
        let failure = match resume {
            Some(resume) => match self.take_session(resume, &handshake).await {
                Ok(socket) => match self.resume_session(&socket, &handshake, link.clone()).await {
                    Ok(()) => return Some(resumed_startup(socket)),
                    Err(failure) => Some(failure),
                },
                Err(failure) => Some(failure),
            },
            None => None,
        };
        let adoption = match (resume, failure) {
            (Some(resume), Some(ResumeFailure::UnknownSession)) => {
                let sessions = self.shared.adapter.sessions();
                let adopted = sessions.adopt(&resume.token, resume.offset, handshake.codec());
                adopted.await.map(|adoption| (adoption, resume.offset))
            }
            _ => None,
        };
        // A session carried on from a dead node is a resume that did not fail.
        let failure = failure.filter(|_| adoption.is_none());
        let socket = match adoption {
            Some((adoption, offset)) => {
                let socket = self.carry_on(handshake, link, adoption, offset)?;
                meters::session_resumed();
                socket
            }
            None => self.open_session(handshake, link)?,
        };
        if let Some(failure) = failure {
            meters::resume_failed(failure.name());
        }
        let startup = self
            .startup(socket.clone(), failure)
            .map(|startup| socket.begin_startup(startup));
        Some((socket, startup))
    }

    /// Runs an attached session's connection to its end; then keeps the session for a
    /// resume, or ends it.
    async fn run_session<R: FrameReader, W: FrameWriter>(
        &self,
        socket: Socket,
        startup: Option<BoxFuture>,
        reader: R,
        writer: W,
    ) {
        let shared = &self.shared;
        tracing::Span::current().record("sid", tracing::field::display(socket.id()));
        // Leaves the rooms and breaks handler cycles however this future ends: closed,
        // cancelled by its caller, or unwinding from a panic.
        let mut departure = Departure(Some(socket.clone()));
        if *shared.shutdown.borrow() {
            // Shutdown began after our handshake but may have missed this socket.
            socket.close(Close::graceful(DisconnectReason::ServerShutdown));
        }
        let config = &shared.config;
        let heartbeat = Heartbeat {
            ping_every: Some(config.ping_interval),
            dead_after: config.ping_interval + config.ping_timeout,
            ping_at_start: false,
        };
        let budget = Arc::clone(&shared.backlog_budget);
        let close = drive(socket.clone(), reader, writer, heartbeat, startup, budget).await;
        let keep = close.is_recoverable()
            && config.recovery.is_some()
            && !*shared.shutdown.borrow()
            && socket.core().outbox.is_resumable();
        if keep {
            departure.0 = None;
            tracing::debug!(reason = %close.reason, "connection dropped; session kept");
            self.keep(&socket, close.reason);
        } else {
            socket.step(Step::EndAttached);
            self.finish(&socket, close.reason).await;
        }
    }

    /// A link to the node that holds the session a resume names, when it is not this one.
    async fn relay(&self, handshake: &Handshake) -> Option<crate::relay::RelayLink> {
        let shared = &self.shared;
        let resume = handshake
            .resume()
            .filter(|_| shared.config.recovery.is_some())?;
        if resume.token.is_empty() || shared.sessions.holds(&resume.token) {
            return None;
        }
        shared.adapter.sessions().relay(&resume.token).await
    }

    /// A new session: a socket with a fresh id, welcomed and added to the adapter.
    fn open_session(&self, handshake: Handshake, link: Link) -> Option<Socket> {
        let log = self.replay_log();
        let channels = self.grant(&handshake, &link);
        let classes = link.classes;
        let (socket, token) = self.new_socket(handshake, link, log, random_socket_id(), false);
        socket.core().outbox.grant_channels(channels.unwrap_or(0));
        let welcome = self.welcome(socket.id(), token, false, 0, channels, classes);
        socket.core().send_frame(&welcome).ok()?;
        self.shared.adapter.add_socket(socket.member());
        Some(socket)
    }

    /// A session a dead node held, carried on here after the client's `offset`
    /// ([`SessionLocator::adopt`](crate::adapter::SessionLocator::adopt)).
    fn carry_on(
        &self,
        handshake: Handshake,
        link: Link,
        adoption: Adoption,
        offset: u64,
    ) -> Option<Socket> {
        let log = self.replay_log().map(|log| log.continuing_after(offset));
        let channels = self.grant(&handshake, &link);
        let classes = link.classes;
        let (socket, token) = self.new_socket(handshake, link, log, adoption.id, true);
        let received = adoption.received;
        socket.core().received.store(received, Ordering::Relaxed);
        socket.core().outbox.grant_channels(channels.unwrap_or(0));
        let welcome = self.welcome(socket.id(), token, true, received, channels, classes);
        // What the adapter replays waits in the log, as for any resume, so that a long
        // replay does not count against the queue's bounds.
        let outbox = &socket.core().outbox;
        outbox.detach();
        (adoption.install)(&socket.member());
        if outbox
            .resume(Some(codec::encode(&welcome)), Some(&[offset]), false)
            .is_none()
        {
            tracing::info!(sid = %socket.id(), "a dead node's session overflowed its buffer here");
            self.shared.forget_token(&socket);
            socket.depart();
            return None;
        }
        tracing::debug!(sid = %socket.id(), offset, "a dead node's session carried on here");
        Some(socket)
    }

    /// A session's replay log, when sessions are recoverable.
    fn replay_log(&self) -> Option<ReplayLog> {
        let shared = &self.shared;
        shared.config.recovery.as_ref().map(|recovery| {
            ReplayLog::new(recovery.buffer, WhenFull::EndSession)
                .with_budget(shared.detached_bytes.clone())
        })
    }

    /// A socket for session `id` on this connection, and its resume token (empty unless
    /// sessions are recoverable).
    fn new_socket(
        &self,
        handshake: Handshake,
        link: Link,
        log: Option<ReplayLog>,
        id: SocketId,
        recovered: bool,
    ) -> (Socket, Bytes) {
        let shared = &self.shared;
        let config = &shared.config;
        let core = Arc::new(SessionCore::new(
            handshake.codec(),
            link,
            config.limits.clone(),
            log,
            config.default_ack_timeout,
            shared.meters.current(),
        ));
        let socket = Socket::new(id, core, handshake, Arc::clone(shared), recovered);
        let token = if config.recovery.is_some() {
            shared.issue_token(&socket)
        } else {
            Bytes::new()
        };
        (socket, token)
    }

    /// Attaches a taken-over session to its new connection: `Welcome`, then the events the
    /// client has not handled.
    async fn resume_session(
        &self,
        socket: &Socket,
        handshake: &Handshake,
        link: Link,
    ) -> Result<(), ResumeFailure> {
        let core = socket.core();
        let received = core.events_received();
        let session = self.shared.issue_token(socket);
        let granted = core.outbox.channels_granted();
        // A connection that cannot carry the session's channels (WebSocket, a smaller offer)
        // carries on with channel 0 alone (PROTOCOL.md section 10.6).
        let merged = self.grant(handshake, &link).unwrap_or(0) < granted;
        let kept = if merged { 0 } else { granted };
        let channels = handshake.channel_offer().map(|_| kept);
        let welcome = self.welcome(socket.id(), session, true, received, channels, link.classes);
        let welcome = codec::encode(&welcome);
        let offsets = handshake.resume_offsets();
        core.relink(link);
        let resumed = offsets.and_then(|offsets| {
            if merged {
                core.outbox.resume_merged(welcome, &offsets)
            } else {
                core.outbox.resume(Some(welcome), Some(&offsets), false)
            }
        });
        if resumed.is_none() {
            self.shared.forget_token(socket);
            self.end_resuming(socket).await;
            return Err(ResumeFailure::BufferOverflowed);
        }
        socket.step(Step::Resumed);
        socket.restore_presence();
        tracing::debug!(sid = %socket.id(), "session resumed");
        Ok(())
    }

    /// The channels this connection's session gets (PROTOCOL.md section 2.2): `None` when the
    /// client offered none, else at most its offer, the transport's and the server's limits;
    /// none on an adapter that keeps one order for everything a socket receives.
    fn grant(&self, handshake: &Handshake, link: &Link) -> Option<u16> {
        let offer = handshake.channel_offer()?;
        let shared = &self.shared;
        if shared.adapter.routes_socket_emits() {
            return Some(0);
        }
        let limits = [shared.config.limits.max_channels, link.max_channels];
        Some(limits.into_iter().fold(offer.max_channels, u16::min))
    }

    fn welcome(
        &self,
        sid: SocketId,
        session: Bytes,
        recovered: bool,
        offset: u64,
        channels: Option<u16>,
        classes: bool,
    ) -> Frame {
        let config = &self.shared.config;
        Frame::Welcome(Welcome {
            sid,
            ping_interval_ms: millis(config.ping_interval),
            ping_timeout_ms: millis(config.ping_timeout),
            max_frame_size: u32::try_from(config.limits.max_frame_size).unwrap_or(u32::MAX),
            session,
            recovered,
            offset,
            channels: channels.map(|max_channels| ChannelGrant {
                max_channels,
                classes,
            }),
        })
    }

    /// The connect handler, then the resume-failed hook when a resume was refused.
    fn startup(&self, socket: Socket, failure: Option<ResumeFailure>) -> Option<BoxFuture> {
        let shared = &self.shared;
        let on_connect = shared.on_connect.clone();
        let on_resume_failed = failure.and(shared.on_resume_failed.clone());
        if on_connect.is_none() && on_resume_failed.is_none() {
            return None;
        }
        let run = async move {
            if let Some(on_connect) = on_connect {
                on_connect(socket.clone()).await;
            }
            if let (Some(hook), Some(failure)) = (on_resume_failed, failure) {
                hook(socket, failure).await;
            }
        };
        Some(contain_panics(Box::pin(run), "connect"))
    }

    /// Reads the client's `Hello` and runs the auth middleware.
    async fn handshake<R: FrameReader>(
        &self,
        greeting: &Greeting,
        reader: &mut R,
        info: &ConnectionInfo,
    ) -> Result<Handshake, Refusal> {
        let shared = &self.shared;
        let hello = greeting.hello(reader.recv().await, &shared.config.limits)?;
        if shared.connections.load(Ordering::Relaxed) > shared.config.max_connections {
            return Err(greeting::refusal(
                RejectReason::ServerFull,
                "the server is full",
            ));
        }
        let codec = hello.codec;
        let handshake = Handshake::new(hello, info.clone());
        if let Some(auth) = &shared.auth {
            auth(handshake.clone())
                .await
                .map_err(|rejection| Refusal::Reject(Box::new(rejection.into_frame(codec))))?;
        }
        Ok(handshake)
    }

    /// Runs the disconnect handler of a session that ended.
    pub(crate) async fn finish(&self, socket: &Socket, reason: DisconnectReason) {
        tracing::debug!(sid = %socket.id(), %reason, "session ended");
        self.shared.forget_token(socket);
        if let Some(on_disconnect) = socket.take_disconnect_handler() {
            let handler = on_disconnect(socket.clone(), reason);
            contain_panics(handler, "disconnect").await;
        }
    }
}

/// How long a refused client may take to accept its last frame; it may not be reading.
const LAST_FRAME_WITHIN: Duration = Duration::from_secs(1);

/// Ends a refused handshake: the client gets its last frame, if it is still there, and the
/// close says why.
async fn deliver<W: FrameWriter>(refusal: Refusal, writer: &mut W, transport: TransportKind) {
    meters::handshake_refused(transport, refusal.reason());
    let Some(last) = refusal.last_words() else {
        return;
    };
    let sending = async {
        writer.send(codec::encode(&last.frame)).await?;
        writer.flush().await
    };
    let _peer_gone = tokio::time::timeout(LAST_FRAME_WITHIN, sending).await;
    writer.close(last.reason, last.message).await;
}

/// A resumed session and what runs before its next event: a connect handler the drop
/// interrupted finishes first, then the reconnect handler.
fn resumed_startup(socket: Socket) -> (Socket, Option<BoxFuture>) {
    meters::session_resumed();
    let unfinished = socket.unfinished_startup();
    let on_reconnect = socket
        .reconnect_handler()
        .map(|on_reconnect| contain_panics(on_reconnect(socket.clone()), "reconnect"));
    let startup: Option<BoxFuture> = match (unfinished, on_reconnect) {
        (None, on_reconnect) => on_reconnect,
        (Some(connect), None) => Some(Box::pin(connect)),
        (Some(connect), Some(on_reconnect)) => Some(Box::pin(async move {
            connect.await;
            on_reconnect.await;
        })),
    };
    (socket, startup)
}

/// A socket's exit from the server, on drop, unless its session is kept for a resume.
struct Departure(Option<Socket>);

impl Drop for Departure {
    fn drop(&mut self) {
        if let Some(socket) = &self.0 {
            socket.step(Step::EndAttached);
            socket.server().forget_token(socket);
            socket.depart();
        }
    }
}

/// Counts a connection for its whole life, handshake included, here and in the open gauge.
struct ConnectionSlot<'a>(&'a ServerShared, Gauge);

impl<'a> ConnectionSlot<'a> {
    fn take(shared: &'a ServerShared, transport: TransportKind) -> Self {
        shared.connections.fetch_add(1, Ordering::Relaxed);
        Self(shared, meters::connection_accepted(transport))
    }
}

impl Drop for ConnectionSlot<'_> {
    fn drop(&mut self) {
        self.1.decrement(1.0);
        if self.0.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

fn millis(duration: std::time::Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// 16 bytes from the OS random source. A socket id is no credential (resume tokens are), but
/// guessable ids would still leak how many clients came before.
fn random_socket_id() -> SocketId {
    let mut bytes = [0u8; 16];
    if let Err(err) = getrandom::fill(&mut bytes) {
        // Without an OS random source we still need unique ids; uniqueness is all the
        // protocol requires of them today.
        tracing::warn!(%err, "no OS randomness; socket ids fall back to a hashed counter");
        static FALLBACK: AtomicUsize = AtomicUsize::new(0);
        use std::hash::{BuildHasher, RandomState};
        let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
        let state = RandomState::new();
        bytes[..8].copy_from_slice(&state.hash_one(n).to_le_bytes());
        bytes[8..].copy_from_slice(&state.hash_one((n, 1u8)).to_le_bytes());
    }
    SocketId::from_bytes(bytes)
}
