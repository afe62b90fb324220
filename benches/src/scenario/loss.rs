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

use super::{fanout, hol, paced, rtt, start_server_with};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::netns::LossyNamespace;
use crate::report::Report;

/// The loss rates measured; the first is the control.
const RATES: [f64; 3] = [0.0, 0.01, 0.05];

/// The tables this scenario fills.
pub(crate) const RTT_TABLE: &str = "Round trips through packet loss (acknowledged events)";
pub(crate) const VOLATILE_TABLE: &str =
    "Volatile round trips through packet loss (a ping every ms, each answered by a pong)";
pub(crate) const HOL_TABLE: &str =
    "Head-of-line: 32-byte events in room A beside 1.6 MB/s in room B, same connection";
pub(crate) const FANOUT_TABLE: &str = "Fan-out through packet loss (reliable, fixed rate)";
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
            rtt_row(&target, transport, congestion, rtt_count, percent, report).await?;
            let volatile = match transport {
                Transport::Wt => Transport::WtDgram,
                other => other,
            };
            volatile_row(&target, volatile, congestion, rtt_count.1, percent, report).await?;
        }
        for &transport in &transports {
            hol_row(&target, transport, congestion, hol_plan, percent, report).await?;
            let row = fanout::quicket_run(
                std::slice::from_ref(&target),
                &[&server],
                transport,
                fanout_plan,
                false,
            )
            .await?;
            report.row(
                "loss",
                FANOUT_TABLE,
                with(row, congestion, transport, percent),
            );
        }
        server.stop().await;
    }
    Ok(())
}

async fn rtt_row(
    target: &Target,
    transport: Transport,
    congestion: CongestionControl,
    (warmup, count): (u64, u64),
    percent: f64,
    report: &mut Report,
) -> Result<()> {
    let (sampler, _) = rtt::quicket_round_trips(target, None, transport, warmup, count).await?;
    let s = sampler.latencies.summary();
    let stack = format!("quicket {}", transport.name());
    if congestion == CongestionControl::default() {
        report.cdf(
            "loss-rtt-cdf",
            format!("{stack} {percent:.0} %"),
            sampler.latencies.cdf(),
        );
    }
    report.row(
        "loss",
        RTT_TABLE,
        json!({
            "stack": stack, "cc": cc_name(transport, congestion), "loss %": percent,
            "p50 µs": s.p50_us, "p99 µs": s.p99_us, "p99.9 µs": s.p999_us, "max µs": s.max_us,
        }),
    );
    Ok(())
}

async fn volatile_row(
    target: &Target,
    transport: Transport,
    congestion: CongestionControl,
    count: u64,
    percent: f64,
    report: &mut Report,
) -> Result<()> {
    let paced = paced::round_trips(target, transport, count, Duration::from_millis(1)).await?;
    let s = paced.latencies.summary();
    let stack = format!("quicket {} volatile", transport.name());
    if congestion == CongestionControl::default() {
        report.cdf(
            "loss-rtt-cdf",
            format!("{stack} {percent:.0} %"),
            paced.latencies.cdf(),
        );
    }
    report.row(
        "loss",
        VOLATILE_TABLE,
        json!({
            "stack": stack, "cc": cc_name(transport, congestion), "loss %": percent,
            "p50 µs": s.p50_us, "p99 µs": s.p99_us, "p99.9 µs": s.p999_us, "max µs": s.max_us,
            "answered %": 100.0 * paced.answered as f64 / paced.sent.max(1) as f64,
        }),
    );
    Ok(())
}

async fn hol_row(
    target: &Target,
    transport: Transport,
    congestion: CongestionControl,
    plan: hol::HolPlan,
    percent: f64,
    report: &mut Report,
) -> Result<()> {
    let outcome = hol::run(target, transport, plan).await?;
    let s = outcome.small.summary();
    let stack = format!("quicket {}", transport.name());
    let cc = cc_name(transport, congestion);
    if congestion == CongestionControl::default() {
        report.cdf(
            "loss-hol-cdf",
            format!("{stack} {percent:.0} %"),
            outcome.small.cdf(),
        );
    }
    report.row(
        "loss",
        HOL_TABLE,
        json!({
            "stack": stack, "cc": cc, "loss %": percent,
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

/// The congestion controller that paced a row: QUIC's, or the kernel's for TCP.
fn cc_name(transport: Transport, congestion: CongestionControl) -> &'static str {
    if transport == Transport::Ws {
        "kernel TCP"
    } else {
        congestion.name()
    }
}

fn with(
    mut row: Value,
    congestion: CongestionControl,
    transport: Transport,
    percent: f64,
) -> Value {
    if let Some(object) = row.as_object_mut() {
        object.insert("cc".to_owned(), json!(cc_name(transport, congestion)));
        object.insert("loss %".to_owned(), json!(percent));
    }
    row
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
    let (wt, dgram, ws) = (
        "quicket webtransport-stream",
        "quicket webtransport-datagram volatile",
        "quicket websocket",
    );
    let tcp = "kernel TCP";
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
            "baseline (one stream)",
        ),
        (
            "head-of-line: WebTransport A p99 at 5 % / at 0 %",
            ratio(
                find(HOL_TABLE, wt, "cubic", 5.0, "A p99 ms"),
                find(HOL_TABLE, wt, "cubic", 0.0, "A p99 ms"),
            ),
            "baseline (one stream)",
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
