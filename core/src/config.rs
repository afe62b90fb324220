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
    /// Bytes of events that may wait for a handler slot, counted as they came on the wire;
    /// the connection stops reading while over it. Default 4 MiB.
    pub max_buffered_bytes: usize,
    /// How long the backlog may stay full, with reading stopped, before the peer is
    /// disconnected with `Flooding`: its handlers never catch up. Default 30 s.
    pub backlog_timeout: Duration,
    /// Frames the outbound queue holds before a reliable frame overflows it. Default 1,024.
    pub max_queued_frames: usize,
    /// Bytes the outbound queue holds before a reliable frame overflows it. Default 8 MiB.
    pub max_queued_bytes: usize,
    /// How long the closing side waits for queued frames to drain. Default 2 s.
    pub close_timeout: Duration,
    /// The longest `client_name` and `client_version` a server accepts in a `Hello`, in
    /// bytes; longer is refused with `BadHandshake`. The socket keeps them for its life.
    /// Default 64.
    pub max_client_info_len: usize,
    /// The largest `auth` payload a server accepts in a `Hello`, in bytes; larger is refused
    /// with `BadHandshake`. Default 8 KiB, room for a large JWT.
    pub max_auth_size: usize,
    /// Ordered channels beside the connection's own that a client offers, and the most a
    /// server grants (PROTOCOL.md section 2.2), where the transport has independent streams
    /// (WebTransport): each room's events then travel on a stream of their own, so a packet
    /// lost for one room holds back no other. Rooms share them past the limit. 0 keeps one
    /// ordered channel. Default 16; at most 256.
    pub max_channels: u16,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_frame_size: 1 << 20,
            max_event_name_len: 256,
            max_pending_acks: 1024,
            max_concurrent_handlers: 64,
            max_buffered_events: 256,
            max_buffered_bytes: 4 << 20,
            backlog_timeout: Duration::from_secs(30),
            max_queued_frames: 1024,
            max_queued_bytes: 8 << 20,
            close_timeout: Duration::from_secs(2),
            max_client_info_len: 64,
            max_auth_size: 8 << 10,
            max_channels: 16,
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
    /// Connections served at once; further handshakes get `ServerFull`. Default seven
    /// eighths of the process's open-file limit (`RLIMIT_NOFILE`, read from
    /// `/proc/self/limits`), leaving the rest for listeners, Redis and files, and at most
    /// 100,000; 100,000 where the limit cannot be read. A WebSocket takes a descriptor each,
    /// while every QUIC connection shares the endpoint's one socket.
    pub max_connections: usize,
    /// Connections from one source address (an IPv4 address, an IPv6 /64) served at once;
    /// more are refused at once with `ServerFull`. Default 10,000: a fleet behind one
    /// gateway or carrier NAT shares an address.
    pub max_connections_per_source: usize,
    /// Connections from one source address that may be waiting for their `Hello` (or in
    /// the auth check) at once; more are refused at once with `ServerFull`. A client that
    /// opens connections and never speaks holds no more than this many for the handshake
    /// timeout. Default 256.
    pub max_handshakes_per_source: usize,
    /// Bytes of events waiting for handler slots across every connection. A connection whose
    /// backlog holds anything stops reading while the total is over it, so a few floods
    /// cannot take the memory of all; each connection may still take one event. Default
    /// 64 MiB.
    pub max_buffered_bytes_total: usize,
    /// How long `emit_with_ack` waits when no timeout is given. Default 30 s.
    pub default_ack_timeout: Duration,
    /// Connection state recovery; `None` ends every session with its connection.
    pub recovery: Option<RecoveryConfig>,
    /// How many events each socket may send; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// How much presence sockets may track.
    pub presence: PresenceLimits,
}

/// Bounds on presence, so that one socket cannot grow a room's state past what subscribers
/// can receive. Each is checked when a key is tracked, and answered with a
/// [`PresenceError`](crate::PresenceError).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceLimits {
    /// Keys one socket may track, over all its rooms. Default 16.
    pub max_keys_per_socket: usize,
    /// Metas one key may have in a room, one per socket tracking it (a user's tabs and
    /// devices). Default 64.
    pub max_metas_per_key: usize,
    /// Keys one room may hold. Default 10,000.
    pub max_keys_per_room: usize,
    /// The largest meta, in bytes, in either codec. Default 1 KiB.
    pub max_meta_size: usize,
    /// How long a room's changes gather before its subscribers hear them, as one diff. Zero
    /// (the default) tells each change at once. In a large, busy room (a lobby of thousands),
    /// a batch of 100 ms to 1 s turns one frame per change per subscriber into one per batch;
    /// a meta that joins and leaves within a batch is never told.
    pub diff_batch: Duration,
}

impl Default for PresenceLimits {
    fn default() -> Self {
        Self {
            max_keys_per_socket: 16,
            max_metas_per_key: 64,
            max_keys_per_room: 10_000,
            max_meta_size: 1024,
            diff_batch: Duration::ZERO,
        }
    }
}

/// A socket's limit on the events it sends the server, by count and by bytes: token buckets
/// that refill at a steady rate up to a burst. Each event takes one token and its frame's size
/// in bytes; an event larger than `byte_burst` never fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Events a second, sustained. Default 500.
    pub events_per_second: u32,
    /// Events at once after a quiet spell. Default 1,000.
    pub event_burst: u32,
    /// Bytes a second, sustained. Default 4 MiB.
    pub bytes_per_second: u64,
    /// Bytes at once after a quiet spell. Default 8 MiB, above the largest frame.
    pub byte_burst: u64,
    /// What happens to an event over the limit. Default [`RateExceeded::Drop`].
    pub exceeded: RateExceeded,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            events_per_second: 500,
            event_burst: 1000,
            bytes_per_second: 4 << 20,
            byte_burst: 8 << 20,
            exceeded: RateExceeded::Drop,
        }
    }
}

