//! `metrics`: what recording metrics costs. The same WebSocket fan-out to 1,000 receivers and
//! the same round trips (WebSocket, WebTransport stream) against a server with no metrics
//! recorder and one with the Prometheus recorder installed (`serve --metrics on`), taking turns
//! in one run so that the machine's noise falls on both alike.

use serde_json::{Value, json};

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
        (1_000, 10_000, 4)
    };
    for turn in 0..turns {
        for metrics in ["off", "on"] {
            let more = ["--metrics".to_owned(), metrics.to_owned()];
            let server = start_server_with("quicket", &more, report).await?;
            let target = Target::remote(&server)?;
            let mut row = |measure: String, p50: Value, p99: Value, cpu: Value| {
                let fields = json!({
                    "metrics": metrics,
                    "turn": turn,
                    "measure": measure,
                    "p50 ms": p50,
                    "p99 ms": p99,
                    "server CPU µs per op": cpu,
                });
                report.row("metrics", TABLE, fields);
            };
            for transport in [Transport::Ws, Transport::Wt] {
                let (sampler, cpu) =
                    rtt::quicket_round_trips(&target, Some(&server), transport, 500, round_trips)
                        .await?;
                let summary = sampler.latencies.summary();
                let cpu = cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / round_trips as f64);
                let ms = |us: f64| json!(us / 1000.0);
                row(
                    format!("rtt {}", transport.name()),
                    ms(summary.p50_us),
                    ms(summary.p99_us),
                    json!(cpu),
                );
            }
            let plan = Plan::metrics(receivers, options.quick);
            let fanout =
                fanout::quicket_run(&[target], &[&server], Transport::Ws, plan, false).await?;
            let field = |key: &str| fanout.get(key).cloned().unwrap_or(Value::Null);
            row(
                format!("fan-out ws to {receivers}"),
                field("p50 ms"),
                field("p99 ms"),
                field("server CPU µs/delivery"),
            );
            server.stop().await;
        }
    }
    Ok(())
}
