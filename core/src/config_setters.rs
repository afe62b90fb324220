//! Chainable setters for every configuration field, so that a configuration reads as one
//! expression: `ServerConfig::default().ping_interval(secs(10)).max_rooms_per_socket(16)`.
//! Each field stays public for pattern matching and reading; the setter only assigns it.

use std::time::Duration;

use crate::config::{
    ClientConfig, ConnectionLimits, PresenceLimits, RateExceeded, RateLimit, ReconnectConfig,
    RecoveryConfig, ReplayLimits, ServerConfig,
};

/// One `pub fn field(self, value) -> Self` per listed field, documented by a link to it. The
/// transports and adapters give their configurations the same setters with it.
#[doc(hidden)]
#[macro_export]
macro_rules! setters {
    ($type:ty { $($field:ident: $value:ty),* $(,)? }) => {
        impl $type {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $field(mut self, value: $value) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters!(ServerConfig {
    limits: ConnectionLimits,
    ping_interval: Duration,
    ping_timeout: Duration,
    handshake_timeout: Duration,
    max_rooms_per_socket: usize,
    max_connections: usize,
    max_connections_per_source: usize,
    max_handshakes_per_source: usize,
    max_buffered_bytes_total: usize,
    default_ack_timeout: Duration,
    recovery: Option<RecoveryConfig>,
    rate_limit: Option<RateLimit>,
    presence: PresenceLimits,
});

setters!(ConnectionLimits {
    max_frame_size: usize,
    max_event_name_len: usize,
    max_pending_acks: usize,
    max_concurrent_handlers: usize,
    max_buffered_events: usize,
    max_buffered_bytes: usize,
    backlog_timeout: Duration,
    max_queued_frames: usize,
    max_queued_bytes: usize,
    close_timeout: Duration,
    max_client_info_len: usize,
    max_auth_size: usize,
    max_channels: u16,
});

setters!(PresenceLimits {
    max_keys_per_socket: usize,
    max_metas_per_key: usize,
    max_keys_per_room: usize,
    max_meta_size: usize,
    diff_batch: Duration,
});

setters!(RateLimit {
    events_per_second: u32,
    event_burst: u32,
    bytes_per_second: u64,
    byte_burst: u64,
    exceeded: RateExceeded,
});

setters!(RecoveryConfig {
    window: Duration,
    presence_grace: Duration,
    buffer: ReplayLimits,
    max_detached: usize,
    max_detached_per_source: usize,
    max_detached_bytes: usize,
});

setters!(ReplayLimits {
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
});

setters!(ReconnectConfig {
    delay: Duration,
    max_delay: Duration,
    randomization: f64,
    max_attempts: Option<u32>,
});

setters!(ClientConfig {
    limits: ConnectionLimits,
    handshake_timeout: Duration,
    default_ack_timeout: Duration,
    reconnect: Option<ReconnectConfig>,
    buffer: ReplayLimits,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_reads_as_one_expression() {
        let config = ServerConfig::default()
            .ping_interval(Duration::from_secs(5))
            .recovery(Some(
                RecoveryConfig::default().window(Duration::from_secs(30)),
            ))
            .limits(ConnectionLimits::default().max_frame_size(64 << 10));
        assert_eq!(config.ping_interval, Duration::from_secs(5));
        assert_eq!(config.limits.max_frame_size, 64 << 10);
        assert_eq!(
            config.recovery.map(|recovery| recovery.window),
            Some(Duration::from_secs(30))
        );
    }
}
