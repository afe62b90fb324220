//! `loss`: QUIC through a lossy relay (drops, duplicates, reorders) at 0, 1 and 5 %: round
//! trips on the stream and on datagrams, and fan-out latency. WebSocket would need `tc netem`,
//! which is probed and reported when it is missing.

use std::process::Command;

use serde_json::json;

use super::{fanout, rtt, start_server};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::report::Report;

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    if !options
        .transports
        .iter()
        .any(|t| matches!(t, Transport::Wt | Transport::WtDgram))
    {
        return Ok(());
    }
    let (warmup, count) = if options.quick {
        (50, 300)
    } else {
        (500, 5_000)
    };
    for loss in [0.0, 0.01, 0.05] {
        let server = start_server("quicket", report).await?;
        let target = Target::lossy(&server, loss)?;
        for transport in [Transport::Wt, Transport::WtDgram] {
            let (sampler, _) =
                rtt::quicket_round_trips(&target, None, transport, warmup, count).await?;
            let s = sampler.latencies.summary();
            report.row(
                "loss",
                "Round trips through packet loss (QUIC)",
                json!({
                    "stack": format!("quicket {}", transport.name()),
                    "loss %": loss * 100.0,
                    "p50 µs": s.p50_us,
                    "p99 µs": s.p99_us,
                    "max µs": s.max_us,
                    "round trips lost": sampler.lost,
                }),
            );
        }
        let plan = fanout::Plan::lossy(options.quick);
        let row = fanout::quicket_run(
            std::slice::from_ref(&target),
            &[],
            Transport::Wt,
            plan,
            false,
        )
        .await?;
        report.row(
            "loss",
            "Fan-out through packet loss (QUIC, reliable)",
            with_loss(row, loss),
        );
        server.stop().await;
    }
    match netem_available() {
        Ok(()) => report.skip(
            "WebSocket through loss",
            "tc netem works here, but the WebSocket loss run is not written yet",
        ),
        Err(why) => report.skip(
            "WebSocket through loss",
            &format!("tc netem is not usable on this machine: {why}"),
        ),
    }
    Ok(())
}

fn with_loss(mut row: serde_json::Value, loss: f64) -> serde_json::Value {
    if let Some(object) = row.as_object_mut() {
        object.insert("loss %".to_owned(), json!(loss * 100.0));
    }
    row
}

/// Whether a netem qdisc can be set up in a throwaway network namespace.
fn netem_available() -> std::result::Result<(), String> {
    let name = format!("quicket-bench-{}", std::process::id());
    let run = |args: &[&str]| Command::new("ip").args(args).output();
    let created = run(&["netns", "add", &name]).map_err(|err| err.to_string())?;
    if !created.status.success() {
        return Err(String::from_utf8_lossy(&created.stderr).trim().to_owned());
    }
    let netem = run(&[
        "netns", "exec", &name, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", "1%",
    ]);
    let _ = run(&["netns", "del", &name]);
    let netem = netem.map_err(|err| err.to_string())?;
    if netem.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&netem.stderr).trim().to_owned())
    }
}
