//! Resource limits of the QUIC endpoint, each with a safe default.

use std::sync::Arc;
use std::time::Duration;

use wtransport::config::QuicTransportConfig;
use wtransport::quinn::congestion::{BbrConfig, CubicConfig, NewRenoConfig};
use wtransport::quinn::{AckFrequencyConfig, VarInt};

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
    /// memory. On a client, the rest are the channels it offers (PROTOCOL.md section 2.2).
    /// Default 4; 119 in [`QuicLimits::client`], room for 16 channels and 100 single-frame
    /// streams at once (PROTOCOL.md sections 2.2 and 2.3).
    pub max_uni_streams: u32,
    /// A connection with no packet for this long is dropped. Default 30 s.
    pub idle_timeout: Duration,
    /// How often QUIC pings an idle connection to keep it (and NAT bindings) alive.
    /// Default 10 s; 1 s in [`QuicLimits::client`].
    pub keep_alive: Duration,
    /// Connections allowed between the first packet and an established WebTransport session;
    /// more are refused at once. Default 256.
    pub max_pending_handshakes: usize,
    /// Of those, how many one source address (an IPv4 address, an IPv6 /64) may have. The
    /// Initial of one more from it is dropped unanswered, so a client behind a busy address
    /// (an IoT gateway, a NAT) retransmits it and gets in a moment later. Default 32.
    pub max_handshakes_per_source: usize,
    /// Once this many handshakes are in flight, a client whose address is not yet validated
    /// gets a QUIC Retry first: it must echo a token from that address, which a flood of
    /// Initials from spoofed or unanswering addresses never does, so it holds no slot. Costs
    /// such a client one round trip. 0 validates every client. Default 64.
    pub retry_above: usize,
    /// How long the QUIC and WebTransport handshakes may take together. Default 10 s.
    pub handshake_timeout: Duration,
    /// The UDP socket's send and receive buffers. Default 8 MiB: with the OS default, parallel
    /// handshakes lose packets and wait a full second for quinn's retransmit.
    pub udp_buffer_size: usize,
    /// Bytes of received datagrams buffered before the oldest are dropped. Default 1 MiB.
    pub datagram_buffer_size: usize,
    /// The largest datagram taken from the peer, in bytes of quicket frame; larger ones are
    /// discarded unread. Default 1,200 on a server, which is what `quicket::serve` advertises
    /// in discovery (`maxDatagramSize`, PROTOCOL.md section 2); no limit in
    /// [`QuicLimits::client`], which takes what its server's path allows.
    pub max_incoming_datagram: usize,
    /// How long closing a connection we cut (a slow consumer, a protocol error, a flood, a
    /// refused handshake) waits for our last frames, the `Disconnect` or `Reject` among them,
    /// to be acknowledged. Default 1 s.
    pub close_timeout: Duration,
    /// How long a polite close (a disconnect by either side, a server shutdown) waits in all
    /// for the peer to acknowledge our last frames, read our goodbye and close first. Closing
    /// earlier makes the peer's QUIC stack discard what its application has not read yet,
    /// the events before the goodbye included, and a busy peer (a server shutting down under
    /// load, a device short of CPU) can take seconds to get there. Costs nothing once the
    /// peer closes. Default 5 s.
    pub goodbye_linger: Duration,
    /// How this endpoint paces what it sends. Default [`CongestionControl::Cubic`].
    pub congestion: CongestionControl,
    /// The longest the peer may wait before acknowledging what we send, asked of it through
    /// QUIC's ACK frequency extension where the peer supports it (quinn does; a browser that
    /// does not keeps its own 25 ms). A lost packet with nothing sent after it is found lost
    /// after about one RTT plus this delay, so it bounds the stall each loss causes: with
    /// QUIC's usual 25 ms, one lost packet costs a realtime event 25 ms. Default 2 ms.
    pub max_ack_delay: Duration,
}

