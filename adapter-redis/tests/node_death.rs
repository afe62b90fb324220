//! Durable recovery across a node's death, on one Redis and on a Redis Cluster. Twenty
//! clients, half over WebTransport and half over WebSocket, hold live sessions on node A, a
//! process of its own, while node C publishes numbered events to their room. A is killed
//! with SIGKILL mid-stream. Every client resumes through node B and ends with the exact
//! sequence: no gap, no duplicate.
//!
//! This test binary is node A as well: started with `QUICKET_DOOMED_NODE` set, it serves a
//! node and prints its address (so it runs without libtest's harness).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quicket::{Data, FallbackConnector, FallbackOptions, ReconnectEvent, ServerBuilder, Socket};
use quicket_redis::RedisConfig;
use quicket_testkit::{quick_reconnect_config, reconnect_events, recovering_server_config};
use tokio::sync::mpsc;

use support::{At, Backend, FirstThen, Node, config, unique_prefix};

/// Set in node A's process: `single URL PREFIX`, or `cluster URL,URL,.. PREFIX`.
const DOOMED: &str = "QUICKET_DOOMED_NODE";
const CLIENTS: usize = 20;
/// Events published to the room; each client also gets one direct emit first.
const EVENTS: u64 = 4_000;
/// Every client has this many events when A is killed, after 2 s or more.
const KILL_AT: usize = 1_000;
/// The recovery window.
const WINDOW: Duration = Duration::from_secs(6);
/// The whole scenario's bound: a hang fails here.
const DEADLINE: Duration = Duration::from_secs(60);

fn main() {
    if let Ok(spec) = std::env::var(DOOMED) {
        return doomed_node(&spec);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tests = [
        (
            false,
            "every_client_resumes_on_a_surviving_node_with_the_exact_sequence",
        ),
        (
            true,
            "on_a_redis_cluster_every_client_resumes_with_the_exact_sequence",
        ),
    ];
    for (cluster, test) in tests {
        runtime.block_on(async {
            tokio::time::timeout(
                DEADLINE,
                every_client_resumes_with_the_exact_sequence(cluster),
            )
            .await
            .unwrap_or_else(|_| panic!("{test} did not finish within {DEADLINE:?}"));
        });
        println!("test {test} ... ok");
    }
    println!("\ntest result: ok. {} passed; 0 failed", tests.len());
}

/// The durable nodes' configuration.
fn durable(prefix: &str) -> RedisConfig {
    config(prefix).durable_recovery(true)
}

/// Every node's server: a new socket joins the feed and gets event 0 from its own emit; a
/// session carried on from a dead node is in the feed already.
fn build(builder: ServerBuilder) -> ServerBuilder {
    let mut config = recovering_server_config();
    // A short window, so that each node renews its anchors every 1.5 s, and A renews them
    // before it dies: the walk then starts from a renewed anchor.
    config.recovery = config.recovery.map(|recovery| recovery.window(WINDOW));
    builder
        .config(config)
        .on_connect(|socket: Socket| async move {
            if !socket.recovered() {
                socket.join("feed").unwrap();
                socket.emit("n", 0u64).unwrap();
            }
        })
}

/// Node A: serves until killed. `spec` is what [`Doomed::start`] passes.
fn doomed_node(spec: &str) {
    let mut words = spec.split(' ');
    let (kind, address, prefix) = (words.next(), words.next(), words.next());
    let at = match (kind, address) {
        (Some("cluster"), Some(seeds)) => {
            At::Cluster(seeds.split(',').map(str::to_owned).collect())
        }
        (Some("single"), Some(url)) => At::Single(url.to_owned()),
        _ => panic!("not a node spec: {spec}"),
    };
    let prefix = prefix.expect("a key prefix");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let node = Node::serve(at.adapter(durable(prefix)).await, build).await;
        println!("{}", node.base);
        std::future::pending::<()>().await;
    });
}

/// Node A's process, killed (SIGKILL) when dropped if the test did not kill it first.
struct Doomed(Child);

