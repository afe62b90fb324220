//! The client's connection supervisor: drives a connection, and after a drop dials again with
//! backoff and resumes the session (PROTOCOL.md section 10.6).

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use quicket_proto::{DisconnectReason, Frame, PresenceSubscribe, RejectReason, Resume, Welcome};
use tokio::sync::watch;

use super::presence::PresenceFeed;
use super::{Client, Dial};
use crate::config::ReconnectConfig;
use crate::endpoint::Link;
use crate::endpoint::backlog::ByteBudget;
use crate::endpoint::close::Close;
use crate::endpoint::driver::{Heartbeat, drive};
use crate::error::ConnectError;
use crate::transport::{Connection, Connector, FrameReader, FrameWriter, TransportError};

/// What happens while a client reconnects, for [`ClientBuilder::on_reconnect`].
///
/// [`ClientBuilder::on_reconnect`]: super::ClientBuilder::on_reconnect
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconnectEvent {
    /// The connection dropped, or the last attempt failed: attempt `attempt` starts after
    /// `delay`. Emits go to the offline buffer meanwhile.
    Reconnecting {
        /// Counts from one after each drop.
        attempt: u32,
        /// The wait before dialing.
        delay: Duration,
        /// Why the connection dropped.
        reason: DisconnectReason,
    },
    /// A new connection is up. With `recovered`, the session is the same (id, rooms, and every
    /// reliable event both ways); without it, the server started a new session and only the
    /// offline buffer was sent.
    Reconnected {
        /// Whether the server resumed the session.
        recovered: bool,
        /// This client's reliable events that the server never handled and that were no
        /// longer buffered for a resend: lost. Zero unless the buffer overflowed.
        lost: u64,
    },
    /// Every allowed attempt failed, or the server refused the client: it stays closed.
    Failed {
        /// How many attempts were made.
        attempts: u32,
    },
}

/// A connection that completed its handshake, before its driver runs.
pub(super) struct Attached<R, W> {
    pub(super) reader: R,
    pub(super) writer: W,
    pub(super) welcome: Welcome,
    pub(super) link: Link,
}

/// The connector of a client that was handed a connection and cannot dial again.
pub(super) struct NoRedial<C>(PhantomData<fn() -> C>);

impl<C: Connection> Connector for NoRedial<C> {
    type Connection = C;

    async fn connect(&self) -> Result<C, TransportError> {
        Err(TransportError::Closed)
    }
}

/// Drives the client's connections until it is closed for good.
pub(super) async fn run<C: Connection, K: Connector>(
    client: Client,
    dial: Dial,
    first: Attached<C::Reader, C::Writer>,
    redial: Option<K>,
    closed: watch::Sender<Option<DisconnectReason>>,
) {
    let mut close = drive_one(&client, first).await;
    let config = dial.config.reconnect.clone();
    while let (Some(connector), Some(config)) = (&redial, &config) {
        if !should_reconnect(close.reason) || client.inner.user.strong_count() == 0 {
            break;
        }
        client.inner.core.outbox.detach();
        let Some(attached) = reconnect(&client, &dial, connector, config, close.reason).await
        else {
            break;
        };
        client.resume(&attached.welcome, attached.link.clone());
        close = drive_one(&client, attached).await;
    }
    let core = &client.inner.core;
    // An application's close stands; a broken transport's gives way to what the driver
    // learned after it (the peer's goodbye, read once the write failed).
    if let Some(requested) = core.outbox.close_state().filter(|c| !c.is_recoverable()) {
        close = requested;
    }
    core.outbox.close(close.clone());
    core.outbox.end_session();
    core.acks.close();
    tracing::debug!(reason = %close.reason, message = %close.message, "client closed");
    client.presence().clear();
    // Handlers may hold clones of the client; dropping them breaks the cycle.
    client.inner.handlers.clear();
    closed.send_replace(Some(close.reason));
}

async fn drive_one<R: FrameReader, W: FrameWriter>(
    client: &Client,
    attached: Attached<R, W>,
) -> Close {
    let welcome = &attached.welcome;
    let heartbeat = Heartbeat {
        ping_every: None,
        ping_at_start: true,
        dead_after: Duration::from_millis(
            u64::from(welcome.ping_interval_ms) + u64::from(welcome.ping_timeout_ms),
        ),
    };
    drive(
        client.clone(),
        attached.reader,
        attached.writer,
        heartbeat,
        None,
        // A client has one connection: its own limits bound its backlog.
        Arc::new(ByteBudget::new(usize::MAX)),
    )
    .await
}

/// Whether to come back after a close: always, as socket.io does, unless an application
/// asked for it. After `ServerShutdown` the first attempt is immediate.
fn should_reconnect(reason: DisconnectReason) -> bool {
    !matches!(
        reason,
        DisconnectReason::ClientDisconnect | DisconnectReason::ServerDisconnect
    )
}

type Redialed<K> = Attached<
    <<K as Connector>::Connection as Connection>::Reader,
    <<K as Connector>::Connection as Connection>::Writer,
>;

