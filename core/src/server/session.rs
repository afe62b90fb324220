//! Connection state recovery on the server: sessions that outlive their connection, resume
//! tokens, and the window after which a dropped session ends (PROTOCOL.md section 10.6).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{DisconnectReason, Resume};
use thiserror::Error;
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

use super::detached::{Caps, Eviction};
use super::handshake::Handshake;
use super::lifecycle::{DetachedTimers, DetachedWake, Phase, Step};
use super::{Server, ServerShared, Socket};
use crate::config::RecoveryConfig;
use crate::endpoint::close::Close;
use crate::endpoint::replay::Break;

/// Why a client's resume got a new session instead of its old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResumeFailure {
    /// The token names no session held here: it expired, ended, or never existed.
    #[error("no such session (expired, ended or unknown)")]
    UnknownSession,
    /// The session's buffer no longer holds every event the client missed.
    #[error("the session's event buffer overflowed")]
    BufferOverflowed,
    /// The client asked for a different payload codec than the session's.
    #[error("the client changed its payload codec")]
    CodecChanged,
}

impl ResumeFailure {
    /// The variant's name, as a metric label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ResumeFailure::UnknownSession => "UnknownSession",
            ResumeFailure::BufferOverflowed => "BufferOverflowed",
            ResumeFailure::CodecChanged => "CodecChanged",
        }
    }
}

/// The sessions that can be resumed, by their current token.
#[derive(Default)]
pub(crate) struct Sessions {
    by_token: Mutex<HashMap<Bytes, Socket>>,
}

impl Sessions {
    /// Hands `socket` a fresh token, retiring its previous one; returns both.
    fn issue(&self, socket: &Socket) -> (Bytes, Bytes) {
        let token = new_token();
        let old = socket.swap_token(token.clone());
        let mut sessions = self.lock();
        sessions.remove(&old);
        if !token.is_empty() {
            sessions.insert(token.clone(), socket.clone());
        }
        (token, old)
    }

    /// Whether a token names a session here.
    pub(crate) fn holds(&self, token: &Bytes) -> bool {
        !token.is_empty() && self.lock().contains_key(token)
    }

    /// Takes the session a token names; the token is spent either way.
    fn take(&self, token: &Bytes) -> Option<Socket> {
        if token.is_empty() {
            return None;
        }
        self.lock().remove(token)
    }

    /// Forgets a session that ended; its last token.
    fn remove(&self, socket: &Socket) -> Bytes {
        let token = socket.swap_token(Bytes::new());
        self.lock().remove(&token);
        token
    }

