//! A throwaway network namespace whose loopback drops a share of packets: real kernel loss
//! for UDP (QUIC) and TCP (WebSocket) alike, from an nftables random-drop rule. `tc netem` is
//! missing on this kernel (`../shared/notes/loss-emulation.md`); this needs root and `nft`.

use std::process::{Command, Output};

use crate::cli::Result;

/// The loopback MTU inside the namespace: an Ethernet path's, so TCP sends 1,448-byte
/// segments as QUIC sends ~1,400-byte packets. Loopback's own 65,536 would let TCP carry 40
/// times more bytes per packet, and so lose 40 times fewer packets per byte, than any real path.
const MTU: &str = "1500";

/// A namespace that exists until dropped; every process left in it is killed then.
pub(crate) struct LossyNamespace {
    name: String,
}

impl LossyNamespace {
    /// Creates a namespace whose loopback is up and drops `loss` (0.0 to 1.0) of the packets
    /// it receives, in each direction. Fails with the tools' own words (not root, no `nft`).
    pub(crate) fn create(loss: f64) -> Result<Self> {
        let name = format!(
            "quicket-loss-{}-{}",
            std::process::id(),
            (loss * 1000.0).round()
        );
        run("ip", &["netns", "add", &name])?;
        // From here on, dropping `namespace` removes it whatever fails next.
        let namespace = Self { name };
        namespace.exec_ok("ip", &["link", "set", "lo", "up", "mtu", MTU])?;
        let per_mille = (loss * 1000.0).round() as u32;
        if per_mille > 0 {
            namespace.exec_ok("nft", &["add", "table", "inet", "quicket"])?;
            namespace.exec_ok(
                "nft",
                &["add chain inet quicket input { type filter hook input priority 0; }"],
            )?;
            namespace.exec_ok(
                "nft",
                &[
                    "add",
                    "rule",
                    "inet",
                    "quicket",
                    "input",
                    "numgen",
                    "random",
                    "mod",
                    "1000",
                    "<",
                    &per_mille.to_string(),
                    "counter",
                    "drop",
                ],
            )?;
        }
        Ok(namespace)
    }

    /// A command that runs `program` inside the namespace.
    pub(crate) fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Packets the drop rule has dropped so far (the rule's counter), if it has one.
    pub(crate) fn dropped(&self) -> Option<u64> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "list", "ruleset"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        words.find(|word| *word == "packets")?;
        words.next()?.parse().ok()
    }

    fn exec_ok(&self, program: &str, args: &[&str]) -> Result<()> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all).map(|_| ())
    }
}

impl Drop for LossyNamespace {
    fn drop(&mut self) {
        // Only processes this run started can be in a namespace it created.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn run(program: &str, args: &[&str]) -> Result<Output> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("{program}: {err}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into())
    }
}
