//! What the server records through the `metrics` facade, counted exactly on the in-memory
//! transport: a recorder of this test's own is the process's global one, so every check lives
//! in the one test function. The runtime has one thread: a handler that does not await has
//! finished, and been timed, by the time its effect reaches the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{
    AckError, AckSender, Client, ClientConfig, ConnectError, ConnectionLimits, Data,
    DisconnectReason, EmitError, RateLimit, ReconnectConfig, ReconnectEvent, Rejection, Server,
    ServerConfig, Socket,
};
use quicket_testkit::within;
use tokio::sync::mpsc;

/// One series: a counter, a gauge or a histogram, whichever its metric is.
#[derive(Default)]
struct Series {
    count: AtomicU64,
    gauge: Mutex<f64>,
    samples: Mutex<Vec<f64>>,
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.count.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.count.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        *self.gauge.lock().unwrap() += value;
    }

    fn decrement(&self, value: f64) {
        *self.gauge.lock().unwrap() -= value;
    }

    fn set(&self, value: f64) {
        *self.gauge.lock().unwrap() = value;
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.samples.lock().unwrap().push(value);
    }
}

/// Every series by `name{label=value,...}`, labels in the order registered.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<HashMap<String, Arc<Series>>>>);

impl Recorded {
    fn series(&self, key: &Key) -> Arc<Series> {
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        let name = match labels.as_slice() {
            [] => key.name().to_owned(),
            labels => format!("{}{{{}}}", key.name(), labels.join(",")),
        };
        Arc::clone(self.0.lock().unwrap().entry(name).or_default())
    }

    fn get(&self, name: &str) -> Arc<Series> {
        let series = self.0.lock().unwrap().get(name).cloned();
        series.unwrap_or_else(|| panic!("{name} was never registered"))
    }

    fn count(&self, name: &str) -> u64 {
        self.get(name).count.load(Ordering::Relaxed)
    }

