//! The command line, and what each command runs.

use std::path::PathBuf;

use crate::report::Report;
use crate::{baseline, echo, machine, scenario};

/// What the suite's functions return.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T> = std::result::Result<T, BoxError>;

const USAGE: &str = "usage:
  quicket-bench all [--quick] [--out DIR]
  quicket-bench rtt|fanout|connect|memory|loss|cluster [--transport wt|wt-dgram|ws|mem] [--quick] [--out DIR]
  quicket-bench migration [--transport wt|ws] [--quick] [--out DIR]
  quicket-bench serve --kind quicket|udp|quinn|wt|ws [--redis URL]";

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
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 7] = [
        Scenario::Rtt,
        Scenario::Fanout,
        Scenario::Connect,
        Scenario::Memory,
        Scenario::Loss,
        Scenario::Cluster,
        Scenario::Migration,
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
    /// Be a server process of `kind`; a quicket one joins the cluster on the Redis at the URL.
    Serve(String, Option<String>),
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
            Command::Run(_) => 2,
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
        "serve" => {
            return match (
                args.next().as_deref(),
                args.next(),
                args.next().as_deref(),
                args.next(),
            ) {
                (Some("--kind"), Some(kind), None, None) => Ok(Command::Serve(kind, None)),
                (Some("--kind"), Some(kind), Some("--redis"), Some(url)) => {
                    Ok(Command::Serve(kind, Some(url)))
                }
                _ => Err(USAGE.into()),
            };
        }
        _ => return Err(USAGE.into()),
    };
    let mut options = RunOptions {
        scenarios,
        transports: Transport::ALL.to_vec(),
        quick: false,
        out: PathBuf::from("target/bench"),
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--quick" => options.quick = true,
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
    Ok(Command::Run(options))
}

pub(crate) async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(kind, redis) => match kind.as_str() {
            "quicket" => echo::serve(redis).await,
            other => baseline::serve(other).await,
        },
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