/// Dials until a handshake succeeds, the attempts run out, or the application closes.
async fn reconnect<K: Connector>(
    client: &Client,
    dial: &Dial,
    connector: &K,
    config: &ReconnectConfig,
    reason: DisconnectReason,
) -> Option<Redialed<K>> {
    let core = &client.inner.core;
    let mut attempt = 0u32;
    loop {
        if config.max_attempts.is_some_and(|max| attempt >= max) {
            client.notify(&ReconnectEvent::Failed { attempts: attempt });
            return None;
        }
        attempt += 1;
        // A server going away is being replaced: come back at once, not after a backoff.
        let delay = if attempt == 1 && reason == DisconnectReason::ServerShutdown {
            Duration::ZERO
        } else {
            backoff(config, attempt)
        };
        client.notify(&ReconnectEvent::Reconnecting {
            attempt,
            delay,
            reason,
        });
        let dialed = redial::<K>(client, dial, connector, delay);
        let result = tokio::select! {
            result = dialed => result,
            () = core.outbox.close_requested() => return None,
        };
        match result {
            Ok(redialed) => return Some(redialed),
            Err(ConnectError::Rejected {
                reason: RejectReason::Unauthorized | RejectReason::UnsupportedVersion,
                message,
                ..
            }) => {
                tracing::debug!(%message, "reconnect refused; giving up");
                client.notify(&ReconnectEvent::Failed { attempts: attempt });
                return None;
            }
            Err(err) => tracing::debug!(%err, attempt, "reconnect attempt failed"),
        }
    }
}

/// One attempt after `delay`: connects and resumes the session with a handshake.
async fn redial<K: Connector>(
    client: &Client,
    dial: &Dial,
    connector: &K,
    delay: Duration,
) -> Result<Redialed<K>, ConnectError> {
    tokio::time::sleep(delay).await;
    let connection = connector.connect().await?;
    dial.attach(connection, client.resume_request()).await
}

/// socket.io's backoff: `delay * 2^(attempt-1)`, capped, then randomised by ± `randomization`.
fn backoff(config: &ReconnectConfig, attempt: u32) -> Duration {
    let base = config.delay.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = base.min(config.max_delay.as_secs_f64());
    let spread = config.randomization.clamp(0.0, 1.0);
    let jitter = 1.0 + spread * (2.0 * unit_random() - 1.0);
    Duration::from_secs_f64((capped * jitter).min(config.max_delay.as_secs_f64() * (1.0 + spread)))
}

/// A number in [0, 1) from the OS random source; 0.5 (no jitter) without one.
fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

impl Client {
    fn notify(&self, event: &ReconnectEvent) {
        if let Some(handler) = &self.inner.on_reconnect {
            handler(event);
        }
    }

    /// What to offer the server: the session's token and how many of its events were handled.
    fn resume_request(&self) -> Option<Resume> {
        let token = self.inner.session().token.clone();
        (!token.is_empty()).then(|| Resume {
            token,
            offset: self.inner.core.received.load(Ordering::Relaxed),
        })
    }

    /// Takes up the session the server's `Welcome` describes on a new connection.
    fn resume(&self, welcome: &Welcome, link: Link) {
        let core = &self.inner.core;
        core.relink(link);
        let lost = if welcome.recovered {
            core.outbox.resume(None, Some(welcome.offset), true)
        } else {
            core.received.store(0, Ordering::Relaxed);
            core.outbox.resume(None, None, false)
        }
        .unwrap_or(0);
        {
            let mut session = self.inner.session();
            session.id = welcome.sid;
            tracing::Span::current().record("sid", tracing::field::display(welcome.sid));
            session.token = welcome.session.clone();
            session.recovered = welcome.recovered;
        }
        // Presence subscriptions belong to the connection: ask again, and the fresh state
        // replaces the old one without a leave or join for keys that stayed.
        // Parts of a state the old connection did not complete are dropped with it.
        let rooms: Vec<String> = {
            let feeds = self.presence();
            feeds.values().for_each(PresenceFeed::drop_parts);
            feeds.keys().cloned().collect()
        };
        for room in rooms {
            let _closing = core.send_frame(&Frame::PresenceSubscribe(PresenceSubscribe { room }));
        }
        self.notify(&ReconnectEvent::Reconnected {
            recovered: welcome.recovered,
            lost,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_delay_up_to_the_cap_within_the_jitter() {
        let config = ReconnectConfig::default();
        for _ in 0..200 {
            let first = backoff(&config, 1).as_secs_f64();
            assert!((0.5..=1.5).contains(&first), "first delay {first}");
            let second = backoff(&config, 2).as_secs_f64();
            assert!((1.0..=3.0).contains(&second), "second delay {second}");
            let late = backoff(&config, 40).as_secs_f64();
            assert!((2.5..=7.5).contains(&late), "capped delay {late}");
        }
    }

    #[test]
    fn no_randomization_gives_the_exact_schedule() {
        let config = ReconnectConfig {
            randomization: 0.0,
            ..ReconnectConfig::default()
        };
        let delays: Vec<u64> = (1..=5)
            .map(|n| backoff(&config, n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
    }
}
