//! The benchmark protocol, as a quicket server and client: the same events the Node peers and
//! the socketioxide server answer (`benches/peers/README.md`).
//!
//! - `echo` with an ack: the ack carries the payload back (round trips);
//! - `join` with an ack: joins the room named by the payload;
//! - `publish`: the payload goes to everyone else in room `bench` as `msg` (fan-out);
//! - `ping` (volatile): answered by a volatile `pong` with the same payload (datagram round
//!   trips; a lost one is counted, not waited for);
//! - `cast`: the payload goes to everyone else in room `hol-a` or `hol-b`, chosen by its first
//!   byte (`a` or `b`), as `msg` (head-of-line: small events in one room, bulk in the other).

use quicket::transport::memory::{self, MemoryConfig, MemoryConnector};
use quicket::{AckSender, Client, ClientBuilder, Data, Endpoints, Raw, Server, Socket};
use quicket_quic::{CongestionControl, QuicConnector, QuicLimits, ServerTrust};
use serde_json::json;

use crate::cli::{Result, Transport};
use crate::process::ServerProcess;

/// The fan-out room.
pub(crate) const ROOM: &str = "bench";

/// The rooms `cast` reaches, by the payload's first byte.
pub(crate) const CAST_ROOMS: [(u8, &str); 2] = [(b'a', "hol-a"), (b'b', "hol-b")];

/// The room the `track` event tracks presence in.
pub(crate) const PRESENCE_ROOM: &str = "presence";

/// The room every client of the scale scenario is in.
pub(crate) const SCALE_ALL: &str = "scale-all";

/// A quicket server speaking the benchmark protocol.
pub(crate) fn server() -> Server {
    server_on(Server::builder(), unlimited())
}

/// The benchmark's server configuration: saturation runs send far past any sensible
/// per-socket rate, and the peers have no such limit either.
/// The defaults without the limits a benchmark's one busy address would hit: the rate limit,
/// and the caps per source address (every client comes from 127.0.0.1).
fn unlimited() -> quicket::ServerConfig {
    quicket::ServerConfig::default()
        .rate_limit(None)
        .max_connections_per_source(usize::MAX)
        .max_handshakes_per_source(usize::MAX)
}

/// `builder` finished as a server speaking the benchmark protocol.
fn server_on(builder: quicket::ServerBuilder, config: quicket::ServerConfig) -> Server {
    builder
        .config(config)
        .on_connect(|socket: Socket| async move {
            socket.on("echo", |Data(data): Data<Raw>, ack: AckSender| async move {
                let _ = ack.send(data);
            });
            socket.on(
                "join",
                |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
                    let _ = socket.join(room);
                    let _ = ack.send(true);
                },
            );
            socket.on(
                "publish",
                |socket: Socket, Data(data): Data<Raw>| async move {
                    let _ = socket.to(ROOM).emit("msg", data);
                },
            );
            socket.on(
                "publish-to",
                |socket: Socket, Data((room, data)): Data<(String, Vec<u8>)>| async move {
                    let _ = socket.to(room).emit("msg", Raw(data.into()));
                },
            );
            socket.on("ping", |socket: Socket, Data(data): Data<Raw>| async move {
                let _ = socket.volatile().emit("pong", data);
            });
            // A handler that keeps its slot for 10 s, as the chat's delayed ping does: what a
            // flood of large events aims at (the hostile scenario).
            socket.on("slow", |Data(_): Data<Raw>| async move {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            });
            socket.on(
                "track",
                |socket: Socket, Data(key): Data<String>, ack: AckSender| async move {
                    let tracked = socket
                        .join(PRESENCE_ROOM)
                        .ok()
                        .and_then(|()| socket.presence(PRESENCE_ROOM).track(&key, ()).ok());
                    let _ = ack.send(tracked.is_some());
                },
            );
            socket.on(
                "pump",
                |socket: Socket, Data(plan): Data<Pump>| async move {
                    tokio::spawn(pump(socket, plan));
                },
            );
            socket.on("cast", |socket: Socket, Data(data): Data<Raw>| async move {
                let room = CAST_ROOMS
                    .iter()
                    .find(|(tag, _)| data.0.first() == Some(tag))
                    .map(|(_, room)| *room);
                if let Some(room) = room {
                    let _ = socket.to(room).emit("msg", data);
                }
            });
        })
        .build()
}

/// What `pump` asks the server for: `count` values of `size` bytes, one every `every_us`,
/// to the asking socket alone, as latest values of one key or as sequenced events.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pump {
    pub(crate) latest: bool,
    pub(crate) count: u32,
    pub(crate) every_us: u32,
    pub(crate) size: u32,
}

