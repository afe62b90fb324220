//! Simulated IoT devices: native clients over WebTransport, one connection each, sharing one
//! UDP socket. Each sends a reading a second as a sequenced datagram (the server never handles
//! a reading older than one it has; docs/delivery-classes.md), now and then an alert
//! (reliable, resent until acked), and acks the commands it gets.
//!
//! `cargo run --release -p quicket-examples --bin iot-devices -- --count 1000`
//! Flags: `--url URL` (default `http://127.0.0.1:8080`), `--count N` (default 1,000),
//! `--first K` (number the devices from K; default 0), `--seconds S` (stop reading after S
//! readings and stay connected; default 0, never stop).
//! Prints `devices {json}` once a second, and `devices done {json}` once every device has
//! sent its readings and had its alerts acked.

mod tally;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use quicket::quic::QuicConnector;
use quicket::{AckSender, Client, ClientBuilder, Data, ReconnectEvent};
use quicket_examples::iot::{
    Alert, AlertAck, Auth, CommandAck, DeviceCommand, Reading, device_id, group_of,
};
use quicket_examples::web::{Flags, Rng};
use tokio::sync::{Semaphore, mpsc};

use crate::tally::{Tally, bump};

/// Attempts at the first connection before a device gives up: a device in the field tries
/// again after a failed dial, as it does after a drop (its reconnects are the client's own).
const FIRST_CONNECT_ATTEMPTS: u32 = 5;

