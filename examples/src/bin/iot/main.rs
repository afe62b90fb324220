//! An IoT fleet's server: devices stream readings as sequenced datagrams, raise alerts that
//! are acked and acted on exactly once, and take commands; dashboards watch it live.
//!
//! `cargo run --release -p quicket-examples --bin iot`, then open the printed URL, and start
//! the devices with `cargo run --release -p quicket-examples --bin iot-devices`.
//! Flags: `--http PORT` (default 8080), `--quic PORT` (default 4433), `--heartbeat SECS`
//! (ping every SECS, drop a silent device after twice that; default 5).

mod fleet;

use std::sync::Arc;
use std::time::Duration;

use quicket::ws::axum::Json;
use quicket::ws::axum::routing::get;
use quicket::{
    AckSender, Data, DisconnectReason, Handshake, RecoveryConfig, Rejection, Server, ServerConfig,
    Socket,
};
use quicket_examples::iot::{
    Alert, AlertAck, AlertSeen, Auth, Command, CommandAck, CommandResult, DASHBOARD, DEVICES,
    DeviceCommand, DeviceMeta, Reading, device_room, group_room,
};
use quicket_examples::web::{Flags, Listen, page_routes, unix_ms};

use crate::fleet::Fleet;

const PAGE: &str = include_str!("../../../iot/index.html");
/// How long a command waits for the devices' acks.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    quicket_examples::web::log_to_stderr()?;
    let mut flags = Flags::from_env(
        "iot",
        "[--bind IP] [--http PORT] [--quic PORT] [--heartbeat SECS]",
    );
    let listen = Listen::from_flags(&mut flags, false);
    let heartbeat = Duration::from_secs(flags.value("--heartbeat", 5u64).max(1));
    flags.finish();

    // A device that drops shows offline at once; its session still waits the window, so a
    // device back within it resumes with nothing lost.
    let recovery = RecoveryConfig::default().presence_grace(Duration::ZERO);
    let config = ServerConfig::default()
        .ping_interval(heartbeat)
        .ping_timeout(heartbeat)
        .recovery(Some(recovery));

    let fleet = Arc::new(Fleet::default());
    let server = Server::builder()
        .config(config)
        .auth(|handshake: Handshake| async move { role(&handshake).map(|_| ()) })
        .on_connect({
            let fleet = fleet.clone();
            move |socket: Socket| on_connect(socket, fleet.clone())
        })
        .build();
    let routes = page_routes(PAGE).route(
        "/api/stats",
        get({
            let (server, fleet) = (server.clone(), fleet.clone());
            move || async move {
                let online = server.presence(DEVICES).await.len();
                Json(fleet.stats(online, false))
            }
        }),
    );
    let serving = listen.serve(&server, routes).await?;
    let reporting = tokio::spawn(report(server.clone(), fleet));
    println!("iot: open {}", listen.page_url(&serving));
    tokio::signal::ctrl_c().await?;
    reporting.abort();
    server.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// Who connects: a device with its id and group, or a dashboard.
enum Role {
    Device { id: String, group: String },
    Dashboard,
}

fn role(handshake: &Handshake) -> Result<Role, Rejection> {
    let auth: Auth = handshake
        .auth()
        .map_err(|_| Rejection::new("auth must be {role, device, group}"))?;
    let valid = |s: &str| !s.is_empty() && s.len() <= 64;
    match auth.role.as_str() {
        "dashboard" => Ok(Role::Dashboard),
        "device" if valid(&auth.device) && valid(&auth.group) => Ok(Role::Device {
            id: auth.device,
            group: auth.group,
        }),
        _ => Err(Rejection::new("a device needs an id and a group")),
    }
}

async fn on_connect(socket: Socket, fleet: Arc<Fleet>) {
    match role(socket.handshake()) {
        Ok(Role::Device { id, group }) => device(&socket, fleet, id, group),
        Ok(Role::Dashboard) => dashboard(&socket, fleet),
        // The auth hook refused these already.
        Err(_) => socket.disconnect(),
    }
}

