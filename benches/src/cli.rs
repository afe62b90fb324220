//! The command line, and what each command runs.

use std::path::PathBuf;

use quicket_quic::CongestionControl;

use crate::report::Report;
use crate::{baseline, echo, machine, scenario};

/// What the suite's functions return.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T> = std::result::Result<T, BoxError>;

const USAGE: &str = "usage:
  quicket-bench all [--quick] [--out DIR]
  quicket-bench rtt|fanout|connect|memory|loss|cluster [--transport wt|wt-dgram|ws|mem] [--quick] [--out DIR]
  quicket-bench migration [--transport wt|ws] [--quick] [--out DIR]
  quicket-bench hostile|metrics|scale [--quick] [--out DIR]
  quicket-bench serve --kind quicket|udp|quinn|wt|ws [--redis URL | --redis-cluster URL,URL,..] [--cc cubic|newreno|bbr] [--config bench|defaults] [--metrics on|off] [--durable on|off]
  quicket-bench loss-inside --loss FRACTION [--quick] --out DIR   (the loss scenario runs this in its namespace)";

/// A scenario of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Rtt,
    Fanout,
    Connect,
    Memory,
    Loss,
    Cluster,
    Migration,
    Hostile,
    Metrics,
    Scale,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 10] = [
        Scenario::Rtt,
        Scenario::Fanout,
        Scenario::Connect,
        Scenario::Memory,
        Scenario::Loss,
        Scenario::Cluster,
        Scenario::Migration,
        Scenario::Hostile,
        Scenario::Metrics,
        Scenario::Scale,
    ];
}

/// How quicket is carried in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// WebTransport, reliable stream.
    Wt,
    /// WebTransport datagrams (volatile events).
    WtDgram,
    /// WebSocket.
    Ws,
    /// The in-process memory transport: no sockets, no second process.
    Mem,
}

impl Transport {
    pub(crate) const ALL: [Transport; 4] = [
        Transport::Wt,
        Transport::WtDgram,
        Transport::Ws,
        Transport::Mem,
    ];

    /// The floor group its round trips are divided by (see [`crate::baseline::Floor::group`]).
    pub(crate) fn floor_group(self) -> &'static str {
        match self {
            Transport::Wt => "quic-stream",
            Transport::WtDgram => "quic-datagram",
            Transport::Ws => "websocket",
            Transport::Mem => "memory",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Wt => "webtransport-stream",
            Transport::WtDgram => "webtransport-datagram",
            Transport::Ws => "websocket",
            Transport::Mem => "memory",
        }
    }
}

/// A parsed command.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// Run scenarios and write the report.
    Run(RunOptions),
    /// Be a server process.
    Serve(ServeOptions),
    /// Measure the loss scenario at one loss rate, inside the namespace that drops packets.
    LossInside { loss: f64, options: RunOptions },
}

/// What kind of server to be.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// `quicket`, or a raw floor's kind.
    pub(crate) kind: String,
    /// A quicket server joins the cluster on the Redis at this URL.
    pub(crate) redis: Option<String>,
    /// A quicket server joins the cluster on the Redis Cluster of these node URLs.
    pub(crate) redis_cluster: Option<Vec<String>>,
    /// A quicket server's QUIC congestion controller.
    pub(crate) congestion: CongestionControl,
    /// A quicket server with `ServerConfig::default()` (rate limit and all), not the
    /// benchmark's unlimited one.
    pub(crate) defaults: bool,
    /// A quicket server that records metrics (the Prometheus recorder, scraped at `/metrics`).
    pub(crate) metrics: bool,
    /// A quicket node on Redis with durable recovery on.
    pub(crate) durable: bool,
}

/// What to run, and how big.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) transports: Vec<Transport>,
    pub(crate) quick: bool,
    pub(crate) out: PathBuf,
}

impl Command {
    /// Servers get one worker (they are pinned to one core); the load generator gets two.
    pub(crate) fn worker_threads(&self) -> usize {
        match self {
            Command::Serve(..) => 1,
            Command::Run(_) | Command::LossInside { .. } => 2,
        }
    }
}