quicket_core::setters!(QuicLimits {
    receive_window: u32,
    stream_receive_window: u32,
    send_window: u64,
    max_bidi_streams: u32,
    max_uni_streams: u32,
    idle_timeout: Duration,
    keep_alive: Duration,
    max_pending_handshakes: usize,
    max_handshakes_per_source: usize,
    retry_above: usize,
    handshake_timeout: Duration,
    udp_buffer_size: usize,
    datagram_buffer_size: usize,
    max_incoming_datagram: usize,
    close_timeout: Duration,
    goodbye_linger: Duration,
    congestion: CongestionControl,
    max_ack_delay: Duration,
});

/// The congestion controller of a QUIC endpoint: how fast it sends, and how it backs off when
/// packets are lost. Each side chooses for what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CongestionControl {
    /// CUBIC (RFC 9438), the default of Linux TCP and of quinn.
    #[default]
    Cubic,
    /// NewReno (RFC 9002's reference controller): halves its window on each loss.
    NewReno,
    /// BBR (quinn's experimental implementation): paces by the measured bandwidth and RTT,
    /// so random loss that is not congestion does not shrink its window.
    Bbr,
}

impl CongestionControl {
    /// Every controller, for benchmarks and command lines.
    pub const ALL: [CongestionControl; 3] = [Self::Cubic, Self::NewReno, Self::Bbr];

    /// Its lowercase name: `cubic`, `newreno` or `bbr`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cubic => "cubic",
            Self::NewReno => "newreno",
            Self::Bbr => "bbr",
        }
    }

    /// The controller of that [name](Self::name), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|cc| cc.name() == name)
    }
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
            max_handshakes_per_source: 32,
            retry_above: 64,
            handshake_timeout: Duration::from_secs(10),
            udp_buffer_size: 8 << 20,
            datagram_buffer_size: 1 << 20,
            max_incoming_datagram: 1200,
            close_timeout: Duration::from_secs(1),
            goodbye_linger: Duration::from_secs(5),
            congestion: CongestionControl::default(),
            max_ack_delay: Duration::from_millis(2),
        }
    }
}

impl QuicLimits {
    /// The defaults for a client ([`QuicConnector::new`](crate::QuicConnector::new) uses
    /// them): as [`QuicLimits::default`], but pinging after 1 s of silence. When a NAT rebinds
    /// a client's port, the server follows the client to its new address on the next packet
    /// it receives from there; the server's own packets still go to the old address and are
    /// lost. A client with nothing to send would leave everything sent to it waiting for its
    /// next keep-alive, so that interval bounds the stall. A ping is one small packet a second
    /// from each idle client; the server keeps its 10 s. It also takes datagrams of any size
    /// its server's path carries.
    pub fn client() -> Self {
        Self {
            keep_alive: Duration::from_secs(1),
            // HTTP/3's three, and one per channel the server may open (core offers 16).
            max_uni_streams: 3 + 16 + 100,
            max_incoming_datagram: usize::MAX,
            ..Self::default()
        }
    }

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
        let mut ack_frequency = AckFrequencyConfig::default();
        ack_frequency.max_ack_delay(Some(self.max_ack_delay));
        config.ack_frequency_config(Some(ack_frequency));
        match self.congestion {
            CongestionControl::Cubic => {
                config.congestion_controller_factory(Arc::new(CubicConfig::default()))
            }
            CongestionControl::NewReno => {
                config.congestion_controller_factory(Arc::new(NewRenoConfig::default()))
            }
            CongestionControl::Bbr => {
                config.congestion_controller_factory(Arc::new(BbrConfig::default()))
            }
        };
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_config_asks_the_peer_for_the_configured_ack_delay() {
        let limits = QuicLimits {
            max_ack_delay: Duration::from_millis(3),
            ..QuicLimits::default()
        };
        let config = format!("{:?}", limits.transport_config());
        assert!(
            config.contains("max_ack_delay: Some(3ms)"),
            "no ACK frequency request for 3 ms in {config}"
        );
    }

    #[test]
    fn congestion_controllers_round_trip_through_their_names() {
        for congestion in CongestionControl::ALL {
            assert_eq!(
                CongestionControl::from_name(congestion.name()),
                Some(congestion)
            );
        }
        assert_eq!(CongestionControl::from_name("vegas"), None);
    }
}
