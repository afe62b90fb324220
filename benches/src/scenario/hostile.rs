//! `hostile`: one misbehaving client at a time against a release server on its default
//! limits (`serve --config defaults`). For each attack: the server's peak resident memory
//! over its baseline, its CPU time, and how long a fresh client takes to connect and get an
//! answer, over WebTransport and WebSocket, halfway through the attack and after it.
//!
//! The attacks are the ones the hardening issue measured, at ten times its sizes where a run
//! stays bounded (the churn and presence floods run for a fixed time instead of a count):
//! - `churn`: connect, `Hello`, drop, in a loop; each drop leaves a session for a resume.
//! - `large hello`: 5,000 drops whose `Hello` carries a 1 MiB client name.
//! - `backlog`: 40 connections sending 1 MiB events to a handler that sleeps 10 s.
//! - `initials`: 3,000 QUIC Initials that never finish their handshake, from 20 addresses.
//! - `presence`: one socket tracking ever more presence keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quicket::{Client, Raw};
use serde_json::json;

use self::attacks::Attack;
use super::start_server_with;
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::process::ServerProcess;
use crate::report::Report;

mod attacks;

const TABLE: &str = "One hostile client against the default limits";

/// How long a fresh client may take before it counts as kept out.
const FRESH_WITHIN: Duration = Duration::from_secs(10);

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    for attack in Attack::ALL {
        let config = ["--config".to_owned(), "defaults".to_owned()];
        let server = start_server_with("quicket", &config, report).await?;
        let target = Target::remote(&server)?;
        let row = measure(attack, options.quick, &server, &target).await;
        server.stop().await;
        report.row("hostile", TABLE, row?);
    }
    Ok(())
}

/// One attack against a fresh server, with its figures.
async fn measure(
    attack: Attack,
    quick: bool,
    server: &ServerProcess,
    target: &Target,
) -> Result<serde_json::Value> {
    let plan = attack.plan(quick);
    let prepared = attack.prepare(&plan).await?;
    let baseline = server.rss_bytes()?;
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let peak = AtomicU64::new(baseline);
    let attacking = async {
        let outcome = attack.run(server, &plan, prepared).await;
        done.store(true, Ordering::Relaxed);
        outcome
    };
    let sampling = async {
        while !done.load(Ordering::Relaxed) {
            if let Ok(rss) = server.rss_bytes() {
                peak.fetch_max(rss, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let during = async {
        tokio::time::sleep(plan.length / 2).await;
        fresh(target).await
    };
    let (outcome, (), during) = tokio::join!(attacking, sampling, during);
    let outcome = outcome?;
    let took = started.elapsed();
    peak.fetch_max(server.rss_bytes()?, Ordering::Relaxed);
    let cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let after = fresh(target).await;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    Ok(json!({
        "attack": attack.name(),
        "size": plan.describe(attack),
        "done": outcome,
        "seconds": took.as_secs_f64(),
        "baseline RSS MiB": mib(baseline),
        "peak RSS over baseline MiB": mib(peak.load(Ordering::Relaxed).saturating_sub(baseline)),
        "server CPU s": cpu.as_secs_f64(),
        "fresh WT during ms": during.0,
        "fresh WS during ms": during.1,
        "fresh WT after ms": after.0,
        "fresh WS after ms": after.1,
    }))
}

/// How long a fresh client takes to connect and have an event answered, over WebTransport
/// and over WebSocket; `None` when it did not within [`FRESH_WITHIN`].
async fn fresh(target: &Target) -> (Option<f64>, Option<f64>) {
    let (wt, ws) = tokio::join!(
        served_in(target, Transport::Wt),
        served_in(target, Transport::Ws)
    );
    (wt, ws)
}

async fn served_in(target: &Target, transport: Transport) -> Option<f64> {
    let started = Instant::now();
    let served = async {
        let client: Client = target.connect(transport, Client::builder()).await.ok()?;
        let echoed: Option<Raw> = client
            .emit_with_ack("echo", Raw(b"hi".to_vec().into()))
            .await
            .ok();
        client.disconnect().await;
        echoed
    };
    match tokio::time::timeout(FRESH_WITHIN, served).await {
        Ok(Some(_)) => Some(started.elapsed().as_secs_f64() * 1000.0),
        _ => None,
    }
}
