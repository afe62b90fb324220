//! `loss`: WebTransport against WebSocket under real kernel packet loss (0, 1 and 5 %).
//!
//! For each rate the suite creates a network namespace whose loopback drops that share of
//! packets (`crate::netns`), runs itself inside it (`loss-inside`), servers included, and
//! takes the rows that run wrote. Inside: round trips of acknowledged events (WebTransport
//! stream, WebSocket) and of volatile datagrams, head-of-line blocking, and fan-out to 100.
//! WebTransport rows are measured under each QUIC congestion controller.

use std::process::Stdio;
use std::time::Duration;

use quicket_quic::CongestionControl;
use serde_json::{Value, json};

use super::{fanout, hol, paced, rtt, staleness, start_server_with};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::netns::LossyNamespace;
use crate::report::Report;
use crate::stats::Latencies;

/// The loss rates measured; the first is the control.
const RATES: [f64; 3] = [0.0, 0.01, 0.05];

/// The tables this scenario fills.
pub(crate) const RTT_TABLE: &str = "Round trips through packet loss (acknowledged events)";
pub(crate) const VOLATILE_TABLE: &str =
    "Volatile round trips through packet loss (a ping every ms, each answered by a pong)";
pub(crate) const HOL_TABLE: &str =
    "Head-of-line: 32-byte events in room A beside 1.6 MB/s in room B, same connection";
pub(crate) const FANOUT_TABLE: &str = "Fan-out through packet loss (reliable, fixed rate)";
pub(crate) const STALENESS_TABLE: &str =
    "Latest values (2 KiB every 10 ms) and sequenced events (64 B every 2 ms) through packet loss";
const TARGETS_TABLE: &str = "Loss: the targets, as ratios of this run";

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    for loss in RATES {
        if let Err(err) = run_in_namespace(loss, options, report).await {
            report.skip(
                &format!("loss {:.0} %", loss * 100.0),
                &format!(
                    "{err} (the loss scenario needs root and nftables: apt-get install nftables)"
                ),
            );
        }
    }
    targets(report);
    Ok(())
}

/// Runs `loss-inside` in a fresh namespace dropping `loss`, and takes its rows.
async fn run_in_namespace(loss: f64, options: &RunOptions, report: &mut Report) -> Result<()> {
    let namespace = LossyNamespace::create(loss)?;
    let out = options.out.join(format!("loss-{:.0}", loss * 1000.0));
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or("the executable path is not UTF-8")?;
    let mut command = namespace.command(exe);
    command
        .args(["loss-inside", "--loss", &loss.to_string(), "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if options.quick {
        command.arg("--quick");
    }
    let status = tokio::time::timeout(Duration::from_secs(900), command.status())
        .await
        .map_err(|_| "the run inside the namespace took over 15 minutes")??;
    let dropped = namespace.dropped();
    drop(namespace);
    if !status.success() {
        return Err(format!("the run inside the namespace failed: {status}").into());
    }
    report.absorb(&out.join("results.jsonl"))?;
    if let Some(dropped) = dropped {
        eprintln!(
            "  loss {:.0} %: the kernel dropped {dropped} packets",
            loss * 100.0
        );
    }
    Ok(())
}

/// `quicket-bench loss-inside`: every measurement at one loss rate, in this namespace.
pub(crate) async fn inside(loss: f64, options: &RunOptions, report: &mut Report) -> Result<()> {
    let percent = loss * 100.0;
    let rtt_count = if options.quick {
        (20, 200)
    } else {
        (100, 2_000)
    };
    let hol_plan = hol::HolPlan::new(options.quick);
    let fanout_plan = fanout::Plan::lossy(options.quick);
    let staleness_plan = staleness::Plan::new(options.quick);
    let mut ws_done = false;
    for congestion in CongestionControl::ALL {
        let server = start_server_with(
            "quicket",
            &["--cc".to_owned(), congestion.name().to_owned()],
            report,
        )
        .await?;
        let target = Target::remote_with(&server, congestion)?;
        let mut transports = vec![Transport::Wt];
        // WebSocket rides TCP, whose congestion control is the kernel's: measure it once.
        if !ws_done {
            transports.push(Transport::Ws);
            ws_done = true;
        }
        for &transport in &transports {
            let cell = Cell {
                transport,
                congestion,
                percent,
            };
            rtt_row(&target, cell, rtt_count, report).await?;
            let volatile = match transport {
                Transport::Wt => Transport::WtDgram,
                other => other,
            };
            let volatile = Cell {
                transport: volatile,
                ..cell
            };
            volatile_row(&target, volatile, rtt_count.1, report).await?;
            hol_row(&target, cell, hol_plan, false, report).await?;
            if transport == Transport::Wt {
                hol_row(&target, cell, hol_plan, true, report).await?;
            }
            // The classes ride QUIC's streams and datagrams, whatever paces them: the
            // default controller is enough.
            if congestion == CongestionControl::default() {
                for pump in [staleness_plan.latest, staleness_plan.sequenced] {
                    staleness_row(&target, cell, pump, report).await?;
                }
            }
            let mut row = fanout::quicket_run(
                std::slice::from_ref(&target),
                &[&server],
                transport,
                fanout_plan,
                false,
            )
            .await?;
            merge(&mut row, json!({ "cc": cell.cc(), "loss %": percent }));
            report.row("loss", FANOUT_TABLE, row);
        }
        server.stop().await;
    }
    Ok(())
}

/// Where a measurement goes: the transport, the controller and the loss rate of its row.
#[derive(Clone, Copy)]
struct Cell {
    transport: Transport,
    congestion: CongestionControl,
    percent: f64,
}

impl Cell {
    /// The controller that paced it: QUIC's, or the kernel's for TCP.
    fn cc(self) -> &'static str {
        if self.transport == Transport::Ws {
            "kernel TCP"
        } else {
            self.congestion.name()
        }
    }

    /// Adds `latencies` to `plot`, for the default controller only (one curve per stack).
    fn plot(self, report: &mut Report, plot: &str, stack: &str, latencies: &Latencies) {
        if self.congestion == CongestionControl::default() {
            let name = format!("{stack} {:.0} %", self.percent);
            report.cdf(plot, name, latencies.cdf());
        }
    }

    /// A row of `table` in microseconds, with `more` columns after the percentiles.
    fn latency_row(
        self,
        report: &mut Report,
        table: &str,
        stack: &str,
        latencies: &Latencies,
        more: Value,
    ) {
        self.plot(report, "loss-rtt-cdf", stack, latencies);
        let s = latencies.summary();
        let mut row = json!({
            "stack": stack, "cc": self.cc(), "loss %": self.percent,
            "p50 µs": s.p50_us, "p99 µs": s.p99_us, "p99.9 µs": s.p999_us, "max µs": s.max_us,
        });
        merge(&mut row, more);
        report.row("loss", table, row);
    }
}

