//! Resource limits of the QUIC endpoint, each with a safe default.

use std::time::Duration;

use wtransport::config::QuicTransportConfig;
use wtransport::quinn::VarInt;

/// Limits and timings of a QUIC endpoint, server or client.
///
/// quinn's defaults leave the connection-level receive window unbounded and let a peer open
/// 100 streams it never reads; these defaults bound both. Windows are limits, not
/// allocations: an idle session costs well under them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QuicLimits {
    /// Bytes a peer may have in flight towards us on one connection. Default 4 MiB.
    pub receive_window: u32,
    /// Bytes a peer may have in flight on one stream. Default 2 MiB, above the largest frame
    /// core accepts by default (1 MiB), so one frame never waits on a window update.
    pub stream_receive_window: u32,
    /// Bytes we may have in flight towards a peer on one connection. Default 4 MiB.
    pub send_window: u64,
    /// Bidirectional streams a peer may have open at once: the WebTransport session's own
    /// CONNECT stream and quicket's reliable stream need two, the minimum. Default 2.
    pub max_bidi_streams: u32,
    /// Unidirectional streams a peer may have open at once; HTTP/3 needs three of its own.
    /// quinn keeps state for every stream a peer may open, so each one costs an idle session
    /// memory. Default 4.
    pub max_uni_streams: u32,
    /// A connection with no packet for this long is dropped. Default 30 s.
    pub idle_timeout: Duration,
    /// How often QUIC pings an idle connection to keep it (and NAT bindings) alive.
    /// Default 10 s.
    pub keep_alive: Duration,
    /// Connections allowed between the first packet and an established WebTransport session;
    /// more are refused at once. Default 256.
    pub max_pending_handshakes: usize,
    /// How long the QUIC and WebTransport handshakes may take together. Default 10 s.
    pub handshake_timeout: Duration,
    /// The UDP socket's send and receive buffers. Default 8 MiB: with the OS default, parallel
    /// handshakes lose packets and wait a full second for quinn's retransmit.
    pub udp_buffer_size: usize,
    /// Bytes of received datagrams buffered before the oldest are dropped. Default 1 MiB.
    pub datagram_buffer_size: usize,
    /// How long a closing connection waits for its last frames to be acknowledged. Default
    /// 1 s.
    pub close_timeout: Duration,
}

impl Default for QuicLimits {
    fn default() -> Self {
        Self {
            receive_window: 4 << 20,
            stream_receive_window: 2 << 20,
            send_window: 4 << 20,
            max_bidi_streams: 2,
            max_uni_streams: 4,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            max_pending_handshakes: 256,
            handshake_timeout: Duration::from_secs(10),
            udp_buffer_size: 8 << 20,
            datagram_buffer_size: 1 << 20,
            close_timeout: Duration::from_secs(1),
        }
    }
}

impl QuicLimits {
    /// quinn's transport configuration for these limits.
    pub(crate) fn transport_config(&self) -> QuicTransportConfig {
        let mut config = QuicTransportConfig::default();
        config
            .receive_window(VarInt::from_u32(self.receive_window))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .send_window(self.send_window)
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_bidi_streams.max(2)))
            .max_concurrent_uni_streams(VarInt::from_u32(self.max_uni_streams.max(3)))
            // Never `None`: wtransport panics sending datagrams on a connection without them.
            .datagram_receive_buffer_size(Some(self.datagram_buffer_size.max(1500)))
            .datagram_send_buffer_size(self.datagram_buffer_size.max(1500))
            .keep_alive_interval(Some(self.keep_alive));
        if let Ok(idle) = self.idle_timeout.try_into() {
            config.max_idle_timeout(Some(idle));
        }
        config
    }
}
