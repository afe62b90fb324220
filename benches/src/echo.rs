//! The benchmark protocol, as a quicket server and client: the same events the Node peers and
//! the socketioxide server answer (`benches/peers/README.md`).
//!
//! - `echo` with an ack: the ack carries the payload back (round trips);
//! - `join` with an ack: joins the room named by the payload;
//! - `publish`: the payload goes to everyone else in room `bench` as `msg` (fan-out);
//! - `ping` (volatile): answered by a volatile `pong` with the same payload (datagram round
//!   trips; a lost one is counted, not waited for).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use quicket::transport::memory::{self, MemoryConfig, MemoryConnector};
use quicket::transport::{Connector, TransportError};
use quicket::{AckSender, Client, ClientBuilder, Data, Endpoints, Raw, Server, Socket};
use quicket_core::testkit::relay::{self, Relay};
use quicket_quic::{QuicConnector, ServerTrust};
use serde_json::json;

use crate::cli::{Result, Transport};
use crate::process::ServerProcess;

/// The fan-out room.
pub(crate) const ROOM: &str = "bench";

/// A quicket server speaking the benchmark protocol.
pub(crate) fn server() -> Server {
    server_on(Server::builder())
}

/// `builder` finished as a server speaking the benchmark protocol.
fn server_on(builder: quicket::ServerBuilder) -> Server {
    builder
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
            socket.on("ping", |socket: Socket, Data(data): Data<Raw>| async move {
                let _ = socket.volatile().emit("pong", data);
            });
        })
        .build()
}

/// `quicket-bench serve --kind quicket [--redis URL]`: WebTransport and WebSocket on free
/// loopback ports; with a Redis URL, one node of the cluster on it.
pub(crate) async fn serve(redis: Option<String>) -> Result<()> {
    let server = match redis {
        Some(url) => {
            let adapter = quicket::redis::RedisAdapter::connect_with(
                &url,
                quicket::redis::RedisConfig::default().prefix("quicket-bench"),
            )
            .await?;
            server_on(Server::builder().adapter(adapter))
        }
        None => server(),
    };
    let mut endpoints = Endpoints::default();
    endpoints.http = "127.0.0.1:0".parse()?;
    endpoints.quic = "127.0.0.1:0".parse()?;
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
    /// A server process over WebTransport, each connection through its own lossy relay.
    Lossy(LossyConnector),
}

/// Dials WebTransport through a fresh lossy relay per connection (a relay serves one client).
#[derive(Clone)]
pub(crate) struct LossyConnector {
    server: std::net::SocketAddr,
    loss: f64,
    seed: Arc<AtomicU64>,
    relays: Arc<Mutex<Vec<Relay>>>,
}

impl Connector for LossyConnector {
    type Connection = quicket_quic::QuicConnection;

    async fn connect(&self) -> std::result::Result<Self::Connection, TransportError> {
        let seed = self.seed.fetch_add(1, Ordering::Relaxed);
        let relay = relay::start(self.server, self.loss, seed).await;
        let url = format!("https://127.0.0.1:{}/quicket", relay.addr.port());
        let connector = QuicConnector::new(url, ServerTrust::Dangerous)
            .map_err(|err| TransportError::Connect(err.to_string()))?;
        let connection = connector.connect().await?;
        self.relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(relay);
        Ok(connection)
    }
}

impl Target {
    /// Reaches the server process started by `quicket-bench serve --kind quicket`.
    pub(crate) fn remote(process: &ServerProcess) -> Result<Self> {
        let wt_url = format!("https://127.0.0.1:{}/quicket", process.port("wt")?);
        let wt = QuicConnector::new(wt_url, ServerTrust::Dangerous)?;
        let ws = quicket::ws::WsConnector::new(format!(
            "ws://127.0.0.1:{}/quicket",
            process.port("ws")?
        ));
        Ok(Target::Remote { wt, ws })
    }

    /// Reaches the server process over WebTransport through relays losing `loss` of packets.
    pub(crate) fn lossy(process: &ServerProcess, loss: f64) -> Result<Self> {
        Ok(Target::Lossy(LossyConnector {
            server: std::net::SocketAddr::from(([127, 0, 0, 1], process.port("wt")?)),
            loss,
            seed: Arc::new(AtomicU64::new(0x5eed)),
            relays: Arc::default(),
        }))
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
            (Target::Lossy(connector), Transport::Wt | Transport::WtDgram) => {
                builder.connect(connector).await?
            }
            (Target::Lossy(_), _) => return Err("lossy relays carry WebTransport only".into()),
            (Target::Remote { .. }, Transport::Mem) => {
                return Err("the memory transport has no server process".into());
            }
        };
        Ok(client)
    }
}
