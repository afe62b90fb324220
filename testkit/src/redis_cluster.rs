//! What every Redis Cluster the tests and the benchmark start needs: ports that a cluster
//! node can use, and `redis-cli --cluster create` over its nodes.

use std::net::TcpListener;
use std::process::{Command, Stdio};

/// A free loopback port for a Redis Cluster node. A node's cluster bus listens 10,000 above
/// its port, so both must be free and the port at most 55,535.
pub fn node_port() -> std::io::Result<u16> {
    for _ in 0..1_000 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no free port pair for a Redis Cluster node",
    ))
}

/// Joins the loopback redis-servers on `ports` (started with `--cluster-enabled yes`) into
/// one cluster of primaries that covers every hash slot.
pub fn create(ports: &[u16]) -> Result<(), String> {
    let status = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(ports.iter().map(|port| format!("127.0.0.1:{port}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .status()
        .map_err(|err| format!("redis-cli did not run ({err}); it comes with redis-server"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("redis-cli --cluster create failed: {status}"))
    }
}