async fn rtt_row(
    target: &Target,
    cell: Cell,
    (warmup, count): (u64, u64),
    report: &mut Report,
) -> Result<()> {
    let (sampler, _) =
        rtt::quicket_round_trips(target, None, cell.transport, warmup, count).await?;
    let stack = format!("quicket {}", cell.transport.name());
    cell.latency_row(report, RTT_TABLE, &stack, &sampler.latencies, json!({}));
    Ok(())
}

async fn volatile_row(target: &Target, cell: Cell, count: u64, report: &mut Report) -> Result<()> {
    let paced = paced::round_trips(target, cell.transport, count, Duration::from_millis(1)).await?;
    let stack = format!("quicket {} volatile", cell.transport.name());
    let answered = 100.0 * paced.answered as f64 / paced.sent.max(1) as f64;
    cell.latency_row(
        report,
        VOLATILE_TABLE,
        &stack,
        &paced.latencies,
        json!({ "answered %": answered }),
    );
    Ok(())
}

async fn hol_row(
    target: &Target,
    cell: Cell,
    plan: hol::HolPlan,
    one_channel: bool,
    report: &mut Report,
) -> Result<()> {
    let outcome = hol::run(target, cell.transport, plan, one_channel).await?;
    let s = outcome.small.summary();
    let suffix = if one_channel { ", one channel" } else { "" };
    let stack = format!("quicket {}{suffix}", cell.transport.name());
    cell.plot(report, "loss-hol-cdf", &stack, &outcome.small);
    report.row(
        "loss",
        HOL_TABLE,
        json!({
            "stack": stack, "cc": cell.cc(), "loss %": cell.percent,
            "A p50 ms": s.p50_us / 1000.0, "A p99 ms": s.p99_us / 1000.0,
            "A p99.9 ms": s.p999_us / 1000.0, "A max ms": s.max_us / 1000.0,
            "A delivered": format!("{}/{}", outcome.small_received, outcome.small_sent),
            "B MB/s offered": plan.bulk_rate() / 1e6,
            "B MB/s received": outcome.bulk_received_bytes as f64 / plan.duration.as_secs_f64() / 1e6,
            "B refused": outcome.bulk_refused,
        }),
    );
    Ok(())
}

