//! The seed chat: a page with a name prompt, the conversation and the live user list, over
//! WebTransport with a WebSocket fallback; `chat-cli` joins the same room from a terminal.
//!
//! `cargo run -p quicket-examples --bin chat`, then open the printed URL.
//! Flags: `--bind IP` (default every interface), `--http PORT` (default 8080), `--quic PORT`
//! (default 4433); 0 picks free ports. `--cert PEM --key PEM` serves a certificate from files
//! on both transports: HTTPS and `wss://` beside WebTransport.
//! `--heartbeat SECS` pings every SECS and drops a client silent for twice that (default 25 + 20).
//! `--test-hooks` adds `POST /debug/drop/{sid}`, which drops that client's connection the way
//! a network failure would, for the browser tests of reconnection and recovery.
//! `--redis URL` joins the chat to others on the same Redis: two processes on different
//! ports serve one chat (rooms, presence and recovery across both), and `GET /health` says
//! whether this one reaches Redis.
//! With `CHAT_ADMIN_TOKEN` set in the environment, the read-only admin dashboard is at
//! `/quicket/admin`, behind that token.
//! `--recovery-window SECS` is how long a closed, crashed or reloading tab's session waits to
//! be resumed (default 30); the page keeps it in `sessionStorage`, so a reload resumes it.

use std::time::Duration;

use quicket::ws::axum::extract::Path;
use quicket::ws::axum::http::StatusCode;
use quicket::ws::axum::routing::{get, post};
use quicket::{
    AckSender, Data, DisconnectReason, Raw, RecoveryConfig, Server, ServerConfig, Socket, SocketId,
};
use quicket_examples::chat::{Joined, Line, ROOM, User};
use quicket_examples::web::{Flags, Listen, page_routes};

const PAGE: &str = include_str!("../../chat/index.html");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    quicket_examples::web::log_to_stderr()?;
    let Args {
        listen,
        heartbeat,
        test_hooks,
        redis,
        recovery_window,
    } = args();
    // A closed or crashed tab leaves the user list within seconds. Its session waits a
    // little longer, for a reload or a network blip to resume it; when it ends, the room
    // hears that the user left.
    let recovery = RecoveryConfig::default()
        .presence_grace(Duration::from_secs(5))
        .window(Duration::from_secs(recovery_window));
    let mut config = ServerConfig::default().recovery(Some(recovery));
    if let Some(secs) = heartbeat {
        let every = Duration::from_secs(secs);
        config = config.ping_interval(every).ping_timeout(every);
    }
    let mut builder = Server::builder().config(config);
    let mut cluster = None;
    if let Some(url) = redis {
        let adapter = quicket::redis::RedisAdapter::connect(&url).await?;
        println!("chat: node {:016x} of the chat on {url}", adapter.node());
        builder = builder.adapter(adapter.clone());
        cluster = Some(adapter);
    }
    let server = builder
        .on_connect(|socket: Socket| async move {
            socket.on("join", join);
            socket.on("say", say);
            // The page's latency readout; a delay lets tests see an ack time out.
            socket.on(
                "ping",
                |Data(delay_ms): Data<u64>, ack: AckSender| async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms.min(10_000))).await;
                    let _ = ack.send("pong");
                },
            );
            // Cursor positions: relayed to the room as they came, and dropped under load.
            socket.on(
                "pos",
                |socket: Socket, Data(position): Data<Raw>| async move {
                    let _ = socket.to(ROOM).volatile().emit("pos", position);
                },
            );
            // A user's status line ("away", "typing…"): only the newest matters, so it is a
            // latest value per user, and nobody ever sees an older status after a newer one.
            socket.on(
                "status",
                |socket: Socket, Data(text): Data<String>| async move {
                    if let Some(User(name)) = socket.extensions().get::<User>() {
                        let status = (name.clone(), text);
                        let _ = socket.to(ROOM).latest(name).emit("status", status);
                    }
                },
            );
            socket.on_disconnect(|socket: Socket, _reason: DisconnectReason| async move {
                let Some(User(name)) = socket.extensions().get::<User>() else {
                    return;
                };
                // Announce only when this was the user's last tab.
                if other_tabs(&socket, &name).await == 0 {
                    let _ = socket
                        .to(ROOM)
                        .emit("announce", format!("{name} has disconnected"));
                }
            });
        })
        .build();
    let mut routes = page_routes(PAGE);
    if let Some(adapter) = cluster.clone() {
        routes = routes.route(
            "/health",
            get(move || {
                let health = adapter.health();
                async move {
                    let status = if health.redis_connected {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, format!("{health:?}\n"))
                }
            }),
        );
    }
    if test_hooks {
        let server = server.clone();
        routes = routes.route(
            "/debug/drop/{sid}",
            post(move |Path(sid): Path<String>| {
                let socket = sid
                    .parse::<SocketId>()
                    .ok()
                    .and_then(|sid| server.socket(sid));
                async move {
                    match socket {
                        Some(socket) => {
                            socket.drop_connection();
                            StatusCode::NO_CONTENT
                        }
                        None => StatusCode::NOT_FOUND,
                    }
                }
            }),
        );
    }
    let serving = listen.serve(&server, routes).await?;
    println!("chat: open {}", listen.page_url(&serving));
    println!(
        "chat: WebTransport on UDP {}, certificate sha-256 {}",
        serving.quic.local_addr().port(),
        serving.quic.certificate_hashes()[0]
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown(Duration::from_secs(5)).await;
    if let Some(adapter) = cluster {
        adapter.close().await;
    }
    Ok(())
}