fn device(socket: &Socket, fleet: Arc<Fleet>, id: String, group: String) {
    let meta = DeviceMeta {
        group: group.clone(),
        since: unix_ms(),
    };
    let entered = [DEVICES.to_owned(), group_room(&group), device_room(&id)]
        .into_iter()
        .try_for_each(|room| socket.join(room).map_err(|err| err.to_string()))
        .and_then(|()| {
            socket
                .presence(DEVICES)
                .track(&id, &meta)
                .map_err(|err| err.to_string())
        });
    if let Err(err) = entered {
        eprintln!("iot: {id} refused: {err}");
        socket.disconnect();
        return;
    }
    fleet.seen(&id, &group);
    let device = Arc::new((id, group));
    let (reading_fleet, reading_device) = (fleet.clone(), device.clone());
    socket.on("reading", move |Data(reading): Data<Reading>| {
        let (id, group) = &*reading_device;
        reading_fleet.reading(id, group, reading.v);
        async {}
    });
    let alert_device = device.clone();
    let alert_fleet = fleet.clone();
    socket.on(
        "alert",
        move |socket: Socket, Data(alert): Data<Alert>, ack: AckSender| {
            let (id, _) = &*alert_device;
            let fresh = alert_fleet.alert(id, alert.id);
            if fresh {
                let seen = AlertSeen {
                    device: id.clone(),
                    id: alert.id,
                    v: alert.v,
                    t: unix_ms(),
                };
                let _ = socket.to(DASHBOARD).emit("alert", &seen);
            }
            let _ = ack.send(AlertAck { duplicate: !fresh });
            async {}
        },
    );
    socket.on_disconnect(move |_: Socket, _: DisconnectReason| {
        let (id, group) = &*device;
        fleet.seen(id, group);
        async {}
    });
}

fn dashboard(socket: &Socket, fleet: Arc<Fleet>) {
    for room in [DASHBOARD, DEVICES] {
        if let Err(err) = socket.join(room) {
            eprintln!("iot: dashboard {} refused: {err}", socket.id());
            socket.disconnect();
            return;
        }
    }
    let listing = fleet.clone();
    socket.on("devices", move |socket: Socket, ack: AckSender| {
        let fleet = listing.clone();
        async move {
            let online = socket.presence(DEVICES).list().await;
            let rows = fleet.rows(|id| online.iter().any(|key| key.key == id));
            let _ = ack.send(rows);
        }
    });
    socket.on(
        "command",
        move |socket: Socket, Data(order): Data<Command>, ack: AckSender| {
            command(socket, fleet.clone(), order, ack)
        },
    );
}

/// `command`: to one device or a group, answered with who acked.
async fn command(socket: Socket, fleet: Arc<Fleet>, command: Command, ack: AckSender) {
    let room = if command.target.starts_with("dev-") {
        device_room(&command.target)
    } else if command.target.starts_with('g') {
        group_room(&command.target)
    } else {
        let _ = ack.error("a target is a device (dev-0042) or a group (g3)");
        return;
    };
    let order = DeviceCommand {
        id: fleet.next_command(),
        action: command.action.chars().take(64).collect(),
    };
    let replies = socket
        .to(room)
        .timeout(COMMAND_TIMEOUT)
        .emit_with_ack::<CommandAck, _>("command", order.clone())
        .await;
    let replies = match replies {
        Ok(replies) => replies,
        Err(err) => {
            let _ = ack.error(err.to_string());
            return;
        }
    };
    let mut acked: Vec<String> = replies
        .iter()
        .filter_map(|(_, reply)| reply.as_ref().ok().filter(|r| r.ok))
        .map(|reply| reply.device.clone())
        .collect();
    acked.sort_unstable();
    let sent = u32::try_from(replies.len()).unwrap_or(u32::MAX);
    let _ = ack.send(CommandResult {
        id: order.id,
        target: command.target,
        sent,
        missing: sent - u32::try_from(acked.len()).unwrap_or(sent),
        acked,
    });
}

/// Sends dashboards the stats of each second, as a latest value: a dashboard that fell behind
/// gets the newest second, not a backlog.
async fn report(server: Server, fleet: Arc<Fleet>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let online = server.presence(DEVICES).await.len();
        let _ = server
            .to(DASHBOARD)
            .latest("fleet")
            .emit("stats", fleet.stats(online, true));
    }
}
