//! A multiplayer game: an authoritative server simulating at 30 Hz, a canvas page steered by
//! the keyboard, and native bots. Snapshots are latest values (docs/delivery-classes.md): each
//! takes a stream of its own, reset once the next tick's is out, so nothing waits for a stale
//! retransmission. Inputs are sequenced datagrams; the match's feed is unordered.
//!
//! `cargo run --release -p quicket-examples --bin game -- --bots 20`, then open the printed URL.
//! Flags: `--http PORT` (default 8080), `--quic PORT` (default 4433), `--bots N` (default 0),
//! `--bot-match NAME` (default `arena`), `--heartbeat SECS`.

mod bots;
mod sim;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use quicket::ws::axum::Json;
use quicket::ws::axum::routing::get;
use quicket::{AckSender, BroadcastOperator, Data, DisconnectReason, Server, ServerConfig, Socket};
use quicket_examples::game::{Input, JoinMatch, LOBBY, MATCHES, PlayerMeta, TICK_HZ, match_room};
use quicket_examples::web::{Flags, Listen, page_routes};

use crate::sim::{World, color_of};

const PAGE: &str = include_str!("../../../game/index.html");

/// The world, shared by the handlers and the tick.
type Shared = Arc<Mutex<World>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    quicket_examples::web::log_to_stderr()?;
    let mut flags = Flags::from_env(
        "game",
        "[--bind IP] [--http PORT] [--quic PORT] [--bots N] [--bot-match MATCH] [--heartbeat SECS]",
    );
    let listen = Listen::from_flags(&mut flags, false);
    let bots = flags.value("--bots", 0usize);
    let bot_match = flags.value("--bot-match", MATCHES[0].to_owned());
    let heartbeat = flags.value("--heartbeat", 0u64);
    flags.finish();

    let mut config = ServerConfig::default();
    if heartbeat > 0 {
        let every = Duration::from_secs(heartbeat);
        config = config.ping_interval(every).ping_timeout(every);
    }
    let world: Shared = Arc::new(Mutex::new(World::new()));
    let server = Server::builder()
        .config(config)
        .on_connect({
            let world = world.clone();
            move |socket: Socket| on_connect(socket, world.clone())
        })
        .build();
    let routes = page_routes(PAGE).route(
        "/api/matches",
        get({
            let world = world.clone();
            move || async move { Json(lock(&world).view()) }
        }),
    );
    let serving = listen.serve(&server, routes).await?;
    let page = listen.page_url(&serving);
    let base = page.trim_end_matches('/').to_owned();
    let ticking = tokio::spawn(tick(server.clone(), world));
    println!("game: open {base}/");
    if bots > 0 {
        bots::spawn(&base, bots, &bot_match).await?;
        println!("game: {bots} bots playing in {bot_match}");
    }
    tokio::signal::ctrl_c().await?;
    ticking.abort();
    server.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

async fn on_connect(socket: Socket, world: Shared) {
    if let Err(err) = socket.join(LOBBY) {
        eprintln!("game: {} cannot enter the lobby: {err}", socket.id());
    }
    let joining = world.clone();
    socket.on(
        "join",
        move |socket: Socket, Data(request): Data<JoinMatch>, ack: AckSender| {
            let world = joining.clone();
            async move { join(&socket, &world, request, ack) }
        },
    );
    let steering = world.clone();
    socket.on("input", move |socket: Socket, Data(input): Data<Input>| {
        let seq = input.seq;
        if lock(&steering).input(socket.id(), input) {
            // The page shows how long an input takes to be applied; only the newest matters.
            let _ = socket.sequenced().emit("applied", seq);
        }
        async {}
    });
    socket.on("ping", |ack: AckSender| async move {
        let _ = ack.send("pong");
    });
    socket.on_disconnect(move |socket: Socket, _reason: DisconnectReason| {
        if let Some(game) = lock(&world).leave(socket.id())
            && let Some(Playing(name)) = socket.extensions().get::<Playing>()
        {
            notice(&socket.to(match_room(game)), format!("{name} left"));
        }
        async {}
    });
}

/// `join`: into a match's room, onto the lobby's presence, into the simulation.
fn join(socket: &Socket, world: &Shared, request: JoinMatch, ack: AckSender) {
    let name: String = request.name.trim().chars().take(24).collect();
    if name.is_empty() {
        let _ = ack.error("a name is required");
        return;
    }
    let joined = lock(world).join(socket.id(), &request.game, &name, request.bot);
    let (joined, game) = match joined {
        Ok(joined) => joined,
        Err(refused) => {
            let _ = ack.error(refused.to_string());
            return;
        }
    };
    for other in MATCHES.iter().filter(|&&other| other != game) {
        socket.leave(&match_room(other));
    }
    let meta = PlayerMeta {
        game: game.to_owned(),
        id: joined.id,
        color: color_of(joined.id).to_owned(),
        bot: request.bot,
    };
    if let Some(Playing(old)) = socket.extensions().get::<Playing>() {
        socket.presence(LOBBY).untrack(&old);
    }
    let entered = socket
        .join(match_room(game))
        .map_err(|err| err.to_string())
        .and_then(|()| {
            socket
                .presence(LOBBY)
                .track(&name, &meta)
                .map_err(|err| err.to_string())
        });
    match entered {
        Ok(()) => {
            notice(&socket.within(match_room(game)), format!("{name} joined"));
            socket.extensions().insert(Playing(name));
            let _ = ack.send(&joined);
        }
        Err(err) => {
            lock(world).leave(socket.id());
            let _ = ack.error(err);
        }
    }
}

/// A line of a match's feed: every player must see it, in whatever order, so it is unordered
/// and no lost packet holds up the snapshots or another notice.
fn notice(room: &BroadcastOperator, line: String) {
    let _ = room.clone().unordered().emit("notice", line);
}

/// The name a socket plays under, kept in its extensions.
#[derive(Clone)]
struct Playing(String);

/// Steps the world [`TICK_HZ`] times a second and sends each match its snapshot, a latest
/// value broadcast encoded once per codec whatever the number of players.
async fn tick(server: Server, world: Shared) {
    let rooms: Vec<(&str, String)> = MATCHES.iter().map(|&m| (m, match_room(m))).collect();
    let mut interval = tokio::time::interval(Duration::from_secs(1) / TICK_HZ);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let snapshots = lock(&world).step();
        for (game, snapshot) in snapshots {
            let Some((_, room)) = rooms.iter().find(|(name, _)| *name == game) else {
                continue;
            };
            let _ = server.to(room).latest("world").emit("snap", &snapshot);
        }
    }
}

/// The world; a handler that panicked mid-step left it usable, so poisoning is ignored.
fn lock(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}
