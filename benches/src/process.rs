//! Server processes: started pinned, watched through /proc, stopped by PID.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::Result;

/// A server running in its own process.
pub(crate) struct ServerProcess {
    child: Child,
    pid: u32,
    /// What the server printed when ready: its ports, certificate hashes.
    pub(crate) ready: Value,
    ticks: u64,
}

impl ServerProcess {
    /// Starts `program args`, pinned to `cpu`, and waits for its `ready <json>` line (or, for
    /// Node peers, `listening <port>`).
    pub(crate) async fn start(program: &str, args: &[String], cpu: Option<usize>) -> Result<Self> {
        let mut command = match cpu {
            // taskset execs the program: the PID we get is the server's.
            Some(cpu) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(cpu.to_string()).arg(program);
                command
            }
            None => Command::new(program),
        };
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child.id().ok_or("the server exited at once")?;
        eprintln!(
            "quicket-bench: started {program} {} as pid {pid}",
            args.join(" ")
        );
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(json) = line.strip_prefix("ready ") {
                    return Ok::<_, crate::cli::BoxError>(serde_json::from_str(json)?);
                }
                if let Some(port) = line.strip_prefix("listening ") {
                    return Ok(serde_json::json!({ "port": port.trim().parse::<u16>()? }));
                }
            }
            Err(format!("{program} exited before it was ready").into())
        })
        .await
        .map_err(|_| format!("{program} was not ready within 60 s"))??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            pid,
            ready,
            ticks: crate::machine::clock_ticks(),
        })
    }

    /// A port the server reported under `name`.
    pub(crate) fn port(&self, name: &str) -> Result<u16> {
        self.ready[name]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .ok_or_else(|| format!("the server reported no {name} port: {}", self.ready).into())
    }

    /// CPU time the server's threads have used so far, to the nanosecond (schedstat), or to
    /// the clock tick (stat) where schedstat is missing.
    pub(crate) fn cpu_time(&self) -> Result<Duration> {
        match self.schedstat() {
            Ok(cpu) => Ok(cpu),
            Err(_) => self.stat_ticks(),
        }
    }

    fn schedstat(&self) -> Result<Duration> {
        let mut nanos = 0u64;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid))? {
            let stat = std::fs::read_to_string(task?.path().join("schedstat"))?;
            nanos += stat
                .split_whitespace()
                .next()
                .ok_or("empty schedstat")?
                .parse::<u64>()?;
        }
        Ok(Duration::from_nanos(nanos))
    }

    fn stat_ticks(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // The command name may hold spaces; fields count from after its closing parenthesis.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .ok_or("malformed /proc stat")?
            .1
            .split_whitespace()
            .collect();
        let ticks = |index: usize| -> Result<u64> {
            Ok(fields.get(index).ok_or("short /proc stat")?.parse()?)
        };
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_micros(total * 1_000_000 / self.ticks.max(1)))
    }

    /// Resident memory in bytes.
    pub(crate) fn rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .ok_or("no VmRSS")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kb * 1024)
    }

    /// Stops the server (SIGKILL, by its PID) and reaps it.
    pub(crate) async fn stop(mut self) {
        let _already_gone = self.child.kill().await;
    }
}