    fn gauge(&self, name: &str) -> f64 {
        *self.get(name).gauge.lock().unwrap()
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        self.get(name).samples.lock().unwrap().clone()
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

fn server(handled: mpsc::UnboundedSender<String>) -> Server {
    let ended = handled.clone();
    Server::builder()
        .auth(|handshake| async move {
            match handshake.auth::<String>() {
                Ok(word) if word == "nope" => Err(Rejection::new("no entry")),
                _ => Ok(()),
            }
        })
        .on_connect(move |socket: Socket| {
            let handled = handled.clone();
            let ended = ended.clone();
            async move {
                socket.join("room").unwrap();
                socket.on("plain", move |Data(n): Data<u32>| {
                    handled.send(format!("plain {n}")).unwrap();
                    async {}
                });
                socket.on("ack", |ack: AckSender| {
                    ack.send("ok").unwrap();
                    async {}
                });
                socket.on("shout", |socket: Socket| {
                    socket.to("room").emit("news", 1u8).unwrap();
                    async {}
                });
                socket.on_disconnect(move |_, _| {
                    ended.send("gone".to_owned()).unwrap();
                    async {}
                });
            }
        })
        .build()
}

#[tokio::test(flavor = "current_thread")]
async fn the_server_counts_connections_events_acks_and_sessions() {
    let recorded = Recorded::default();
    metrics::set_global_recorder(recorded.clone()).unwrap();
    let (handled_tx, mut handled) = mpsc::unbounded_channel();
    let server = server(handled_tx);
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);

    let reconnect = ReconnectConfig::default().delay(Duration::from_millis(10));
    let config = ClientConfig::default().reconnect(Some(reconnect));
    let (reconnects_tx, mut reconnects) = mpsc::unbounded_channel();
    let ada = Client::builder()
        .config(config)
        .on("ask", |ack: AckSender| async move {
            // Holds the ack unanswered until the connection goes.
            std::future::pending::<()>().await;
            drop(ack);
        })
        .on_reconnect(move |event| {
            if let ReconnectEvent::Reconnected { recovered, .. } = event {
                reconnects_tx.send(*recovered).unwrap();
            }
        })
        .connect(&connector)
        .await
        .unwrap();
    let (news_tx, mut news) = mpsc::unbounded_channel();
    let bob = Client::builder()
        .on("news", move |Data(n): Data<u8>| {
            news_tx.send(n).unwrap();
            async {}
        })
        .on("echo", |ack: AckSender| async move {
            ack.send(()).unwrap();
        })
        .connect(&connector)
        .await
        .unwrap();
    let refused = Client::builder().auth("nope").connect(&connector).await;
    assert!(matches!(refused, Err(ConnectError::Rejected { .. })));
    assert_eq!(
        recorded.count("quicket_connections_accepted_total{transport=memory}"),
        3
    );
    assert_eq!(
        recorded.gauge("quicket_connections_open{transport=memory}"),
        2.0
    );
    assert_eq!(
        recorded.count("quicket_handshakes_completed_total{transport=memory}"),
        2
    );
    assert_eq!(
        recorded.count("quicket_handshakes_refused_total{transport=memory,reason=Unauthorized}"),
        1
    );
    assert_eq!(recorded.gauge("quicket_sessions_attached"), 2.0);

    for n in 0..3u32 {
        ada.emit("plain", n).unwrap();
        assert_eq!(
            within("plain", handled.recv()).await.unwrap(),
            format!("plain {n}")
        );
    }
    for _ in 0..2 {
        let reply: String = within("ack", ada.emit_with_ack("ack", ())).await.unwrap();
        assert_eq!(reply, "ok");
    }
    ada.emit("shout", ()).unwrap();
    assert_eq!(within("news", news.recv()).await, Some(1));
    assert_eq!(recorded.count("quicket_events_in_total{class=reliable}"), 4);
    assert_eq!(recorded.count("quicket_events_in_total{class=ack}"), 2);
    assert!(recorded.count("quicket_event_bytes_in_total{class=reliable}") >= 4 * 5);
    assert_eq!(recorded.count("quicket_acks_sent_total{result=ok}"), 2);
    assert_eq!(
        recorded.count("quicket_events_out_total{class=reliable}"),
        1
    );
    assert_eq!(recorded.samples("quicket_broadcast_recipients"), [1.0]);
    let durations = recorded.samples("quicket_handler_duration_seconds");
    assert_eq!(durations.len(), 6, "every handled event is timed");
    assert!(
        durations
            .iter()
            .all(|seconds| (0.0..10.0).contains(seconds))
    );

    let on_server = |client: &Client| server.socket(client.id()).unwrap();
    let asked = on_server(&ada)
        .emit_with_ack::<()>("ask", ())
        .timeout(Duration::from_millis(50));
    assert!(matches!(
        within("ask", asked).await,
        Err(AckError::Timeout(_))
    ));
    assert_eq!(recorded.count("quicket_ack_timeouts_total"), 1);
    within("echo", on_server(&bob).emit_with_ack::<()>("echo", ()))
        .await
        .unwrap();
    assert_eq!(recorded.count("quicket_acks_received_total{result=ok}"), 1);
    assert_eq!(recorded.count("quicket_events_out_total{class=ack}"), 2);
    on_server(&bob).volatile().emit("news", 2u8).unwrap();
    assert_eq!(within("volatile news", news.recv()).await, Some(2));
    assert_eq!(
        recorded.count("quicket_events_out_total{class=volatile}"),
        1
    );

    on_server(&ada).drop_connection();
    assert_eq!(within("resume", reconnects.recv()).await, Some(true));
    assert_eq!(recorded.count("quicket_sessions_resumed_total"), 1);
    assert_eq!(recorded.gauge("quicket_sessions_detached"), 0.0);
    assert_eq!(recorded.gauge("quicket_sessions_attached"), 2.0);
    assert_eq!(recorded.gauge("quicket_detached_bytes"), 0.0);

    bob.disconnect().await;
    assert_eq!(within("bob's end", handled.recv()).await.unwrap(), "gone");
    assert_eq!(recorded.gauge("quicket_sessions_attached"), 1.0);
    assert_eq!(bob.closed().await, DisconnectReason::ClientDisconnect);

    // A server that takes one event and refuses the next two.
    let (limited_tx, mut limited) = mpsc::unbounded_channel();
    let limit = RateLimit::default().events_per_second(1).event_burst(1);
    let config = ServerConfig::default()
        .rate_limit(Some(limit))
        .limits(ConnectionLimits::default().max_queued_frames(4));
    let strict = Server::builder()
        .config(config)
        .on_rate_limited(move |_, event, _| limited_tx.send(event.to_owned()).unwrap())
        .build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    strict.listen(listener);
    let eager = Client::builder().connect(&connector).await.unwrap();
    let before = recorded.count("quicket_events_in_total{class=reliable}");
    for _ in 0..3 {
        eager.emit("plain", 0u32).unwrap();
    }
    for _ in 0..2 {
        assert_eq!(within("a limit", limited.recv()).await.unwrap(), "plain");
    }
    assert_eq!(recorded.count("quicket_events_rate_limited_total"), 2);
    assert_eq!(
        recorded.count("quicket_events_in_total{class=reliable}") - before,
        3
    );

    // Emits that no driver drains in between (one thread) overflow the queue of four.
    let socket = strict.socket(eager.id()).unwrap();
    let emitted: Vec<_> = (0..5).map(|n| socket.emit("flood", n)).collect();
    assert!(
        matches!(emitted[4], Err(EmitError::SlowConsumer)),
        "{emitted:?}"
    );
    assert_eq!(recorded.count("quicket_slow_consumer_disconnects_total"), 1);
}
