//! `metrics`: what recording metrics costs. The same WebSocket fan-out to 1,000 receivers and
//! the same round trips (WebSocket, WebTransport stream) against a server with no metrics
//! recorder and one with the Prometheus recorder installed (`serve --metrics on`), beside a
//! second server without a recorder as the control.
//!
//! The three take turns request by request: a round trip to each in turn, and a fan-out
//! message to each in turn, so that each server's samples lie side by side in time with the
//! others' and a slow spell of the shared machine falls on all three alike. They are started
//! afresh for every round, each going first in turn; each figure is the median over the
//! rounds, and each ratio the median of the ratios within a round. The machine is shared: two
//! identical servers measured one after the other differed by up to 40 % here, and by up to
//! 13 % at p99 when they took turns a whole measure at a time, which drowned the recorder's
//! cost. The control's ratio shows what noise is left.

use serde_json::{Value, json};

use super::fanout::{self, Plan};
use super::{rtt, start_server_with};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::process::ServerProcess;
use crate::report::Report;

const TABLE: &str = "What metrics cost: the same load with the recorder off and on";

/// The servers compared, as the rows name them, with their `--metrics` setting. The control
/// is a second server without a recorder: its ratio to the first is the noise floor of the
/// same run, against which the recorder's ratio reads.
const VARIANTS: [(&str, &str); 3] = [("off", "off"), ("on", "on"), ("off (control)", "off")];

/// What each round measures, as the rows name it.
const MEASURES: [&str; 3] = ["rtt websocket", "rtt webtransport-stream", "fan-out ws"];

/// One measure of one round: p50 and p99 in ms, server CPU µs per op.
type Figures = [Option<f64>; 3];

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let (receivers, round_trips, rounds) = if options.quick {
        (20, 1_000, 1)
    } else {
        (1_000, 3_000, 16)
    };
    // figures[variant][measure][round]
    let mut figures = vec![vec![Vec::<Figures>::new(); MEASURES.len()]; VARIANTS.len()];
    for round in 0..rounds {
        // Fresh processes every round: one server process can be 10 % slower than another of
        // the same build for its whole life (seen here), and with 4 rounds per process two
        // slow ones still moved a run's median by 10 %.
        let servers = start_servers(round, report).await?;
        // The servers take turns within each measure, each going first in turn.
        let mut order: Vec<usize> = (0..VARIANTS.len()).collect();
        order.rotate_left(round % VARIANTS.len());
        let turns: Vec<&(ServerProcess, Target)> = order.iter().map(|&v| &servers[v]).collect();
        let measured = measure_round(&turns, receivers, round_trips, options.quick).await?;
        for (&variant, per_measure) in order.iter().zip(measured) {
            for (measure, round_figures) in per_measure.into_iter().enumerate() {
                figures[variant][measure].push(round_figures);
            }
        }
        for (server, _) in servers {
            server.stop().await;
        }
    }
    for (variant, per_measure) in figures.iter().enumerate() {
        for (measure, rounds_figures) in per_measure.iter().enumerate() {
            let name = measure_name(measure, receivers);
            row(
                report,
                VARIANTS[variant].0,
                &name,
                rounds,
                medians(rounds_figures),
            );
        }
    }
    for (variant, compared) in figures.iter().enumerate().skip(1) {
        let label = format!("{} ÷ off", VARIANTS[variant].0);
        for (measure, (off, compared)) in figures[0].iter().zip(compared).enumerate() {
            // A round's runs follow each other, so the machine's mood changes less between
            // them than between rounds: the ratio within each round, then the median ratio.
            let ratios: Vec<Figures> = off
                .iter()
                .zip(compared)
                .map(|(off, other)| {
                    std::array::from_fn(|i| off[i].zip(other[i]).map(|(off, other)| other / off))
                })
                .collect();
            let name = measure_name(measure, receivers);
            row(report, &label, &name, rounds, medians(&ratios));
        }
    }
    Ok(())
}

/// A server of each of [`VARIANTS`], in their order, started in an order that turns with
/// `round`.
async fn start_servers(round: usize, report: &Report) -> Result<Vec<(ServerProcess, Target)>> {
    let mut order: Vec<usize> = (0..VARIANTS.len()).collect();
    order.rotate_left(round % VARIANTS.len());
    let mut started = Vec::with_capacity(VARIANTS.len());
    for variant in order {
        let more = ["--metrics".to_owned(), VARIANTS[variant].1.to_owned()];
        let server = start_server_with("quicket", &more, report).await?;
        let target = Target::remote(&server)?;
        started.push((variant, (server, target)));
    }
    started.sort_by_key(|(variant, _)| *variant);
    Ok(started.into_iter().map(|(_, server)| server).collect())
}

/// One round against the servers, taking turns: for each server, in their order, its figures
/// in [`MEASURES`]'s order.
async fn measure_round(
    servers: &[&(ServerProcess, Target)],
    receivers: usize,
    round_trips: u64,
    quick: bool,
) -> Result<Vec<Vec<Figures>>> {
    let mut figures = vec![Vec::with_capacity(MEASURES.len()); servers.len()];
    for transport in [Transport::Ws, Transport::Wt] {
        let pairs: Vec<_> = servers.iter().map(|(p, t)| (t, Some(p))).collect();
        let measured = rtt::interleaved_round_trips(&pairs, transport, 200, round_trips).await?;
        for (figures, (sampler, cpu)) in figures.iter_mut().zip(measured) {
            let summary = sampler.latencies.summary();
            let cpu = cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / round_trips as f64);
            figures.push([
                Some(summary.p50_us / 1000.0),
                Some(summary.p99_us / 1000.0),
                cpu,
            ]);
        }
    }
    let plan = Plan::metrics(receivers, quick);
    let pairs: Vec<_> = servers.iter().map(|(p, t)| (t, p)).collect();
    let rows = fanout::interleaved_run(&pairs, Transport::Ws, plan).await?;
    for (figures, row) in figures.iter_mut().zip(rows) {
        let field = |key: &str| row.get(key).and_then(Value::as_f64);
        figures.push([
            field("p50 ms"),
            field("p99 ms"),
            field("server CPU µs/delivery"),
        ]);
    }
    Ok(figures)
}

/// Reports one measure's figures under `metrics` (a variant, or their ratio).
fn row(report: &mut Report, metrics: &str, measure: &str, rounds: usize, figures: Figures) {
    let [p50, p99, cpu] = figures;
    let fields = json!({
        "metrics": metrics,
        "measure": measure,
        "rounds": rounds,
        "p50 ms": p50,
        "p99 ms": p99,
        "server CPU µs per op": cpu,
    });
    report.row("metrics", TABLE, fields);
}

/// How the rows name `MEASURES[measure]`.
fn measure_name(measure: usize, receivers: usize) -> String {
    match MEASURES[measure] {
        "fan-out ws" => format!("fan-out ws to {receivers}"),
        other => other.to_owned(),
    }
}

/// The median of each figure over the rounds that measured it.
fn medians(rounds: &[Figures]) -> [Option<f64>; 3] {
    std::array::from_fn(|index| {
        let mut values: Vec<f64> = rounds.iter().filter_map(|r| r[index]).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        match values.len() {
            0 => None,
            n if n % 2 == 1 => Some(values[middle]),
            _ => Some(f64::midpoint(values[middle - 1], values[middle])),
        }
    })
}
