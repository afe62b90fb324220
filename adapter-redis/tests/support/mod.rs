//! What the cluster tests share: a private redis-server, nodes serving WebTransport and
//! WebSocket on loopback, and clients on them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test uses a part.

pub(crate) mod redis_cluster;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use quicket::{
    AnyConnection, Client, ClientBuilder, Endpoints, FallbackOptions, Server, ServerBuilder,
};
use quicket_core::transport::{Connector, TransportError};
use quicket_redis::{Health, RedisAdapter, RedisConfig};
pub(crate) use quicket_testkit::within;
use tokio::sync::oneshot;

/// Every wait in these tests gives up after this long.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// Waits until `adapter`'s health satisfies `holds`, waking on each change of it.
pub(crate) async fn health_until(
    adapter: &RedisAdapter,
    what: &str,
    holds: impl Fn(&Health) -> bool,
) {
    let mut watch = adapter.watch_health();
    within(what, async {
        while !holds(&watch.health()) {
            watch.changed().await;
        }
    })
    .await;
}

/// A redis-server of this test's own, on a free loopback port, persistence off; killed (by
/// its PID) when dropped.
pub(crate) struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one. Without `redis-server` on the PATH the test fails: `scripts/test`
    /// installs it.
    pub(crate) async fn start() -> Self {
        let port = free_port();
        let (child, ready) = spawn_redis(port);
        let server = Self { child, port };
        within("redis-server to accept connections", ready)
            .await
            .expect("redis-server said it is ready");
        server
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it without a word (SIGKILL), as a crash would.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty.
    pub(crate) async fn restart(&mut self) {
        let (child, ready) = spawn_redis(self.port);
        self.child = child;
        within("redis-server to accept connections again", ready)
            .await
            .expect("redis-server said it is ready");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts redis-server on `port`; the receiver resolves when its log says it accepts
/// connections.
fn spawn_redis(port: u16) -> (Child, oneshot::Receiver<()>) {
    let (ready_tx, ready) = oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    let child = redis_server(port, &[], move |line| {
        if line.contains("Ready to accept connections")
            && let Some(tx) = ready_tx.take()
        {
            let _ = tx.send(());
        }
    });
    (child, ready)
}

/// Starts redis-server on `port` with `extra` arguments, persistence off. `on_line` hears
/// each line of its log, from a thread that reads it to its end, so the pipe never fills.
pub(crate) fn redis_server(
    port: u16,
    extra: &[&OsStr],
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> Child {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("redis-server must be installed for these tests (scripts/test installs it)");
    let log = child.stdout.take().expect("redis-server's log is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            on_line(&line);
        }
    });
    child
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// The Redis the test uses: `QUICKET_REDIS_URL` (the private instance `scripts/test`
/// starts), or one of its own.
pub(crate) struct SharedRedis {
    own: Option<RedisServer>,
    url: String,
}

impl SharedRedis {
    /// `QUICKET_REDIS_URL`, or a fresh private instance.
    pub(crate) async fn get() -> Self {
        match std::env::var("QUICKET_REDIS_URL") {
            Ok(url) if !url.is_empty() => Self { own: None, url },
            _ => {
                let own = RedisServer::start().await;
                let url = own.url();
                Self {
                    own: Some(own),
                    url,
                }
            }
        }
    }

    /// Its URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// The Redis Cluster the test uses: `QUICKET_REDIS_CLUSTER` (comma-separated node URLs of
/// the cluster `scripts/test` starts), or one of its own.
pub(crate) struct SharedCluster {
    own: Option<redis_cluster::RedisCluster>,
    seeds: Vec<String>,
}

impl SharedCluster {
    /// `QUICKET_REDIS_CLUSTER`, or a fresh private cluster.
    pub(crate) async fn get() -> Self {
        match std::env::var("QUICKET_REDIS_CLUSTER") {
            Ok(seeds) if !seeds.is_empty() => Self {
                own: None,
                seeds: seeds.split(',').map(str::to_owned).collect(),
            },
            _ => {
                let own = redis_cluster::RedisCluster::start().await;
                let seeds = own.seeds();
                Self {
                    own: Some(own),
                    seeds,
                }
            }
        }
    }

    /// Another test's cluster, shared.
    pub(crate) fn of(cluster: &redis_cluster::RedisCluster) -> Self {
        Self {
            own: None,
            seeds: cluster.seeds(),
        }
    }

    /// How many clients listen on the sharded channel `channel`, summed over the nodes.
    pub(crate) async fn listeners(&self, channel: &str) -> u64 {
        let mut total = 0;
        for seed in &self.seeds {
            let mut conn = redis::Client::open(seed.as_str())
                .expect("a Redis URL")
                .get_multiplexed_async_connection()
                .await
                .expect("the Redis Cluster node answers");
            let counts: Vec<redis::Value> = redis::cmd("PUBSUB")
                .arg("SHARDNUMSUB")
                .arg(channel)
                .query_async(&mut conn)
                .await
                .expect("PUBSUB SHARDNUMSUB");
            if let Some(redis::Value::Int(count)) = counts.get(1) {
                total += u64::try_from(*count).unwrap_or(0);
            }
        }
        total
    }

    /// A node of the cluster on `config`.
    pub(crate) async fn adapter(&self, config: RedisConfig) -> RedisAdapter {
        At::Cluster(self.seeds.clone()).adapter(config).await
    }
}

/// What a test client sends its node when it arrives: its name and the rooms to enter.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Enter {
    pub(crate) name: String,
    pub(crate) rooms: Vec<String>,
}

/// Has `client` enter `rooms` as `name`, and waits for its node's answer.
pub(crate) async fn enter(client: &Client, name: &str, rooms: &[&str]) {
    let enter = Enter {
        name: name.to_owned(),
        rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
    };
    within("enter", client.emit_with_ack::<()>("enter", &enter))
        .await
        .unwrap();
}

/// Where a test's nodes meet: one Redis, or a Redis Cluster.
pub(crate) enum Backend {
    Single(SharedRedis),
    Cluster(SharedCluster),
}

impl Backend {
    /// The shared Redis (`cluster` false) or Redis Cluster.
    pub(crate) async fn get(cluster: bool) -> Self {
        if cluster {
            Self::Cluster(SharedCluster::get().await)
        } else {
            Self::Single(SharedRedis::get().await)
        }
    }

    /// Its address, to connect from another runtime.
    pub(crate) fn at(&self) -> At {
        match self {
            Self::Single(redis) => At::Single(redis.url().to_owned()),
            Self::Cluster(cluster) => At::Cluster(cluster.seeds.clone()),
        }
    }

    /// A node's adapter on it.
    pub(crate) async fn adapter(&self, config: RedisConfig) -> RedisAdapter {
        self.at().adapter(config).await
    }
}

/// The address of a [`Backend`].
#[derive(Clone)]
pub(crate) enum At {
    Single(String),
    Cluster(Vec<String>),
}

impl At {
    /// A node's adapter there.
    pub(crate) async fn adapter(&self, config: RedisConfig) -> RedisAdapter {
        match self {
            Self::Single(url) => RedisAdapter::connect_with(url, config).await,
            Self::Cluster(seeds) => {
                let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
                RedisAdapter::connect_cluster(&seeds, config).await
            }
        }
        .expect("the node reaches Redis")
    }
}

/// A key prefix of the test's own, so tests sharing one Redis never see each other.
pub(crate) fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The cluster configuration of the tests: a short node TTL, so crashes show quickly.
pub(crate) fn config(prefix: &str) -> RedisConfig {
    RedisConfig::default()
        .prefix(prefix)
        .node_ttl(Duration::from_secs(2))
}

/// One node: a server on Redis, serving WebTransport and WebSocket on loopback.
pub(crate) struct Node {
    pub(crate) server: Server,
    pub(crate) adapter: RedisAdapter,
    pub(crate) base: String,
    /// Its WebSocket URL.
    pub(crate) ws: String,
}

impl Node {
    /// Starts a node whose server `build` finishes.
    pub(crate) async fn start(
        redis: &str,
        config: RedisConfig,
        build: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> Self {
        let adapter = RedisAdapter::connect_with(redis, config)
            .await
            .expect("the node reaches Redis");
        Self::serve(adapter, build).await
    }

    /// Starts a node on `adapter`, whose server `build` finishes.
    pub(crate) async fn serve(
        adapter: RedisAdapter,
        build: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> Self {
        let server = build(Server::builder().adapter(adapter.clone())).build();
        let endpoints = Endpoints::default().ports(0, 0);
        let serving = quicket::serve(&server, endpoints).await.expect("serves");
        Self {
            server,
            adapter,
            base: format!("http://127.0.0.1:{}", serving.http.port()),
            ws: format!("ws://127.0.0.1:{}/quicket", serving.http.port()),
        }
    }

    /// The keys of `room`'s presence, as this node's server lists them.
    pub(crate) async fn presence_keys(&self, room: &str) -> Vec<String> {
        self.server
            .presence(room)
            .await
            .into_iter()
            .map(|key| key.key)
            .collect()
    }

    /// Connects a client over WebTransport (`ws` false) or WebSocket.
    pub(crate) async fn connect(&self, builder: ClientBuilder, ws: bool) -> Client {
        let options = if ws {
            FallbackOptions::default().websocket_only()
        } else {
            FallbackOptions::default()
        };
        let client = within(
            "a client to connect",
            quicket::connect_with(builder, &self.base, &options),
        )
        .await
        .expect("connects");
        let expected = if ws { "websocket" } else { "webtransport" };
        assert_eq!(client.transport().to_string(), expected);
        client
    }
}

/// Dials `first` once, then `then` for every later connection: a client that lands on one
/// node and comes back through another.
#[derive(Clone)]
pub(crate) struct FirstThen<A, B> {
    first: A,
    then: B,
    /// Connections dialled so far.
    pub(crate) dials: Arc<AtomicUsize>,
}

impl<A, B> FirstThen<A, B> {
    pub(crate) fn new(first: A, then: B) -> Self {
        Self {
            first,
            then,
            dials: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl<A, B> Connector for FirstThen<A, B>
where
    A: Connector,
    B: Connector,
    A::Connection: Into<AnyConnection>,
    B::Connection: Into<AnyConnection>,
{
    type Connection = AnyConnection;

    async fn connect(&self) -> Result<AnyConnection, TransportError> {
        if self.dials.fetch_add(1, Ordering::Relaxed) == 0 {
            self.first.connect().await.map(Into::into)
        } else {
            self.then.connect().await.map(Into::into)
        }
    }
}
