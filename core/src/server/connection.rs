//! One connection's life on the server: handshake, socket, driver, departure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quicket_proto::{DisconnectReason, Frame, RejectReason, SocketId, Welcome, codec};

use super::handshake::{self, Handshake};
use super::{Server, ServerShared, Socket};
use crate::peer::PeerCore;
use crate::peer::driver::{Heartbeat, drive};
use crate::peer::handler::contain_panics;
use crate::peer::outbox::Close;
use crate::transport::{Connection, ConnectionInfo, FrameReader, FrameWriter, TransportError};

impl Server {
    /// Runs one connection to its end: handshake, then events until it closes.
    pub async fn serve<C: Connection>(&self, connection: C) {
        let shared = &self.shared;
        let info = connection.info();
        let (mut reader, mut writer, datagrams) =
            connection.split(shared.config.limits.max_frame_size);
        let _slot = ConnectionSlot::take(shared);

        let mut shutdown = shared.shutdown.subscribe();
        let handshake = tokio::select! {
            done = tokio::time::timeout(shared.config.handshake_timeout, self.handshake(&mut reader, &info)) => {
                done.unwrap_or(Err(Refusal::Timeout))
            }
            _ = shutdown.wait_for(|down| *down) => Err(Refusal::Reject(handshake::refusal(
                RejectReason::ShuttingDown,
                "the server is shutting down",
            ))),
        };
        let handshake = match handshake {
            Ok(handshake) if !*shared.shutdown.borrow() => handshake,
            Ok(_) => {
                let closing =
                    handshake::refusal(RejectReason::ShuttingDown, "the server is shutting down");
                return Refusal::Reject(closing).deliver(&mut writer).await;
            }
            Err(refusal) => return refusal.deliver(&mut writer).await,
        };

        let config = &shared.config;
        let core = Arc::new(PeerCore::new(
            handshake.codec(),
            info,
            datagrams,
            config.limits.clone(),
            handshake.peer_max_frame_size(),
            config.default_ack_timeout,
        ));
        let sid = random_socket_id();
        let welcome = Frame::Welcome(Welcome {
            sid,
            ping_interval_ms: millis(config.ping_interval),
            ping_timeout_ms: millis(config.ping_timeout),
            max_frame_size: u32::try_from(config.limits.max_frame_size).unwrap_or(u32::MAX),
        });
        if core.send_frame(&welcome).is_err() {
            return;
        }
        let socket = Socket::new(sid, core, handshake, Arc::clone(shared));
        shared.adapter.add_socket(socket.clone());
        // Leaves the rooms and breaks handler cycles however this future ends: closed,
        // cancelled by its caller, or unwinding from a panic.
        let _departure = Departure(socket.clone());
        if *shared.shutdown.borrow() {
            // Shutdown began after our handshake but may have missed this socket.
            socket.close(Close::graceful(DisconnectReason::ServerShutdown));
        }
        let startup = shared
            .on_connect
            .as_ref()
            .map(|on_connect| contain_panics(on_connect(socket.clone()), "the connect handler"));
        let heartbeat = Heartbeat {
            ping_every: Some(config.ping_interval),
            dead_after: config.ping_interval + config.ping_timeout,
        };
        let close = drive(socket.clone(), reader, writer, heartbeat, startup).await;
        self.finish(&socket, close).await;
    }

    /// Reads the client's `Hello` and runs the auth middleware.
    async fn handshake<R: FrameReader>(
        &self,
        reader: &mut R,
        info: &ConnectionInfo,
    ) -> Result<Handshake, Refusal> {
        let shared = &self.shared;
        let incoming = reader.recv().await.map_err(|err| match err {
            TransportError::FrameTooLarge { .. } => Refusal::Close(DisconnectReason::FrameTooLarge),
            TransportError::Malformed(_) => Refusal::Close(DisconnectReason::ProtocolError),
            _ => Refusal::Gone,
        })?;
        let hello = handshake::parse_hello(incoming).map_err(Refusal::Reject)?;
        if shared.connections.load(Ordering::Relaxed) > shared.config.max_connections {
            let full = handshake::refusal(RejectReason::ServerFull, "the server is full");
            return Err(Refusal::Reject(full));
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

    async fn finish(&self, socket: &Socket, close: Close) {
        tracing::debug!(sid = %socket.id(), reason = %close.reason, message = %close.message, "socket closed");
        socket.mark_disconnected();
        if let Some(on_disconnect) = socket.take_disconnect_handler() {
            let handler = on_disconnect(socket.clone(), close.reason);
            contain_panics(handler, "a disconnect handler").await;
        }
    }
}

/// Why a connection got no socket.
enum Refusal {
    /// The client went away during the handshake.
    Gone,
    /// The transport refused what the client sent; close with this reason.
    Close(DisconnectReason),
    /// The client said nothing in time.
    Timeout,
    /// The client gets this `Reject` frame.
    Reject(Box<Frame>),
}

impl Refusal {
    async fn deliver<W: FrameWriter>(self, writer: &mut W) {
        match self {
            Refusal::Gone => {}
            Refusal::Close(reason) => writer.close(reason, "bad first frame").await,
            Refusal::Timeout => {
                writer
                    .close(DisconnectReason::HandshakeTimeout, "handshake timed out")
                    .await;
            }
            Refusal::Reject(frame) => {
                let _peer_gone = writer.send(codec::encode(&frame)).await;
                let _peer_gone = writer.flush().await;
                writer
                    .close(DisconnectReason::ServerDisconnect, "handshake refused")
                    .await;
            }
        }
    }
}

/// A socket's exit from the server, on drop.
struct Departure(Socket);

impl Drop for Departure {
    fn drop(&mut self) {
        let socket = &self.0;
        socket.mark_disconnected();
        socket.core().acks.close();
        socket.server().adapter.remove_socket(socket.id());
        socket.release();
    }
}

/// Counts a connection for its whole life, handshake included.
struct ConnectionSlot<'a>(&'a ServerShared);

impl<'a> ConnectionSlot<'a> {
    fn take(shared: &'a ServerShared) -> Self {
        shared.connections.fetch_add(1, Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for ConnectionSlot<'_> {
    fn drop(&mut self) {
        if self.0.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

fn millis(duration: std::time::Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// 16 bytes from the OS random source. Ids must not be guessable: a future resume token
/// builds on them.
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
