//! The conformance suite of quicket: the scenarios that every transport and every adapter
//! runs over its own wire, and the helpers their tests share (one [`within`], raw peers,
//! relays). A dev-dependency; nothing here ships in an application.
//!
//! A transport author implements [`Harness`] (a fresh listener and a connector to it) and
//! generates one test per scenario with [`conformance_tests!`]; an adapter author returns a
//! server builder with the adapter plugged in from [`Harness::builder`]:
//!
//! ```text
//! struct Quic;
//! impl quicket_testkit::Harness for Quic { /* a listener and a connector on loopback */ }
//! quicket_testkit::conformance_tests!(Quic);
//! ```
//!
//! A scenario is any `pub async fn name<H: Harness>(harness: &H)` of the kit. The macro lists
//! them by name, and this crate's own test reads the kit's sources and fails naming any
//! scenario the macro does not run, so a new one cannot be forgotten.
//!
//! A scenario panics when the behaviour it names is broken: it is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod channels;
mod classes;
mod events;
mod lifecycle;
mod limits;
mod presence;
mod raw;
mod recovery;
mod recovery_presence;
pub mod redis_cluster;
mod rooms;
mod sessions;
pub mod tcp_relay;
pub mod udp_relay;

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

pub use self::channels::*;
pub use self::classes::*;
pub use self::events::*;
pub use self::lifecycle::*;
pub use self::limits::*;
pub use self::presence::*;
pub use self::raw::RawPeer;
pub use self::recovery::*;
pub use self::recovery_presence::*;
pub use self::rooms::*;
pub use self::sessions::*;
use quicket_core::transport::{Connector, Listener};
use quicket_core::{Client, ClientBuilder, Data, Server, ServerBuilder, Socket};

/// A transport under test: a fresh listener and a connector that reaches it.
pub trait Harness: Send + Sync + 'static {
    /// The server side.
    type Listener: Listener;
    /// The client side.
    type Connector: Connector + Clone;

    /// A listener on a fresh port and a connector to it.
    fn pair(&self) -> impl Future<Output = (Self::Listener, Self::Connector)> + Send;

    /// A server builder for one scenario's server. `Server::builder()` by default; a cluster
    /// adapter's harness plugs a fresh node's adapter in here.
    fn builder(&self) -> impl Future<Output = ServerBuilder> + Send {
        std::future::ready(Server::builder())
    }
}

/// Every scenario gets this long before it fails as a hang.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<F: std::future::IntoFuture>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A server on `config` whose clients' `ping` is acked with `"pong"`: the smallest proof that
/// a connection carries events both ways, for tests about everything around it.
pub fn pong_server(config: quicket_core::ServerConfig) -> Server {
    Server::builder()
        .config(config)
        .on_connect(|socket: Socket| async move {
            socket.on("ping", |ack: quicket_core::AckSender| async move {
                ack.send("pong").unwrap();
            });
        })
        .build()
}

/// A running server with a channel of its new sockets.
pub struct TestServer<H: Harness> {
    /// The server.
    pub server: Server,
    /// Reaches the server's listener.
    pub connector: H::Connector,
    /// Each new socket, once its connect handler has run.
    pub sockets: mpsc::Receiver<Socket>,
}

impl<H: Harness> TestServer<H> {
    /// Starts `builder` on the harness; `on_connect` runs before the socket is reported.
    pub async fn start<F, Fut>(harness: &H, builder: ServerBuilder, on_connect: F) -> Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, sockets) = mpsc::channel(256);
        let server = builder
            .on_connect(move |socket: Socket| {
                let tx = tx.clone();
                let setup = on_connect(socket.clone());
                async move {
                    setup.await;
                    let _ = tx.send(socket).await;
                }
            })
            .build();
        let (listener, connector) = harness.pair().await;
        server.listen(listener);
        Self {
            server,
            connector,
            sockets,
        }
    }

    /// Connects a client built by `builder`, and returns it with its server-side socket.
    pub async fn connect_with(&mut self, builder: ClientBuilder) -> (Client, Socket) {
        let client = within("connect", builder.connect(&self.connector))
            .await
            .expect("connects");
        let socket = self.next_socket().await;
        assert_eq!(
            client.id(),
            socket.id(),
            "client and server agree on the socket id"
        );
        assert_eq!(
            client.transport(),
            socket.transport(),
            "both ends name the same transport"
        );
        assert_eq!(
            client.codec(),
            socket.codec(),
            "both ends use the negotiated codec"
        );
        (client, socket)
    }

    /// Connects a default client.
    pub async fn connect(&mut self) -> (Client, Socket) {
        self.connect_with(Client::builder()).await
    }

    /// The next socket the server reports.
    pub async fn next_socket(&mut self) -> Socket {
        within("a server-side socket", self.sockets.recv())
            .await
            .expect("server is running")
    }

    /// Opens a raw connection that speaks frames by hand.
    pub async fn raw(&self) -> RawPeer<<H::Connector as Connector>::Connection> {
        let connection = within("raw connect", self.connector.connect())
            .await
            .expect("raw connect");
        RawPeer::new(connection)
    }
}

/// A client that stays closed after its connection ends, for scenarios about the end itself.
pub fn once_only() -> ClientBuilder {
    Client::builder().config(quicket_core::ClientConfig::default().reconnect(None))
}

/// Collects the string payloads of `event` as `client` receives them, in arrival order: the
/// handler records before its first await, which runs before the next event is read.
pub fn collect(client: &Client, event: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(1 << 16);
    client.on(event, move |Data(text): Data<String>| {
        tx.try_send(text).expect("the test reads its inbox");
        async {}
    });
    rx
}

