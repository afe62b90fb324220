//! The rules between the crates: the wire format does no I/O, core knows no transport, each
//! transport and the Redis adapter know core and not one another, and ring is the one
//! crypto provider. Read from `cargo tree`, so a crate that arrives through another counts.

#![allow(clippy::expect_used)] // Test code: a panic is a failure report.

use std::collections::BTreeSet;
use std::process::Command;

/// What each crate must not build on, directly or through another crate.
const RULES: &[(&str, &[&str])] = &[
    ("quicket-proto", &["tokio", "mio", "socket2"]),
    (
        "quicket-core",
        &[
            "mio",
            "socket2",
            "quinn",
            "wtransport",
            "tungstenite",
            "axum",
            "hyper",
            "rustls",
            "redis",
        ],
    ),
    (
        "quicket-quic",
        &[
            "tungstenite",
            "axum",
            "redis",
            "quicket-ws",
            "quicket-redis",
        ],
    ),
    (
        "quicket-ws",
        &[
            "quinn",
            "wtransport",
            "redis",
            "quicket-quic",
            "quicket-redis",
        ],
    ),
    (
        "quicket-redis",
        &[
            "quinn",
            "wtransport",
            "tungstenite",
            "axum",
            "hyper",
            "quicket-quic",
            "quicket-ws",
        ],
    ),
];

/// TLS stacks other than rustls on ring, which no crate of the workspace may pull in.
const NOWHERE: &[&str] = &[
    "aws-lc-rs",
    "aws-lc-sys",
    "openssl",
    "openssl-sys",
    "native-tls",
];

#[test]
fn no_crate_builds_on_what_its_layer_must_not_know() {
    let broken: Vec<String> = RULES
        .iter()
        .flat_map(|(krate, barred)| {
            let tree = dependencies(&["-p", krate]);
            barred
                .iter()
                .filter(move |name| tree.contains(**name))
                .map(move |name| format!("{krate} builds on {name}"))
        })
        .collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn ring_is_the_only_crypto_provider() {
    let tree = dependencies(&["--workspace", "--all-features"]);
    let others: Vec<&&str> = NOWHERE
        .iter()
        .filter(|name| tree.contains(**name))
        .collect();
    assert!(others.is_empty(), "other TLS stacks: {others:?}");
    assert!(tree.contains("ring"), "rustls builds on ring");
}

/// The names of every crate the selection builds on, for this machine's target.
fn dependencies(selection: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["tree", "--edges", "normal,build", "--prefix", "none"])
        .args(selection)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree {selection:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