impl Doomed {
    /// Starts node A on `at`; returns it and its HTTP base URL.
    fn start(at: &At, prefix: &str) -> (Self, String) {
        let spec = match at {
            At::Single(url) => format!("single {url} {prefix}"),
            At::Cluster(seeds) => format!("cluster {} {prefix}", seeds.join(",")),
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(DOOMED, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        (Self(child), line.trim().to_owned())
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn connector(base: &str, websocket: bool) -> FallbackConnector {
    let discovery = quicket::discover(base).await.unwrap();
    let mut options = FallbackOptions::default();
    if websocket {
        options = options.websocket_only();
    }
    FallbackConnector::new(&discovery, &options).unwrap()
}

/// The scenario, on one Redis or on a Redis Cluster.
async fn every_client_resumes_with_the_exact_sequence(cluster: bool) {
    let backend = Backend::get(cluster).await;
    let at = backend.at();
    let prefix = unique_prefix("node-death");
    let (mut doomed, a) = Doomed::start(&at, &prefix);
    let b = Node::serve(at.adapter(durable(&prefix)).await, build).await;
    let c = Node::serve(at.adapter(durable(&prefix)).await, build).await;

    let (got_tx, got) = mpsc::unbounded_channel::<(usize, u64)>();
    let (resumed_tx, mut resumed) = mpsc::unbounded_channel::<(usize, bool)>();
    let mut clients = Vec::new();
    for index in 0..CLIENTS {
        let websocket = index % 2 == 1;
        // The first connection to node A, every later one through node B.
        let connector = FirstThen::new(
            connector(&a, websocket).await,
            connector(&b.base, websocket).await,
        );
        // The default handshake timeout (10 s): a resume that lands on node B before B counts
        // A as dead is relayed to A, and B ends that relay once A stays silent.
        let (builder, mut events) = reconnect_events(quick_reconnect_config());
        let got_tx = got_tx.clone();
        let client = builder
            .on("n", move |Data(n): Data<u64>| {
                let _ = got_tx.send((index, n));
                async {}
            })
            .connect(&connector)
            .await
            .unwrap();
        let resumed_tx = resumed_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let ReconnectEvent::Reconnected { recovered, .. } = event {
                    let _ = resumed_tx.send((index, recovered));
                }
            }
        });
        clients.push(client);
    }
    let ids: Vec<_> = clients.iter().map(|client| client.id()).collect();

    let mut progress = Progress::new(got);
    // Every client has event 0, from its own emit, before the feed starts.
    progress.until(1).await;
    let (killed_tx, mut killed) = tokio::sync::oneshot::channel::<()>();
    let publisher = {
        let server = c.server.clone();
        tokio::spawn(async move {
            let mut n = 1;
            // One per 2 ms tick until A is dead, so that it dies mid-stream (a pace, not a
            // wait for anything)...
            let mut ticks = tokio::time::interval(Duration::from_millis(2));
            while n <= EVENTS {
                tokio::select! {
                    _ = &mut killed => break,
                    _ = ticks.tick() => {}
                }
                server.to("feed").emit("n", n).unwrap();
                n += 1;
            }
            // ...then the rest at once, before any session is carried on: each misses more
            // events than a connection's queue holds (1,024), and its replay must not count
            // against that bound.
            for n in n..=EVENTS {
                server.to("feed").emit("n", n).unwrap();
            }
        })
    };
    progress.until(KILL_AT).await;
    doomed.kill();
    let killed = Instant::now();
    killed_tx.send(()).unwrap();
    progress.until(EVENTS as usize + 1).await;
    let recovered_in = killed.elapsed();
    publisher.await.unwrap();

    let expected: Vec<u64> = (0..=EVENTS).collect();
    for (index, sequence) in progress.sequences.iter().enumerate() {
        let first_wrong = sequence
            .iter()
            .zip(&expected)
            .position(|(got, want)| got != want);
        assert!(
            first_wrong.is_none() && sequence.len() == expected.len(),
            "client {index}: {} events, first wrong at {first_wrong:?}",
            sequence.len()
        );
    }
    let mut resumes = vec![Vec::new(); CLIENTS];
    while resumes.iter().any(Vec::is_empty) {
        let (index, recovered) = resumed.recv().await.unwrap();
        resumes[index].push(recovered);
    }
    for (index, resumes) in resumes.iter().enumerate() {
        assert!(
            resumes.iter().all(|recovered| *recovered),
            "client {index} got a new session: {resumes:?}"
        );
    }
    for (client, id) in clients.iter().zip(ids) {
        assert_eq!(client.id(), id, "the session kept its id");
    }
    println!(
        "{CLIENTS} sessions of a killed node carried on by another: {} events each, exact; \
         the last client complete {recovered_in:?} after the kill",
        EVENTS + 1
    );
}

/// What each client has received so far.
struct Progress {
    got: mpsc::UnboundedReceiver<(usize, u64)>,
    sequences: Vec<Vec<u64>>,
}

impl Progress {
    fn new(got: mpsc::UnboundedReceiver<(usize, u64)>) -> Self {
        Self {
            got,
            sequences: vec![Vec::new(); CLIENTS],
        }
    }

    /// Waits until every client has at least `count` events.
    async fn until(&mut self, count: usize) {
        while self.sequences.iter().any(|sequence| sequence.len() < count) {
            let (index, n) = self.got.recv().await.expect("the clients run");
            self.sequences[index].push(n);
        }
    }
}