/// Sends a pump's values as `state` events: each starts with its index and the wall-clock
/// nanoseconds it left at, which the receiver, on the same host, compares with its own.
async fn pump(socket: Socket, plan: Pump) {
    let mut ticks =
        tokio::time::interval(std::time::Duration::from_micros(u64::from(plan.every_us)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut payload = vec![0u8; (plan.size as usize).max(16)];
    for index in 0..u64::from(plan.count) {
        ticks.tick().await;
        payload[..8].copy_from_slice(&index.to_le_bytes());
        payload[8..16].copy_from_slice(&crate::stats::wall_nanos().to_le_bytes());
        let value = Raw(bytes::Bytes::copy_from_slice(&payload));
        let sent = if plan.latest {
            socket.latest("k").emit("state", value)
        } else {
            socket.sequenced().emit("state", value)
        };
        if sent.is_err() {
            return;
        }
    }
}

/// `quicket-bench serve --kind quicket [--redis URL | --redis-cluster URLS] [--cc NAME]
/// [--config defaults] [--durable on]`: WebTransport and WebSocket on free loopback ports;
/// with a Redis URL (or a Redis Cluster's node URLs), one node of the cluster on it, its
/// durable log on or off.
pub(crate) async fn serve(options: &crate::cli::ServeOptions) -> Result<()> {
    let config = if options.defaults {
        quicket::ServerConfig::default()
    } else {
        unlimited()
    };
    let congestion = options.congestion;
    let bench = || {
        quicket::redis::RedisConfig::default()
            .prefix("quicket-bench")
            .durable_recovery(options.durable)
    };
    let adapter = match (&options.redis, &options.redis_cluster) {
        (Some(url), _) => Some(quicket::redis::RedisAdapter::connect_with(url, bench()).await?),
        (None, Some(seeds)) => {
            let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
            Some(quicket::redis::RedisAdapter::connect_cluster(&seeds, bench()).await?)
        }
        (None, None) => None,
    };
    let server = match adapter {
        Some(adapter) => server_on(Server::builder().adapter(adapter), config),
        None => server_on(Server::builder(), config),
    };
    let loopback = "127.0.0.1:0".parse()?;
    let mut endpoints = Endpoints::default()
        .bind(loopback, loopback)
        .quic_limits(QuicLimits::default().congestion(congestion));
    if options.metrics {
        endpoints = endpoints.metrics("/metrics");
    }
    let serving = quicket::serve(&server, endpoints).await?;
    let hashes: Vec<String> = serving
        .quic
        .certificate_hashes()
        .iter()
        .map(ToString::to_string)
        .collect();
    let ready = json!({
        "ws": serving.http.port(),
        "wt": serving.quic.local_addr().port(),
        "hashes": hashes,
    });
    println!("ready {ready}");
    std::future::pending::<()>().await;
    Ok(())
}

/// Where the load generator's quicket clients connect.
pub(crate) enum Target {
    /// A server process.
    Remote {
        wt: QuicConnector,
        ws: quicket::ws::WsConnector,
    },
    /// A server in this process, over the memory transport.
    Local {
        connector: MemoryConnector,
        _server: Server,
    },
}

impl Target {
    /// Reaches the server process started by `quicket-bench serve --kind quicket`.
    pub(crate) fn remote(process: &ServerProcess) -> Result<Self> {
        Self::remote_with(process, CongestionControl::default())
    }

    /// [`Target::remote`], with clients sending under `congestion`.
    pub(crate) fn remote_with(
        process: &ServerProcess,
        congestion: CongestionControl,
    ) -> Result<Self> {
        let wt_url = format!("https://127.0.0.1:{}/quicket", process.port("wt")?);
        let limits = QuicLimits::client().congestion(congestion);
        let wt = QuicConnector::with_limits(wt_url, ServerTrust::Dangerous, &limits)?;
        let ws = quicket::ws::WsConnector::new(format!(
            "ws://127.0.0.1:{}/quicket",
            process.port("ws")?
        ));
        Ok(Target::Remote { wt, ws })
    }

    /// A fresh in-process server.
    pub(crate) fn local() -> Self {
        let server = server();
        let (listener, connector) = memory::pipe(MemoryConfig::default());
        server.listen(listener);
        Target::Local {
            connector,
            _server: server,
        }
    }

    /// Connects one client over `transport` (the datagram variant connects over WebTransport).
    pub(crate) async fn connect(
        &self,
        transport: Transport,
        builder: ClientBuilder,
    ) -> Result<Client> {
        let client = match (self, transport) {
            (Target::Remote { wt, .. }, Transport::Wt | Transport::WtDgram) => {
                builder.connect(wt).await?
            }
            (Target::Remote { ws, .. }, Transport::Ws) => builder.connect(ws).await?,
            (Target::Local { connector, .. }, _) => builder.connect(connector).await?,
            (Target::Remote { .. }, Transport::Mem) => {
                return Err("the memory transport has no server process".into());
            }
        };
        Ok(client)
    }
}