async fn join(socket: Socket, Data(name): Data<String>, ack: AckSender) {
    let name = name.trim().chars().take(32).collect::<String>();
    if name.is_empty() {
        let _ = ack.error("a name is required");
        return;
    }
    // Joining again under another name renames this connection rather than adding a user.
    let previous = socket.extensions().get::<User>().map(|User(name)| name);
    let tracked = match socket.join(ROOM) {
        Ok(()) => socket
            .presence(ROOM)
            .track(&name, socket.transport().to_string())
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    if let (Ok(()), Some(previous)) = (&tracked, &previous)
        && *previous != name
    {
        socket.presence(ROOM).untrack(previous);
    }
    if let Err(err) = tracked {
        let _ = ack.error(err);
        return;
    }
    socket.extensions().insert(User(name.clone()));
    // A second tab of the same user is the same user: announce the first one only.
    if metas_of(&socket, &name).await == 1 {
        let _ = socket
            .to(ROOM)
            .emit("announce", format!("{name} has connected"));
    }
    let _ = ack.send(Joined {
        room: ROOM.to_owned(),
        transport: socket.transport().to_string(),
    });
}

async fn say(socket: Socket, Data(text): Data<String>, ack: AckSender) {
    let Some(User(from)) = socket.extensions().get::<User>() else {
        let _ = ack.error("join first");
        return;
    };
    let line = Line {
        from,
        text: text.chars().take(2000).collect(),
    };
    // One broadcast to the room, the sender included: a room's events keep to one channel, so
    // every connection sees the lines in one order.
    let _ = socket.within(ROOM).emit("line", &line);
    let _ = ack.send(());
}

/// How many connections track `name` in the chat room.
async fn metas_of(socket: &Socket, name: &str) -> usize {
    socket.presence(ROOM).count(name).await
}

/// How many connections other than `socket` track `name`: a session that ends after its
/// presence grace no longer tracks it itself.
async fn other_tabs(socket: &Socket, name: &str) -> usize {
    let list = socket.presence(ROOM).list().await;
    list.iter()
        .filter(|entry| entry.key == name)
        .flat_map(|entry| &entry.metas)
        .filter(|meta| meta.sid != socket.id())
        .count()
}

/// The command line: `--bind IP`, `--http PORT`, `--quic PORT`, `--cert PEM --key PEM`,
/// `--heartbeat SECS`, `--test-hooks`,
/// `--redis URL`, `--recovery-window SECS`.
struct Args {
    listen: Listen,
    /// Seconds between pings, and the same again before a silent client is dropped.
    heartbeat: Option<u64>,
    test_hooks: bool,
    /// The Redis of a chat served by several processes.
    redis: Option<String>,
    /// How long a dropped session may be resumed, in seconds.
    recovery_window: u64,
}

fn args() -> Args {
    let mut flags = Flags::from_env(
        "chat",
        "[--bind IP] [--http PORT] [--quic PORT] [--cert PEM --key PEM] [--heartbeat SECS] [--test-hooks] [--redis URL] [--recovery-window SECS]",
    );
    let args = Args {
        listen: Listen::from_flags(&mut flags, true).admin_from_env("CHAT_ADMIN_TOKEN"),
        heartbeat: flags.optional::<u64>("--heartbeat").map(|secs| secs.max(1)),
        test_hooks: flags.switch("--test-hooks"),
        redis: flags.optional("--redis"),
        recovery_window: flags.value("--recovery-window", 30).max(1),
    };
    flags.finish();
    args
}
