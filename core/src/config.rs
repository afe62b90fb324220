//! Limits and timings, with defaults modelled on socket.io's.

use std::time::Duration;

/// Limits that apply to one connection, on the server and in the client alike.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// The largest frame accepted from the peer, in bytes. Default 1 MiB.
    pub max_frame_size: usize,
    /// The longest event name accepted or sent, in bytes. Default 256.
    pub max_event_name_len: usize,
    /// Acknowledgements this side may await at once. Default 1,024.
    pub max_pending_acks: usize,
    /// Event handlers that may run at once; later events wait in the backlog. Default 64.
    pub max_concurrent_handlers: usize,
    /// Events that may wait for a handler slot; the connection stops reading while the
    /// backlog is full. Default 256.
    pub max_buffered_events: usize,
    /// Frames the outbound queue holds before a reliable frame overflows it. Default 1,024.
    pub max_queued_frames: usize,
    /// Bytes the outbound queue holds before a reliable frame overflows it. Default 8 MiB.
    pub max_queued_bytes: usize,
    /// How long the closing side waits for queued frames to drain. Default 2 s.
    pub close_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_frame_size: 1 << 20,
            max_event_name_len: 256,
            max_pending_acks: 1024,
            max_concurrent_handlers: 64,
            max_buffered_events: 256,
            max_queued_frames: 1024,
            max_queued_bytes: 8 << 20,
            close_timeout: Duration::from_secs(2),
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Per-connection limits.
    pub limits: ConnectionLimits,
    /// How often the server pings. Default 25 s.
    pub ping_interval: Duration,
    /// How long past a ping interval a silent client is kept. Default 20 s.
    pub ping_timeout: Duration,
    /// How long a new connection has to complete the handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Rooms one socket may be in at once. Default 128.
    pub max_rooms_per_socket: usize,
    /// Connections served at once; further handshakes get `ServerFull`. Default 100,000.
    pub max_connections: usize,
    /// How long `emit_with_ack` waits when no timeout is given. Default 30 s.
    pub default_ack_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            max_rooms_per_socket: 128,
            max_connections: 100_000,
            default_ack_timeout: Duration::from_secs(30),
        }
    }
}

/// The client's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Per-connection limits.
    pub limits: ConnectionLimits,
    /// How long the handshake may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// How long `emit_with_ack` waits when no timeout is given. Default 30 s.
    pub default_ack_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default(),
            handshake_timeout: Duration::from_secs(10),
            default_ack_timeout: Duration::from_secs(30),
        }
    }
}
