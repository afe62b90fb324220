//! The client's connection supervisor: drives a connection, and after a drop dials again with
//! backoff and resumes the session (PROTOCOL.md section 10.6).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use quicket_proto::{DisconnectReason, Frame, PresenceSubscribe, Resume, Welcome};
use tokio::sync::watch;

use super::presence::PresenceFeed;
use super::retry::{NextAttempt, Retries, refused_for_good, should_reconnect, unit_random};
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
    /// The channels the server granted.
    pub(super) channels: u16,
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
        client.resume(&attached.welcome, attached.link.clone(), attached.channels);
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
    let mut retries = Retries::after(config, reason);
    loop {
        let (attempt, delay) = match retries.next(unit_random()) {
            NextAttempt::Dial { attempt, delay } => (attempt, delay),
            NextAttempt::GiveUp { attempts } => {
                client.notify(&ReconnectEvent::Failed { attempts });
                return None;
            }
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
            Err(err) if refused_for_good(&err) => {
                tracing::debug!(%err, "reconnect refused; giving up");
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
    let resume = client.resume_request();
    let offsets = match resume {
        Some(_) => client.inner.core.channel_offsets(),
        None => Vec::new(),
    };
    dial.attach(connection, resume, offsets).await
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
            offset: self.inner.core.events_received(),
        })
    }

    /// Takes up the session the server's `Welcome` describes on a new connection.
    fn resume(&self, welcome: &Welcome, link: Link, channels: u16) {
        let core = &self.inner.core;
        core.relink(link);
        // A session resumed where its channels cannot go on keeps channel 0 alone, and the
        // counts of the others as they were (PROTOCOL.md section 10.6).
        core.outbox.grant_channels(channels);
        let lost = if welcome.recovered {
            core.outbox.resume(None, Some(&[welcome.offset]), true)
        } else {
            core.reset_received();
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
