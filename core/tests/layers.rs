//! Core's modules form layers: each names only the layers below it, so each can be read, and
//! tested, without those above. A `use` that reaches up fails here with the file that has it.

#![allow(clippy::expect_used)] // Test code: a panic is a failure report.

use std::fs;
use std::path::Path;

/// Bottom first; a module may name the modules of earlier layers only.
const LAYERS: &[&[&str]] = &[
    &["transport", "payload", "extensions"],
    &["config", "error", "meters", "relay"],
    &["endpoint", "config_setters"],
    &["adapter", "client"],
    &["server"],
];

/// The names `lib.rs` re-exports from the upper layers, which a lower one could reach them by.
const REEXPORTS: &[(&str, &[&str])] = &[
    (
        "server",
        &["Server", "Socket", "ServerBuilder", "Handshake"],
    ),
    ("client", &["Client", "ClientBuilder"]),
];

#[test]
fn no_module_names_a_module_of_its_own_layer_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut reaching_up = Vec::new();
    for (level, modules) in LAYERS.iter().enumerate() {
        let barred: Vec<&str> = LAYERS[level..]
            .iter()
            .flat_map(|layer| layer.iter().copied())
            .collect();
        for module in *modules {
            for file in sources(&src, module) {
                let text = fs::read_to_string(&file).expect("core's source is readable");
                for (line_no, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    for other in &barred {
                        if *other != *module && names(code, other) {
                            reaching_up.push(format!(
                                "{}:{}: {other}",
                                file.display(),
                                line_no + 1
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        reaching_up.is_empty(),
        "modules naming a layer at or above their own:\n{}",
        reaching_up.join("\n")
    );
}

#[test]
fn every_module_of_core_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layered: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let lib = fs::read_to_string(src.join("lib.rs")).expect("lib.rs is readable");
    let unlayered: Vec<&str> = lib
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix("pub mod ").or(line.strip_prefix("mod "))
        })
        .map(|rest| rest.trim_end_matches(';'))
        .filter(|module| !layered.contains(module))
        .collect();
    assert!(unlayered.is_empty(), "modules with no layer: {unlayered:?}");
}

fn names(code: &str, module: &str) -> bool {
    let aliases = REEXPORTS
        .iter()
        .filter(|(of, _)| *of == module)
        .flat_map(|(_, names)| names.iter().copied());
    std::iter::once(module).chain(aliases).any(|name| {
        [":", ";", "}", ",", " "]
            .iter()
            .any(|end| code.contains(&format!("crate::{name}{end}")))
    })
}

/// The files of module `name`: `name.rs`, or every file under `name/`.
fn sources(src: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut files = Vec::new();
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("a module directory is readable") {
            let path = entry.expect("a directory entry is readable").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files
}
