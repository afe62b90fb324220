//! The scenarios. Each measures quicket over every transport, its raw floors and its peers in
//! one run, and hands rows to the report.

mod cluster;
mod connect;
mod fanout;
mod hol;
mod hostile;
mod loss;
mod memory;
mod metrics;
mod migration;
mod paced;
mod redis;
mod rtt;
mod scale;
mod staleness;

use crate::cli::{Result, RunOptions, Scenario};
use crate::process::ServerProcess;
use crate::report::Report;

pub(crate) async fn run(
    scenario: Scenario,
    options: &RunOptions,
    report: &mut Report,
) -> Result<()> {
    eprintln!("quicket-bench: {scenario:?}");
    match scenario {
        Scenario::Rtt => rtt::run(options, report).await,
        Scenario::Fanout => fanout::run(options, report).await,
        Scenario::Connect => connect::run(options, report).await,
        Scenario::Memory => memory::run(options, report).await,
        Scenario::Loss => loss::run(options, report).await,
        Scenario::Cluster => cluster::run(options, report).await,
        Scenario::Migration => migration::run(options, report).await,
        Scenario::Hostile => hostile::run(options, report).await,
        Scenario::Metrics => metrics::run(options, report).await,
        Scenario::Scale => scale::run(options, report).await,
    }
}

/// `quicket-bench loss-inside`: the loss scenario's measurements at one rate, in the namespace
/// the outer run created; the rows go to `options.out` for it to take.
pub(crate) async fn loss_inside(loss: f64, options: &RunOptions) -> Result<()> {
    let placement = crate::machine::pin_load_generator();
    let mut report = Report::new(options, placement)?;
    loss::inside(loss, options, &mut report).await?;
    report.finish()
}

/// quicket's server for `transport`: a server process, or an in-process one for memory.
pub(crate) async fn quicket_server(
    transport: crate::cli::Transport,
    report: &Report,
) -> Result<(Option<ServerProcess>, crate::echo::Target)> {
    if transport == crate::cli::Transport::Mem {
        return Ok((None, crate::echo::Target::local()));
    }
    let server = start_server("quicket", report).await?;
    let target = crate::echo::Target::remote(&server)?;
    Ok((Some(server), target))
}

/// Starts this binary as a server of `kind`, pinned where the placement says.
pub(crate) async fn start_server(kind: &str, report: &Report) -> Result<ServerProcess> {
    start_server_with(kind, &[], report).await
}

/// [`start_server`] with more arguments.
pub(crate) async fn start_server_with(
    kind: &str,
    more: &[String],
    report: &Report,
) -> Result<ServerProcess> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or("the executable path is not UTF-8")?;
    let mut args = vec!["serve".to_owned(), "--kind".to_owned(), kind.to_owned()];
    args.extend_from_slice(more);
    ServerProcess::start(exe, &args, report.placement.server_cpu).await
}