pub(crate) fn parse(
    mut args: impl Iterator<Item = String>,
) -> std::result::Result<Command, String> {
    let verb = args.next().ok_or(USAGE)?;
    let scenarios = match verb.as_str() {
        "all" => Scenario::ALL.to_vec(),
        "rtt" => vec![Scenario::Rtt],
        "fanout" => vec![Scenario::Fanout],
        "connect" => vec![Scenario::Connect],
        "memory" => vec![Scenario::Memory],
        "loss" => vec![Scenario::Loss],
        "cluster" => vec![Scenario::Cluster],
        "migration" => vec![Scenario::Migration],
        "hostile" => vec![Scenario::Hostile],
        "metrics" => vec![Scenario::Metrics],
        "scale" => vec![Scenario::Scale],
        "serve" => return parse_serve(args),
        "loss-inside" => vec![Scenario::Loss],
        _ => return Err(USAGE.into()),
    };
    let mut loss = None;
    let mut options = RunOptions {
        scenarios,
        transports: Transport::ALL.to_vec(),
        quick: false,
        out: PathBuf::from("target/bench"),
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--quick" => options.quick = true,
            "--loss" if verb == "loss-inside" => {
                let fraction = args.next().ok_or(USAGE)?;
                loss = Some(
                    fraction
                        .parse()
                        .map_err(|_| format!("bad --loss {fraction}"))?,
                );
            }
            "--out" => options.out = args.next().ok_or(USAGE)?.into(),
            "--transport" => {
                let name = args.next().ok_or(USAGE)?;
                let transport = match name.as_str() {
                    "wt" => Transport::Wt,
                    "wt-dgram" => Transport::WtDgram,
                    "ws" => Transport::Ws,
                    "mem" => Transport::Mem,
                    _ => return Err(format!("unknown transport {name}\n{USAGE}")),
                };
                options.transports = vec![transport];
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    match loss {
        Some(loss) => Ok(Command::LossInside { loss, options }),
        None if verb == "loss-inside" => Err(USAGE.into()),
        None => Ok(Command::Run(options)),
    }
}

fn parse_serve(mut args: impl Iterator<Item = String>) -> std::result::Result<Command, String> {
    let mut serve = ServeOptions {
        kind: String::new(),
        redis: None,
        redis_cluster: None,
        congestion: CongestionControl::default(),
        defaults: false,
        metrics: false,
        durable: false,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--kind" => serve.kind = value,
            "--redis" => serve.redis = Some(value),
            "--redis-cluster" => {
                serve.redis_cluster = Some(value.split(',').map(str::to_owned).collect());
            }
            "--config" => {
                serve.defaults = match value.as_str() {
                    "defaults" => true,
                    "bench" => false,
                    _ => return Err(format!("unknown config {value}\n{USAGE}")),
                };
            }
            "--metrics" => {
                serve.metrics = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--metrics takes on or off\n{USAGE}")),
                };
            }
            "--durable" => {
                serve.durable = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--durable takes on or off\n{USAGE}")),
                };
            }
            "--cc" => {
                serve.congestion = CongestionControl::from_name(&value)
                    .ok_or_else(|| format!("unknown congestion controller {value}\n{USAGE}"))?;
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if serve.kind.is_empty() {
        return Err(USAGE.into());
    }
    Ok(Command::Serve(serve))
}

pub(crate) async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(serve) => match serve.kind.as_str() {
            "quicket" => echo::serve(&serve).await,
            other => baseline::serve(other).await,
        },
        Command::LossInside { loss, options } => scenario::loss_inside(loss, &options).await,
        Command::Run(options) => {
            let placement = machine::pin_load_generator();
            let mut report = Report::new(&options, placement)?;
            for scenario in &options.scenarios {
                scenario::run(*scenario, &options, &mut report).await?;
            }
            report.finish()?;
            Ok(())
        }
    }
}