async fn staleness_row(
    target: &Target,
    cell: Cell,
    pump: crate::echo::Pump,
    report: &mut Report,
) -> Result<()> {
    let outcome = staleness::run(target, cell.transport, pump).await?;
    let s = outcome.staleness.summary();
    let every_ms = f64::from(pump.every_us) / 1000.0;
    let class = if pump.latest { "latest" } else { "sequenced" };
    // Sequenced events ride datagrams on WebTransport, and the row says so.
    let carrier = match cell.transport {
        Transport::Wt if !pump.latest => Transport::WtDgram,
        other => other,
    };
    report.row(
        "loss",
        STALENESS_TABLE,
        json!({
            "stack": format!("quicket {}", carrier.name()), "class": class,
            "cc": cell.cc(), "loss %": cell.percent, "every ms": every_ms,
            "handled %": 100.0 * outcome.handled as f64 / outcome.sent.max(1) as f64,
            "staleness p50 ms": s.p50_us / 1000.0, "staleness p99 ms": s.p99_us / 1000.0,
            "p99 / interval": s.p99_us / 1000.0 / every_ms,
            "backwards": outcome.backwards,
        }),
    );
    Ok(())
}

/// `into` with `from`'s columns added after its own.
fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// The targets as ratios between rows of this run (Cubic, quicket's default).
fn targets(report: &mut Report) {
    let find = |table: &str, stack: &str, cc: &str, percent: f64, key: &str| {
        report.rows(table).find_map(|row| {
            (row["stack"] == stack && row["cc"] == cc && row["loss %"].as_f64() == Some(percent))
                .then(|| row[key].as_f64())
                .flatten()
        })
    };
    let (wt, wt_one, dgram, ws) = (
        "quicket webtransport-stream",
        "quicket webtransport-stream, one channel",
        "quicket webtransport-datagram volatile",
        "quicket websocket",
    );
    let tcp = "kernel TCP";
    let class = |stack: &str, class: &str, key: &str| {
        report.rows(STALENESS_TABLE).find_map(|row| {
            (row["stack"] == stack && row["class"] == class && row["loss %"].as_f64() == Some(5.0))
                .then(|| row[key].as_f64())
                .flatten()
        })
    };
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b.max(1e-9));
    let rows = [
        (
            "WebTransport stream RTT p99 / WebSocket's, 5 % loss",
            ratio(
                find(RTT_TABLE, wt, "cubic", 5.0, "p99 µs"),
                find(RTT_TABLE, ws, tcp, 5.0, "p99 µs"),
            ),
            "≤ 0.25",
        ),
        (
            "datagram RTT p99 at 5 % / at 0 %",
            ratio(
                find(VOLATILE_TABLE, dgram, "cubic", 5.0, "p99 µs"),
                find(VOLATILE_TABLE, dgram, "cubic", 0.0, "p99 µs"),
            ),
            "≤ 2",
        ),
        (
            "head-of-line: WebTransport A p99 / WebSocket's, 5 % loss",
            ratio(
                find(HOL_TABLE, wt, "cubic", 5.0, "A p99 ms"),
                find(HOL_TABLE, ws, tcp, 5.0, "A p99 ms"),
            ),
            "≤ 0.1",
        ),
        (
            "head-of-line: WebTransport A p99 at 5 % / at 0 %",
            ratio(
                find(HOL_TABLE, wt, "cubic", 5.0, "A p99 ms"),
                find(HOL_TABLE, wt, "cubic", 0.0, "A p99 ms"),
            ),
            "≤ 2",
        ),
        (
            "head-of-line: WebTransport A p99 with channels / with one channel, 5 % loss",
            ratio(
                find(HOL_TABLE, wt, "cubic", 5.0, "A p99 ms"),
                find(HOL_TABLE, wt_one, "cubic", 5.0, "A p99 ms"),
            ),
            "< 1",
        ),
        (
            "latest value: WebTransport staleness p99 in send intervals, 5 % loss",
            class(wt, "latest", "p99 / interval"),
            "≤ 3",
        ),
        (
            "sequenced: WebTransport events handled after a newer one, 5 % loss",
            class("quicket webtransport-datagram", "sequenced", "backwards"),
            "0",
        ),
        (
            "latest value: WebTransport staleness p99 / WebSocket's, 5 % loss",
            ratio(
                class(wt, "latest", "staleness p99 ms"),
                class(ws, "latest", "staleness p99 ms"),
            ),
            "< 1",
        ),
    ];
    for (figure, value, target) in rows {
        report.row(
            "loss",
            TARGETS_TABLE,
            json!({ "figure": figure, "ratio": value, "target": target }),
        );
    }
}