    /// Every session, attached or not.
    pub(crate) fn all(&self) -> Vec<Socket> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Bytes, Socket>> {
        // Single map operations only.
        self.by_token.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ServerShared {
    /// Hands `socket` a fresh resume token, and tells the adapter where it leads.
    pub(crate) fn issue_token(&self, socket: &Socket) -> Bytes {
        let (token, old) = self.sessions.issue(socket);
        if !old.is_empty() {
            self.adapter.sessions().forgotten(&old);
        }
        if let (false, Some(recovery)) = (token.is_empty(), &self.config.recovery) {
            self.adapter
                .sessions()
                .held(&token, socket.id(), recovery.window);
        }
        token
    }

    /// Forgets an ended session's token, here and in the adapter.
    pub(crate) fn forget_token(&self, socket: &Socket) {
        let old = self.sessions.remove(socket);
        if !old.is_empty() {
            self.adapter.sessions().forgotten(&old);
        }
    }
}

impl Server {
    /// Takes over the session `resume` names, for a connection whose codec is `codec`. On
    /// success the socket is in [`Phase::Resuming`]; on failure the old session has ended.
    pub(crate) async fn take_session(
        &self,
        resume: &Resume,
        handshake: &Handshake,
    ) -> Result<Socket, ResumeFailure> {
        let shared = &self.shared;
        let socket = shared
            .sessions
            .take(&resume.token)
            .ok_or(ResumeFailure::UnknownSession)?;
        if socket.codec() != handshake.codec() {
            self.end_detached(&socket, DisconnectReason::TransportClosed)
                .await;
            return Err(ResumeFailure::CodecChanged);
        }
        if socket.phase() == Phase::Attached {
            // The client has moved on from that connection; it is stale, or a half-open
            // path the server has not noticed yet.
            socket.close(Close::silent(
                DisconnectReason::TransportClosed,
                "the session resumed on a new connection",
            ));
            let wait = shared.config.limits.close_timeout + Duration::from_secs(1);
            let _still_attached =
                tokio::time::timeout(wait, socket.left_phase(Phase::Attached)).await;
        }
        if !socket.step(Step::BeginResume) {
            return Err(ResumeFailure::UnknownSession);
        }
        shared.detached.remove(socket.id());
        if !socket.core().outbox.is_resumable() {
            self.end_resuming(&socket).await;
            return Err(ResumeFailure::BufferOverflowed);
        }
        Ok(socket)
    }

    /// A resume that found the events gone.
    pub(crate) async fn end_resuming(&self, socket: &Socket) {
        if socket.step(Step::ResumeFailed) {
            self.end_detached(socket, DisconnectReason::TransportClosed)
                .await;
        }
    }

    /// Keeps a session whose connection dropped, for a resume within the window.
    pub(crate) fn keep(&self, socket: &Socket, reason: DisconnectReason) {
        let Some(recovery) = self.shared.config.recovery.clone() else {
            return;
        };
        socket.core().outbox.detach();
        self.shared
            .adapter
            .sessions()
            .held(&socket.token(), socket.id(), recovery.window);
        let adapter = &self.shared.adapter;
        // Presence subscriptions belong to the connection; the client subscribes again.
        for room in adapter.rooms_of(socket.id()) {
            adapter.presence().unsubscribe(&room, socket.id(), false);
        }
        socket.step(Step::Detach);
        if let Some(startup) = socket.unfinished_startup() {
            // The connect handler runs on while the session waits, and a resume waits for it;
            // one that never ends (a ticker loop) is dropped with the session.
            let session = socket.clone();
            let run = async move {
                tokio::select! {
                    () = startup => {}
                    () = session.closed() => {}
                }
            };
            tokio::spawn(run.in_current_span());
        }
        self.park(socket, &recovery);
        let server = self.clone();
        let socket = socket.clone();
        tokio::spawn(async move { server.watch_detached(socket, recovery, reason).await });
    }

    /// Counts a dropped session against the caps on waiting sessions; the oldest it displaces
    /// end now.
    fn park(&self, socket: &Socket, recovery: &RecoveryConfig) {
        let caps = Caps {
            total: recovery.max_detached,
            per_source: recovery.max_detached_per_source,
        };
        let source = socket
            .handshake()
            .connection()
            .peer_addr
            .map(|addr| addr.ip());
        let displaced = self
            .shared
            .detached
            .add(socket.id(), socket.clone(), source, caps, || {
                socket.phase() == Phase::Detached
            });
        for (oldest, eviction) in displaced {
            tracing::debug!(sid = %oldest.id(), ?eviction, "a newer dropped session displaced this one");
            self.evicted(&oldest, eviction);
            let server = self.clone();
            tokio::spawn(async move {
                server
                    .end_detached(&oldest, DisconnectReason::TransportClosed)
                    .await;
            });
        }
    }

    /// Waits while a dropped session may be resumed: its presence goes after the grace, and
    /// it ends at the window's end, when its log breaks, or at shutdown, unless resumed first.
    async fn watch_detached(
        self,
        socket: Socket,
        recovery: RecoveryConfig,
        reason: DisconnectReason,
    ) {
        let mut timers = DetachedTimers::new(
            Instant::now().into_std(),
            recovery.window,
            recovery.presence_grace,
        );
        let mut shutdown = self.shared.shutdown.subscribe();
        while let Some(deadline) = timers.poll_timeout() {
            tokio::select! {
                () = socket.left_phase(Phase::Detached) => return,
                () = sleep_until(Instant::from_std(deadline)) => {
                    match timers.handle_timeout(Instant::now().into_std()) {
                        Some(DetachedWake::ForgetPresence) => {
                            socket.forget_presence();
                        }
                        Some(DetachedWake::Expire) => break,
                        None => {}
                    }
                }
                () = socket.core().outbox.broken() => {
                    let eviction = match socket.core().outbox.broken_by() {
                        Some(Break::Budget) => Eviction::MemoryBudget,
                        _ => Eviction::BufferFull,
                    };
                    tracing::debug!(sid = %socket.id(), ?eviction, "dropped session can no longer be resumed");
                    if socket.phase() == Phase::Detached {
                        self.evicted(&socket, eviction);
                    }
                    break;
                }
                _ = shutdown.wait_for(|down| *down) => break,
            }
        }
        self.end_detached(&socket, reason).await;
    }

    /// Tells the application that a waiting session is about to end early, and why.
    fn evicted(&self, socket: &Socket, eviction: Eviction) {
        if let Some(hook) = &self.shared.on_session_evicted {
            hook(socket, eviction);
        }
    }

    /// Ends a session that is waiting for a resume, if it still is.
    async fn end_detached(&self, socket: &Socket, reason: DisconnectReason) {
        if socket.step(Step::EndDetached) {
            self.shared.detached.remove(socket.id());
            tracing::debug!(sid = %socket.id(), "dropped session ended unresumed");
            self.finish(socket, reason).await;
            socket.depart();
        }
    }

    /// Ends every session waiting for a resume: the server is going away.
    pub(crate) async fn end_all_detached(&self) {
        for socket in self.shared.sessions.all() {
            self.end_detached(&socket, DisconnectReason::ServerShutdown)
                .await;
        }
    }
}

/// 32 bytes from the OS's secure random source.
fn new_token() -> Bytes {
    let mut token = [0u8; 32];
    if let Err(err) = getrandom::fill(&mut token) {
        // Without secure randomness a token could be guessed; an empty one is never issued
        // to a resume, so the session simply cannot be recovered.
        tracing::error!(%err, "no OS randomness; this session cannot be resumed");
        return Bytes::new();
    }
    Bytes::copy_from_slice(&token)
}