/// What the server does with an event over a socket's [`RateLimit`]. Either way the
/// application hears of it through
/// [`ServerBuilder::on_rate_limited`](crate::ServerBuilder::on_rate_limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateExceeded {
    /// The event is not handled. One that wants an ack gets an `AckError`; one that does not
    /// still counts toward the session's offsets, so a resume does not send it again.
    Drop,
    /// The socket is disconnected with `Flooding`.
    Disconnect,
}

/// How long, and with how much, a dropped session waits to be resumed (PROTOCOL.md 10.6).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecoveryConfig {
    /// How long a session outlives its connection. Default 2 min.
    pub window: Duration,
    /// How long a dropped session's presence stays; capped at the window. Default 2 min.
    pub presence_grace: Duration,
    /// The bounds of each session's buffer of reliable events. The age bound defaults to
    /// the window.
    pub buffer: ReplayLimits,
    /// Sessions that may wait for a resume at once, beside the connections
    /// [`ServerConfig::max_connections`] counts. Past it, the session that has waited longest
    /// ends (its disconnect handler runs). Default 10,000.
    pub max_detached: usize,
    /// Sessions from one source address (an IPv4 address, an IPv6 /64) that may wait for a
    /// resume at once; past it, that source's oldest ends. A client that connects and drops
    /// in a loop displaces only its own sessions. Default 256.
    pub max_detached_per_source: usize,
    /// Bytes of reliable events held, in all, for the sessions waiting for a resume. Each
    /// session's buffer counts in full, even for a broadcast that other buffers share, so the
    /// memory they take is at most this. A session whose buffer would take the total past it
    /// ends at once (its disconnect handler runs), and a resume gets a new session: newer
    /// sessions are refused rather than older ones displaced, so a client that connects and
    /// drops in a loop cannot push out the others. Default 1 GiB; raise it for large rooms
    /// with busy broadcasts and long windows.
    pub max_detached_bytes: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        let window = Duration::from_secs(120);
        Self {
            window,
            presence_grace: window,
            buffer: ReplayLimits::default(),
            max_detached: 10_000,
            max_detached_per_source: 256,
            max_detached_bytes: 1 << 30,
        }
    }
}

/// The bounds of a buffer of reliable events kept for replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayLimits {
    /// Events held. Default 1,024.
    pub max_events: usize,
    /// Bytes held. Default 4 MiB.
    pub max_bytes: usize,
    /// The oldest event held. Default 2 min.
    pub max_age: Duration,
}

impl Default for ReplayLimits {
    fn default() -> Self {
        Self {
            max_events: 1024,
            max_bytes: 4 << 20,
            max_age: Duration::from_secs(120),
        }
    }
}

/// When and how often a client reconnects after its connection dropped, modelled on
/// socket.io's defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// The first delay. Default 1 s.
    pub delay: Duration,
    /// The longest delay; each attempt doubles the last one up to it. Default 5 s.
    pub max_delay: Duration,
    /// How far each delay is randomised either way, from 0 to 1. Default 0.5.
    pub randomization: f64,
    /// Attempts before giving up; `None` never gives up. Default `None`.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            randomization: 0.5,
            max_attempts: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            max_rooms_per_socket: 128,
            max_connections: connections_for_descriptors(open_file_limit()),
            max_connections_per_source: 10_000,
            max_handshakes_per_source: 256,
            max_buffered_bytes_total: 64 << 20,
            default_ack_timeout: Duration::from_secs(30),
            recovery: Some(RecoveryConfig::default()),
            rate_limit: Some(RateLimit::default()),
            presence: PresenceLimits::default(),
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
    /// Reconnecting after a drop; `None` leaves the client closed. Only clients connected
    /// through a [`Connector`](crate::transport::Connector) reconnect.
    pub reconnect: Option<ReconnectConfig>,
    /// The bounds of the buffer of this client's reliable events, replayed on a resume, and
    /// of the events emitted while disconnected (the offline buffer).
    pub buffer: ReplayLimits,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default(),
            handshake_timeout: Duration::from_secs(10),
            default_ack_timeout: Duration::from_secs(30),
            reconnect: Some(ReconnectConfig::default()),
            buffer: ReplayLimits::default(),
        }
    }
}

/// The most connections a server takes by default, given the process's open-file limit.
fn connections_for_descriptors(limit: Option<u64>) -> usize {
    const CEILING: usize = 100_000;
    limit.map_or(CEILING, |files| {
        let files = usize::try_from(files).unwrap_or(usize::MAX);
        (files - files / 8).clamp(64, CEILING)
    })
}

/// The soft `RLIMIT_NOFILE`, where the OS tells it (Linux's `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_connections_leave_an_eighth_of_the_descriptors_and_stay_bounded() {
        assert_eq!(connections_for_descriptors(Some(20_000)), 17_500);
        assert_eq!(connections_for_descriptors(Some(1024)), 896);
        assert_eq!(connections_for_descriptors(Some(10)), 64);
        assert_eq!(connections_for_descriptors(Some(u64::MAX)), 100_000);
        assert_eq!(connections_for_descriptors(None), 100_000);
    }

    #[test]
    fn the_open_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|files| files > 0));
        }
    }
}
