//! The machine, and where each process runs on it.

use std::process::Command;

use serde_json::{Value, json};

/// Where the servers and the load generator run.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    /// The CPU servers are pinned to, if any.
    pub(crate) server_cpu: Option<usize>,
    /// How the run was placed, for the report.
    pub(crate) description: String,
}

/// Pins this process (the load generator) to CPU 1 when there are two CPUs, leaving CPU 0 to
/// the servers: cross-core, as a client and a server on different machines would be.
pub(crate) fn pin_load_generator() -> Placement {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pinned = cpus >= 2
        && Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .output()
            .is_ok_and(|out| out.status.success());
    if pinned {
        Placement {
            server_cpu: Some(0),
            description: format!(
                "cross-core: each server process pinned to CPU 0, the load generator to CPU 1 ({cpus} CPUs)"
            ),
        }
    } else {
        Placement {
            server_cpu: None,
            description: format!("unpinned ({cpus} CPUs, or taskset unavailable)"),
        }
    }
}

/// What the report says about the machine and the software.
pub(crate) fn describe() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split(':').nth(1))
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    let memory = read("/proc/meminfo")
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let cpus = read("/proc/cpuinfo")
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    json!({
        "cpus": cpus,
        "cpu_model": model,
        "mem_total_kb": memory,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "date": command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "rustc": command_output("rustc", &["--version"]),
        "node": command_output("node", &["--version"]),
        "quicket": env!("CARGO_PKG_VERSION"),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

/// The clock ticks per second that /proc reports CPU time in.
pub(crate) fn clock_ticks() -> u64 {
    command_output("getconf", &["CLK_TCK"])
        .parse()
        .unwrap_or(100)
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Raises this process's soft limit on open files to its hard limit, as an operator would
/// with `ulimit -n` before a load test; child processes (the servers) inherit it. Returns the
/// limits before and after.
#[allow(unsafe_code)] // Two libc calls on a local struct; no pointer outlives them.
pub(crate) fn raise_open_files() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit, read only by the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Some((before, before));
    }
    Some((before, limit.rlim_cur))
}