/// Handshakes under way at once, so a thousand devices do not all dial in the same instant.
const DIALING: usize = 32;
/// The share of readings that spike and raise an alert.
const ALERT_CHANCE: f64 = 0.02;
/// How long an alert waits for its ack before it is sent again.
const ALERT_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before an alert is sent again.
const ALERT_RETRY: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flags = Flags::from_env(
        "iot-devices",
        "[--url http://HOST:PORT] [--count N] [--first N] [--seconds SECS]",
    );
    let url = flags.value("--url", "http://127.0.0.1:8080".to_owned());
    let count = flags.value("--count", 1000usize);
    let first = flags.value("--first", 0usize);
    let seconds = flags.value("--seconds", 0u64);
    flags.finish();

    let discovery = quicket::discover(&url).await?;
    let webtransport = discovery
        .webtransport
        .clone()
        .ok_or("the server offers no WebTransport")?;
    let connector = QuicConnector::new(webtransport, discovery.server_trust())?;
    let tally = Arc::new(Tally::default());
    let reporting = tokio::spawn(report(tally.clone(), count));
    let dialing = Arc::new(Semaphore::new(DIALING));
    let mut devices = Vec::with_capacity(count);
    for n in first..first + count {
        let (connector, tally, dialing) = (connector.clone(), tally.clone(), dialing.clone());
        devices.push(tokio::spawn(async move {
            let permit = dialing.acquire_owned().await;
            let Some(client) = first_connect(n, &tally, &connector).await else {
                return;
            };
            drop(permit);
            bump(&tally.connected);
            run(&client, n, &tally, seconds).await;
            client.closed().await;
            tally.connected.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    tokio::signal::ctrl_c().await?;
    reporting.abort();
    for device in devices {
        device.abort();
    }
    println!("devices {}", tally.line());
    Ok(())
}

/// Device `n`: its auth, and its handler of commands.
fn builder(n: usize, tally: &Arc<Tally>) -> ClientBuilder {
    let id = device_id(n);
    let auth = Auth {
        role: "device".to_owned(),
        device: id.clone(),
        group: group_of(n),
    };
    let commands = tally.clone();
    let reconnects = tally.clone();
    let number = u32::try_from(n).unwrap_or(u32::MAX);
    Client::builder()
        .auth(auth)
        .on(
            "command",
            move |Data(command): Data<DeviceCommand>, ack: AckSender| {
                let ok = commands.command(command.id, number);
                let _ = ack.send(CommandAck {
                    device: id.clone(),
                    ok,
                });
                async {}
            },
        )
        .on_reconnect(move |event| {
            if let ReconnectEvent::Reconnected { recovered, .. } = event {
                bump(&reconnects.reconnects);
                if *recovered {
                    bump(&reconnects.recovered);
                }
            }
        })
}

/// Sends a reading a second (`seconds` of them, or forever at 0), raising alerts on spikes.
async fn run(client: &Client, n: usize, tally: &Arc<Tally>, seconds: u64) {
    let mut rng = Rng::new(n as u64 + 1);
    // Spread the fleet over the second rather than reading all at once.
    tokio::time::sleep(Duration::from_millis(rng.below(1000))).await;
    let (alerts, queue) = mpsc::channel(64);
    let alerting = tokio::spawn(send_alerts(client.clone(), queue, tally.clone()));
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let phase = rng.unit() * std::f64::consts::TAU;
    let mut alert_id = 0;
    for reading in 1.. {
        if seconds > 0 && reading > seconds {
            break;
        }
        ticks.tick().await;
        #[expect(clippy::cast_precision_loss, reason = "a slow wave over the readings")]
        let wave = (reading as f64 / 30.0 + phase).sin();
        let mut value = 21.0 + 4.0 * wave + rng.unit() - 0.5;
        let spike = rng.unit() < ALERT_CHANCE;
        if spike {
            value += 15.0;
        }
        #[expect(clippy::cast_possible_truncation, reason = "a temperature")]
        let v = value as f32;
        bump(&tally.readings);
        if client
            .sequenced()
            .emit("reading", Reading { n: reading, v })
            .is_err()
        {
            bump(&tally.reading_errors);
        }
        if spike {
            alert_id += 1;
            // A full queue means alerts pile up faster than they are acked: wait.
            let _ = alerts.send(Alert { id: alert_id, v }).await;
        }
    }
    drop(alerts);
    let _ = alerting.await;
    bump(&tally.finished);
}

/// Sends alerts one at a time, in order, each until it is acked: the server acts on each id
/// once, so a resend after a lost ack is harmless.
async fn send_alerts(client: Client, mut queue: mpsc::Receiver<Alert>, tally: Arc<Tally>) {
    while let Some(alert) = queue.recv().await {
        bump(&tally.alerts_raised);
        loop {
            let sent = client
                .emit_with_ack::<AlertAck>("alert", alert)
                .timeout(ALERT_ACK_TIMEOUT)
                .await;
            match sent {
                Ok(ack) => {
                    bump(&tally.alerts_acked);
                    if ack.duplicate {
                        bump(&tally.duplicate_acks);
                    }
                    break;
                }
                // Offline, or the ack was lost with a connection: try again, unless the client
                // gave up reconnecting.
                Err(_) => {
                    bump(&tally.alert_retries);
                    tokio::select! {
                        () = tokio::time::sleep(ALERT_RETRY) => {}
                        _ = client.closed() => return,
                    }
                }
            }
        }
    }
}

/// Prints the tally once a second, and `devices done` once every device finished.
async fn report(tally: Arc<Tally>, count: usize) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    let mut done = false;
    loop {
        interval.tick().await;
        println!("devices {}", tally.line());
        let finished = tally.finished.load(Ordering::Relaxed);
        if !done && usize::try_from(finished).is_ok_and(|f| f == count) {
            done = true;
            println!("devices done {}", tally.line());
        }
    }
}

/// Device `n`'s first connection, retried with a growing pause; `None` once it gives up.
async fn first_connect(n: usize, tally: &Arc<Tally>, connector: &QuicConnector) -> Option<Client> {
    for attempt in 1..=FIRST_CONNECT_ATTEMPTS {
        match builder(n, tally).connect(connector).await {
            Ok(client) => return Some(client),
            Err(err) => {
                eprintln!(
                    "iot-devices: {} could not connect (attempt {attempt}): {}",
                    device_id(n),
                    quicket::with_causes(&err)
                );
                tokio::time::sleep(Duration::from_millis(250) * attempt).await;
            }
        }
    }
    None
}
