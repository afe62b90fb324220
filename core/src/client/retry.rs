//! When a client dials again after a drop, and when it gives up: a schedule with no I/O, no
//! clock and no randomness of its own (the jitter is handed in), so every rule is tested by
//! feeding it attempts.

use std::time::Duration;

use quicket_proto::{DisconnectReason, RejectReason};

use crate::config::ReconnectConfig;
use crate::error::ConnectError;

/// What to do next while reconnecting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum NextAttempt {
    /// Dial after `delay`; `attempt` counts from one after the drop.
    Dial { attempt: u32, delay: Duration },
    /// Every allowed attempt was made.
    GiveUp { attempts: u32 },
}

/// The attempts after one drop.
#[derive(Debug)]
pub(super) struct Retries<'a> {
    config: &'a ReconnectConfig,
    reason: DisconnectReason,
    made: u32,
}

impl<'a> Retries<'a> {
    /// The schedule after a connection dropped for `reason`.
    pub(super) fn after(config: &'a ReconnectConfig, reason: DisconnectReason) -> Self {
        Self {
            config,
            reason,
            made: 0,
        }
    }

    /// The attempt after the drop or the last failed one; `unit` is a number in [0, 1) that
    /// places the delay within its jitter (0.5 is none).
    pub(super) fn next(&mut self, unit: f64) -> NextAttempt {
        if self.config.max_attempts.is_some_and(|max| self.made >= max) {
            return NextAttempt::GiveUp {
                attempts: self.made,
            };
        }
        self.made += 1;
        // A server going away is being replaced: come back at once, not after a backoff.
        let delay = if self.made == 1 && self.reason == DisconnectReason::ServerShutdown {
            Duration::ZERO
        } else {
            backoff(self.config, self.made, unit)
        };
        NextAttempt::Dial {
            attempt: self.made,
            delay,
        }
    }
}

/// Whether to come back after a close: always, as socket.io does, unless an application
/// asked for it.
pub(super) fn should_reconnect(reason: DisconnectReason) -> bool {
    !matches!(
        reason,
        DisconnectReason::ClientDisconnect | DisconnectReason::ServerDisconnect
    )
}

/// Whether a failed attempt ends the reconnecting: the server refused this client, and would
/// refuse every later attempt the same way.
pub(super) fn refused_for_good(err: &ConnectError) -> bool {
    matches!(
        err,
        ConnectError::Rejected {
            reason: RejectReason::Unauthorized | RejectReason::UnsupportedVersion,
            ..
        }
    )
}

/// socket.io's backoff: `delay * 2^(attempt-1)`, capped, then moved by up to ± `randomization`
/// as `unit` (in [0, 1)) says.
fn backoff(config: &ReconnectConfig, attempt: u32, unit: f64) -> Duration {
    let base = config.delay.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = base.min(config.max_delay.as_secs_f64());
    let spread = config.randomization.clamp(0.0, 1.0);
    let jitter = 1.0 + spread * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    Duration::from_secs_f64((capped * jitter).min(config.max_delay.as_secs_f64() * (1.0 + spread)))
}

/// A number in [0, 1) from the OS random source; 0.5 (no jitter) without one.
pub(super) fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: f64 = 0.5;

    fn delays(retries: &mut Retries<'_>, count: usize, unit: f64) -> Vec<u64> {
        (0..count)
            .map(|_| match retries.next(unit) {
                NextAttempt::Dial { delay, .. } => delay.as_millis() as u64,
                NextAttempt::GiveUp { attempts } => panic!("gave up after {attempts}"),
            })
            .collect()
    }

    #[test]
    fn the_delay_doubles_from_one_second_to_the_five_second_cap() {
        let config = ReconnectConfig::default();
        let mut retries = Retries::after(&config, DisconnectReason::TransportClosed);
        assert_eq!(
            delays(&mut retries, 6, NO_JITTER),
            [1000, 2000, 4000, 5000, 5000, 5000]
        );
    }

    #[test]
    fn the_jitter_moves_each_delay_by_up_to_half_either_way() {
        let config = ReconnectConfig::default();
        let mut low = Retries::after(&config, DisconnectReason::TransportClosed);
        assert_eq!(delays(&mut low, 4, 0.0), [500, 1000, 2000, 2500]);
        let mut high = Retries::after(&config, DisconnectReason::TransportClosed);
        // Just under 1.5×: `unit` stays below one.
        let delays = delays(&mut high, 4, 0.999_999);
        for (got, max) in delays.iter().zip([1500, 3000, 6000, 7500]) {
            assert!((max - 1..=max).contains(got), "{got} for at most {max}");
        }
    }

    #[test]
    fn the_attempts_run_out_at_the_configured_count() {
        let config = ReconnectConfig {
            max_attempts: Some(3),
            ..ReconnectConfig::default()
        };
        let mut retries = Retries::after(&config, DisconnectReason::PingTimeout);
        for attempt in 1..=3 {
            assert!(matches!(
                retries.next(NO_JITTER),
                NextAttempt::Dial { attempt: a, .. } if a == attempt
            ));
        }
        assert_eq!(retries.next(NO_JITTER), NextAttempt::GiveUp { attempts: 3 });
        assert_eq!(
            retries.next(NO_JITTER),
            NextAttempt::GiveUp { attempts: 3 },
            "and stays given up"
        );
    }

    #[test]
    fn no_attempt_at_all_when_none_are_allowed() {
        let config = ReconnectConfig {
            max_attempts: Some(0),
            ..ReconnectConfig::default()
        };
        let mut retries = Retries::after(&config, DisconnectReason::TransportClosed);
        assert_eq!(retries.next(NO_JITTER), NextAttempt::GiveUp { attempts: 0 });
    }

    #[test]
    fn after_a_server_shutdown_the_first_attempt_is_at_once_then_the_backoff() {
        let config = ReconnectConfig::default();
        let mut retries = Retries::after(&config, DisconnectReason::ServerShutdown);
        assert_eq!(delays(&mut retries, 3, NO_JITTER), [0, 2000, 4000]);
    }

    #[test]
    fn only_a_close_someone_asked_for_ends_the_client() {
        for reason in [
            DisconnectReason::ClientDisconnect,
            DisconnectReason::ServerDisconnect,
        ] {
            assert!(!should_reconnect(reason), "{reason:?}");
        }
        for reason in [
            DisconnectReason::TransportClosed,
            DisconnectReason::PingTimeout,
            DisconnectReason::ServerShutdown,
            DisconnectReason::Flooding,
        ] {
            assert!(should_reconnect(reason), "{reason:?}");
        }
    }

    #[test]
    fn only_a_refusal_the_next_attempt_would_meet_again_stops_the_attempts() {
        let rejected = |reason| ConnectError::Rejected {
            reason,
            message: String::new(),
            data: bytes::Bytes::new(),
        };
        assert!(refused_for_good(&rejected(RejectReason::Unauthorized)));
        assert!(refused_for_good(&rejected(
            RejectReason::UnsupportedVersion
        )));
        assert!(!refused_for_good(&rejected(RejectReason::ServerFull)));
        assert!(!refused_for_good(&ConnectError::Timeout(
            Duration::from_secs(1)
        )));
    }
}