/// Receives the next item, failing on a hang.
pub async fn next<T>(rx: &mut mpsc::Receiver<T>, what: &str) -> T {
    within(what, rx.recv())
        .await
        .unwrap_or_else(|| panic!("channel closed waiting for {what}"))
}

/// A server whose sockets report their disconnect reasons, with `setup` run on each.
pub async fn reporting_disconnects<H: Harness>(
    harness: &H,
    builder: ServerBuilder,
    setup: impl Fn(&Socket) + Send + Sync + 'static,
) -> (
    TestServer<H>,
    mpsc::Receiver<quicket_core::DisconnectReason>,
) {
    let (reasons_tx, reasons) = mpsc::channel(8);
    let t = TestServer::start(harness, builder, move |s: Socket| {
        disconnect_reasons(&s, &reasons_tx);
        setup(&s);
        async {}
    })
    .await;
    (t, reasons)
}

/// Reports each disconnect reason of the sockets it is installed on.
pub fn disconnect_reasons(socket: &Socket, tx: &mpsc::Sender<quicket_core::DisconnectReason>) {
    let tx = tx.clone();
    socket.on_disconnect(move |_socket, reason| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(reason).await;
        }
    });
}

/// Generates one `#[tokio::test]` per conformance scenario for a [`Harness`] value.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            ack_roundtrip, json_codec_roundtrip, raw_payload_passes_through, binary_payload_round_trips,
            server_emit_reaches_client,
            unknown_event_gets_ack_error, unacknowledging_handler_gets_ack_error,
            invalid_payload_gets_ack_error_and_connection_survives, handler_panic_is_contained,
            ack_timeout, volatile_emits_arrive_when_idle, catch_all_handler,
            broadcast_operators, rooms_join_leave_and_listing, broadcast_with_acks_collects_and_times_out,
            server_operators_join_and_disconnect,
            presence_snapshot_and_multi_device_diffs, presence_refused_outside_room,
            presence_cleaned_when_socket_leaves_room, presence_subscribe_waits_for_the_connect_handler,
            presence_state_larger_than_a_frame_arrives_whole, presence_counts_only_room_sends_counts,
            auth_rejection_reaches_client, handshake_timeout_closes, bad_handshake_is_rejected,
            disconnect_reasons_reach_both_sides, heartbeat_drops_silent_client, client_drops_silent_server,
            rtt_is_measured, client_rtt_is_known_right_after_connecting, shutdown_disconnects_everyone,
            malformed_frame_closes_only_that_connection, oversized_frame_closes_with_reason,
            emit_larger_than_peer_limit_is_typed_error, event_name_limit, max_rooms_per_socket,
            max_pending_acks, slow_consumer_is_cut_without_stalling_the_room,
            volatile_frames_are_dropped_not_queued, handler_concurrency_is_bounded,
            volatile_uses_datagrams_when_they_fit, server_full_is_refused, events_are_handled_in_arrival_order,
            dropping_the_last_client_handle_disconnects, presence_resubscribe_after_unsubscribe,
            sequence_survives_server_side_drops, expired_session_starts_fresh,
            recovered_drop_has_no_presence_flicker, offline_buffer_flushes_in_order,
            shutdown_under_load_loses_nothing, resume_needs_the_sessions_own_token,
            presence_grace_can_be_shorter_than_the_window, resume_after_the_grace_tracks_presence_again,
            connect_handler_outlives_an_early_drop, connected_client_is_in_the_rooms_its_handler_joined,
            unending_connect_handler_ends_with_its_session,
            each_room_keeps_its_order_across_drops, channels_are_granted_within_the_offer,
            every_class_reaches_the_client, client_sequenced_emits_never_go_backwards,
            the_server_drops_stale_sequenced_values, a_peer_without_classes_gets_plain_events
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::$name(&$harness).await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every module's source, as the kit is built from them.
    const SOURCES: [&str; 14] = [
        include_str!("lib.rs"),
        include_str!("channels.rs"),
        include_str!("classes.rs"),
        include_str!("events.rs"),
        include_str!("lifecycle.rs"),
        include_str!("limits.rs"),
        include_str!("presence.rs"),
        include_str!("recovery.rs"),
        include_str!("recovery_presence.rs"),
        include_str!("rooms.rs"),
        include_str!("sessions.rs"),
        include_str!("raw.rs"),
        include_str!("udp_relay.rs"),
        include_str!("tcp_relay.rs"),
    ];

    /// Every `pub async fn name<H: Harness>(harness: &H)` of the kit: a scenario.
    fn scenarios() -> Vec<String> {
        SOURCES
            .iter()
            .flat_map(|source| source.lines())
            .filter_map(|line| line.trim().strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split_once("<H: Harness>(harness: &H)"))
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The names `conformance_tests!` runs, read from its definition.
    fn listed() -> Vec<String> {
        let source = include_str!("lib.rs");
        let start = source
            .find("(@each $harness;\n")
            .expect("the macro lists its scenarios");
        let list = &source[start..];
        let end = list.find(");").expect("the list ends");
        list["(@each $harness;\n".len()..end]
            .split(',')
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect()
    }

    #[test]
    fn every_scenario_is_run_by_the_macro_once() {
        let listed = listed();
        let missing: Vec<String> = scenarios()
            .into_iter()
            .filter(|name| !listed.contains(name))
            .collect();
        assert!(
            missing.is_empty(),
            "conformance_tests! does not run {missing:?}"
        );
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), listed.len(), "a scenario is listed twice");
    }
}
