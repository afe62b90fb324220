//! `metrics`: what recording metrics costs. The same WebSocket fan-out to 1,000 receivers and
//! the same round trips (WebSocket, WebTransport stream) against a server with no metrics
//! recorder and one with the Prometheus recorder installed (`serve --metrics on`), taking turns
//! in one run so that the machine's noise falls on both alike.

use serde_json::json;

use super::fanout::{self, Plan};
use super::{rtt, start_server_with};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::report::Report;

const TABLE: &str = "What metrics cost: the same load with the recorder off and on";

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let (receivers, round_trips, turns) = if options.quick {
        (20, 1_000, 1)
    } else {
        (1_000, 10_000, 2)
    };
    for turn in 0..turns {
        for metrics in ["off", "on"] {
            let more = ["--metrics".to_owned(), metrics.to_owned()];
            let server = start_server_with("quicket", &more, report).await?;
            let target = Target::remote(&server)?;
            for transport in [Transport::Ws, Transport::Wt] {
                let (sampler, cpu) =
                    rtt::quicket_round_trips(&target, Some(&server), transport, 500, round_trips)
                        .await?;
                let summary = sampler.latencies.summary();
                let cpu_us = cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / round_trips as f64);
                report.row(
                    "metrics",
                    TABLE,
                    json!({
                        "metrics": metrics,
                        "turn": turn,
                        "measure": format!("rtt {}", transport.name()),
                        "p50 ms": summary.p50_us / 1000.0,
                        "p99 ms": summary.p99_us / 1000.0,
                        "server CPU µs per op": cpu_us,
                    }),
                );
            }
            let plan = Plan::metrics(receivers, options.quick);
            let fanout =
                fanout::quicket_run(&[target], &[&server], Transport::Ws, plan, false).await?;
            let fields = |key: &str| fanout.get(key).cloned().unwrap_or(serde_json::Value::Null);
            report.row(
                "metrics",
                TABLE,
                json!({
                    "metrics": metrics,
                    "turn": turn,
                    "measure": format!("fan-out ws to {receivers}"),
                    "p50 ms": fields("p50 ms"),
                    "p99 ms": fields("p99 ms"),
                    "server CPU µs per op": fields("server CPU µs/delivery"),
                }),
            );
            server.stop().await;
        }
    }
    Ok(())
}
