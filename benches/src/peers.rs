//! The peers: socket.io on Node and socketioxide, each driven by socket.io-client on Node
//! (`benches/peers/driver.mjs`), the client their users use.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::cli::Result;
use crate::process::ServerProcess;
use crate::report::Report;
use crate::stats::Latencies;

/// A server quicket is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    SocketIo,
    Socketioxide,
}

impl Peer {
    pub(crate) const ALL: [Peer; 2] = [Peer::SocketIo, Peer::Socketioxide];

    fn slug(self) -> &'static str {
        match self {
            Peer::SocketIo => "socketio",
            Peer::Socketioxide => "socketioxide",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::SocketIo => "peer socket.io (Node)",
            Peer::Socketioxide => "peer socketioxide",
        }
    }

    /// Starts the peer's server, pinned like quicket's.
    pub(crate) async fn start(self, report: &Report) -> Result<ServerProcess> {
        match self {
            Peer::SocketIo => {
                install_node_peers().await?;
                let script = peers_dir().join("socketio-server.mjs");
                let args = [script.to_string_lossy().into_owned(), "0".to_owned()];
                ServerProcess::start("node", &args, report.placement.server_cpu).await
            }
            Peer::Socketioxide => {
                let binary = build_socketioxide().await?;
                let binary = binary.to_string_lossy().into_owned();
                ServerProcess::start(&binary, &["0".to_owned()], report.placement.server_cpu).await
            }
        }
    }
}

/// `benches/peers/`, where the Node scripts and the socketioxide server live.
pub(crate) fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// `npm ci` in `benches/peers/` unless its packages are there.
async fn install_node_peers() -> Result<()> {
    let dir = peers_dir();
    if dir.join("node_modules/socket.io/package.json").exists() {
        return Ok(());
    }
    eprintln!("quicket-bench: npm ci in {}", dir.display());
    let status = Command::new("npm")
        .arg("ci")
        .arg("--no-audit")
        .arg("--no-fund")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .await?;
    if !status.success() {
        return Err("npm ci failed in benches/peers".into());
    }
    Ok(())
}

/// Builds the socketioxide server (outside the default members) in this build's profile.
async fn build_socketioxide() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let release = !cfg!(debug_assertions);
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "-p", "socketioxide-peer"]);
    if release {
        command.arg("--release");
    }
    let status = command
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .await?;
    if !status.success() {
        return Err("cargo build -p socketioxide-peer failed".into());
    }
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("socketioxide-peer"))
}

/// Runs `driver.mjs <args>` against `server` and returns its JSON lines.
pub(crate) async fn drive(
    server: &ServerProcess,
    args: &[String],
    limit: Duration,
) -> Result<Vec<Value>> {
    let url = format!("http://127.0.0.1:{}", server.port("port")?);
    let script = peers_dir().join("driver.mjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .args(args)
        .arg("--url")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| {
            format!(
                "driver.mjs {} did not finish within {limit:?}",
                args.join(" ")
            )
        })??;
    if !output.status.success() {
        return Err(format!("driver.mjs {} failed: {}", args.join(" "), output.status).into());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| Ok(serde_json::from_str(line)?))
        .collect()
}

/// One round of the peer's round trips against its running `server`: the samples (read from
/// the driver's `--samples-out`) and the server CPU they cost, the driver's warm-up included.
pub(crate) async fn rtt_round(
    peer: Peer,
    server: &ServerProcess,
    warmup: u64,
    count: u64,
) -> Result<(Latencies, Duration)> {
    let samples = std::env::temp_dir().join(format!(
        "quicket-bench-{}-{}.txt",
        std::process::id(),
        peer.slug()
    ));
    let args = [
        "rtt".to_owned(),
        "--count".to_owned(),
        count.to_string(),
        "--warmup".to_owned(),
        warmup.to_string(),
        "--payload".to_owned(),
        "32".to_owned(),
        "--samples-out".to_owned(),
        samples.to_string_lossy().into_owned(),
    ];
    let before = server.cpu_time()?;
    drive(server, &args, Duration::from_secs(300)).await?;
    let cpu = server.cpu_time()? - before;
    let text = std::fs::read_to_string(&samples)?;
    let _ = std::fs::remove_file(&samples);
    let mut latencies = Latencies::new();
    for us in text
        .lines()
        .filter_map(|line| line.trim().parse::<f64>().ok())
    {
        latencies.record(Duration::from_secs_f64(us / 1e6));
    }
    Ok((latencies, cpu))
}
