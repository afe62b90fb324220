//! The report: one JSON line per measurement as it is taken, and `report.md` with the tables
//! and ratios at the end.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

use crate::baseline::Sampler;
use crate::cli::{Result, RunOptions};
use crate::machine::{self, Placement};
use crate::plot::PlotCdf;
use crate::stats::Summary;

/// One stack's round trips.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RttRow {
    pub(crate) stack: String,
    /// Which floor it is compared with, or which floor it is.
    pub(crate) group: &'static str,
    #[serde(flatten)]
    pub(crate) latency: Summary,
    /// Round trips that never came back (datagrams).
    pub(crate) lost: u64,
    /// Server CPU microseconds per round trip, where the server is its own process.
    pub(crate) server_cpu_us: Option<f64>,
}

impl RttRow {
    pub(crate) fn new(
        stack: String,
        group: &'static str,
        sampler: &Sampler,
        cpu: Option<f64>,
    ) -> Self {
        Self {
            stack,
            group,
            latency: sampler.latencies.summary(),
            lost: sampler.lost,
            server_cpu_us: cpu,
        }
    }
}

/// Everything measured in one run.
pub(crate) struct Report {
    pub(crate) placement: Placement,
    out: PathBuf,
    lines: File,
    machine: Value,
    rtt: Vec<RttRow>,
    /// Rows of the other scenarios, as (table, row) in the order taken.
    tables: Vec<(String, Value)>,
    skipped: Vec<(String, String)>,
    pub(crate) cdfs: Vec<(String, Vec<(f64, f64)>)>,
    /// The series of the other CDF plots.
    plot_cdfs: Vec<PlotCdf>,
}

impl Report {
    pub(crate) fn new(options: &RunOptions, placement: Placement) -> Result<Self> {
        fs::create_dir_all(&options.out)?;
        let lines = File::create(options.out.join("results.jsonl"))?;
        let machine = machine::describe();
        let mut report = Self {
            placement,
            out: options.out.clone(),
            lines,
            machine,
            rtt: Vec::new(),
            tables: Vec::new(),
            skipped: Vec::new(),
            cdfs: Vec::new(),
            plot_cdfs: Vec::new(),
        };
        let header = json!({
            "record": "run",
            "machine": report.machine,
            "placement": report.placement.description,
            "quick": options.quick,
            "scenarios": options
                .scenarios
                .iter()
                .map(|s| format!("{s:?}").to_lowercase())
                .collect::<Vec<_>>(),
        });
        report.write(&header)?;
        Ok(report)
    }

    fn write(&mut self, value: &Value) -> Result<()> {
        writeln!(self.lines, "{value}")?;
        Ok(())
    }

    /// Records a round-trip row.
    pub(crate) fn rtt(&mut self, row: RttRow) {
        let mut line = json!({ "record": "measurement", "scenario": "rtt", "placement": self.placement.description });
        merge(&mut line, serde_json::to_value(&row).unwrap_or(Value::Null));
        if let Err(err) = self.write(&line) {
            eprintln!("quicket-bench: cannot write a result: {err}");
        }
        eprintln!(
            "  {:<40} p50 {:>8.1} µs  p99 {:>8.1} µs  cpu {:?}",
            row.stack, row.latency.p50_us, row.latency.p99_us, row.server_cpu_us
        );
        self.rtt.push(row);
    }

    /// Records a row of another scenario's table.
    pub(crate) fn row(&mut self, scenario: &str, table: &str, row: Value) {
        let mut line = json!({ "record": "measurement", "scenario": scenario, "table": table, "placement": self.placement.description });
        merge(&mut line, row.clone());
        if let Err(err) = self.write(&line) {
            eprintln!("quicket-bench: cannot write a result: {err}");
        }
        eprintln!("  {table}: {row}");
        self.tables.push((table.to_owned(), row));
    }

    /// Records a latency CDF (µs, fraction) as series `name` of the plot `plot`.
    pub(crate) fn cdf(&mut self, plot: &str, name: String, points: Vec<(f64, f64)>) {
        let line = json!({ "record": "cdf", "plot": plot, "name": name, "points": points });
        if let Err(err) = self.write(&line) {
            eprintln!("quicket-bench: cannot write a result: {err}");
        }
        self.plot_cdfs.push(PlotCdf {
            plot: plot.to_owned(),
            name,
            points,
        });
    }

    /// The rows of `table` taken so far.
    pub(crate) fn rows(&self, table: &str) -> impl Iterator<Item = &Value> {
        self.tables
            .iter()
            .filter(move |(name, _)| name == table)
            .map(|(_, row)| row)
    }

    /// Takes the measurements, CDFs and skips another run of this suite wrote to `results`
    /// (the loss scenario's runs inside their namespaces).
    pub(crate) fn absorb(&mut self, results: &std::path::Path) -> Result<()> {
        let text = fs::read_to_string(results)?;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let mut record: Value = serde_json::from_str(line)?;
            let Some(object) = record.as_object_mut() else {
                continue;
            };
            let kind = object.shift_remove("record");
            let text = |object: &mut serde_json::Map<String, Value>, key: &str| match object
                .shift_remove(key)
            {
                Some(Value::String(text)) => text,
                _ => String::new(),
            };
            match kind.as_ref().and_then(Value::as_str) {
                Some("measurement") => {
                    let scenario = text(object, "scenario");
                    let table = text(object, "table");
                    object.shift_remove("placement");
                    self.row(&scenario, &table, record);
                }
                Some("cdf") => {
                    let plot = text(object, "plot");
                    let name = text(object, "name");
                    let points =
                        serde_json::from_value(object.shift_remove("points").unwrap_or_default())?;
                    self.cdf(&plot, name, points);
                }
                Some("skipped") => {
                    let (what, why) = (text(object, "what"), text(object, "why"));
                    self.skip(&what, &why);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Notes a measurement that could not be taken, and why: it appears in the report.
    pub(crate) fn skip(&mut self, what: &str, why: &str) {
        eprintln!("quicket-bench: skipped {what}: {why}");
        let line = json!({ "record": "skipped", "what": what, "why": why });
        let _ = self.write(&line);
        self.skipped.push((what.to_owned(), why.to_owned()));
    }

    /// Writes `report.md` (and the plots).
    pub(crate) fn finish(self) -> Result<()> {
        let mut md = String::new();
        let _ = writeln!(md, "# quicket latency benchmark\n");
        let _ = writeln!(
            md,
            "- Date: {}",
            self.machine["date"].as_str().unwrap_or("?")
        );
        let _ = writeln!(
            md,
            "- Machine: {} CPUs ({}), kernel {}, {} build",
            self.machine["cpus"],
            self.machine["cpu_model"].as_str().unwrap_or("?"),
            self.machine["kernel"].as_str().unwrap_or("?"),
            self.machine["profile"].as_str().unwrap_or("?"),
        );
        let _ = writeln!(md, "- Placement: {}", self.placement.description);
        let _ = writeln!(
            md,
            "- Every row of a table was measured in this one run; compare ratios, not absolute times across runs.\n"
        );
        rtt_table(&mut md, &self.rtt);
        let mut names: Vec<&str> = Vec::new();
        for (table, _) in &self.tables {
            if !names.contains(&table.as_str()) {
                names.push(table);
            }
        }
        for name in names {
            let rows: Vec<&Value> = self
                .tables
                .iter()
                .filter(|(t, _)| t == name)
                .map(|(_, r)| r)
                .collect();
            generic_table(&mut md, name, &rows);
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(md, "## Not measured in this run\n");
            for (what, why) in &self.skipped {
                let _ = writeln!(md, "- {what}: {why}");
            }
            let _ = writeln!(md);
        }
        fs::write(self.out.join("report.md"), &md)?;
        crate::plot::write_all(&self.out, &self.cdfs, &self.plot_cdfs, &self.tables);
        eprintln!(
            "quicket-bench: wrote {}",
            self.out.join("report.md").display()
        );
        Ok(())
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// The round-trip table, with each quicket row's ratio to its floor and to the peers.
fn rtt_table(md: &mut String, rows: &[RttRow]) {
    if rows.is_empty() {
        return;
    }
    let floor = |group: &str| {
        rows.iter().find(|r| {
            r.group == group && !r.stack.starts_with("quicket") && !r.stack.starts_with("peer")
        })
    };
    let peer = |name: &str| rows.iter().find(|r| r.stack.contains(name));
    let _ = writeln!(md, "## Round trip: 32-byte payload, one in flight (µs)\n");
    let _ = writeln!(
        md,
        "| stack | p50 | p90 | p99 | p99.9 | max | lost | server CPU µs/RT | p50 / floor | p50 / socketioxide | CPU / socketioxide |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let socketioxide = peer("socketioxide");
    for row in rows {
        let l = &row.latency;
        let ratio = |a: f64, b: Option<f64>| {
            b.filter(|b| *b > 0.0)
                .map_or("-".to_owned(), |b| format!("{:.2}×", a / b))
        };
        let is_quicket = row.stack.starts_with("quicket");
        let floor_ratio = if is_quicket {
            ratio(l.p50_us, floor(row.group).map(|f| f.latency.p50_us))
        } else {
            "-".into()
        };
        let peer_ratio = if is_quicket {
            ratio(l.p50_us, socketioxide.map(|p| p.latency.p50_us))
        } else {
            "-".into()
        };
        let cpu_ratio = match (is_quicket, row.server_cpu_us) {
            (true, Some(cpu)) => ratio(cpu, socketioxide.and_then(|p| p.server_cpu_us)),
            _ => "-".into(),
        };
        let cpu = row
            .server_cpu_us
            .map_or("-".to_owned(), |c| format!("{c:.1}"));
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {} |",
            row.stack,
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.p999_us,
            l.max_us,
            row.lost,
            cpu,
            floor_ratio,
            peer_ratio,
            cpu_ratio
        );
    }
    let _ = writeln!(
        md,
        "\nFloors: quicket over WebTransport streams is divided by raw quinn's long-lived bidi stream, over datagrams by raw quinn datagrams, over WebSocket by raw tokio-tungstenite. Peers are driven by socket.io-client on Node, the client their users use, so their latency includes a Node client; server CPU per round trip is the client-independent comparison.\n"
    );
}

/// Any other table: its columns are the keys of its first row.
fn generic_table(md: &mut String, name: &str, rows: &[&Value]) {
    let Some(Value::Object(first)) = rows.first() else {
        return;
    };
    let columns: Vec<&String> = first.keys().collect();
    let _ = writeln!(md, "## {name}\n");
    let _ = writeln!(
        md,
        "| {} |",
        columns
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        md,
        "|{}|",
        columns.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &row[c.as_str()] {
                Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| {
                    if f.fract() == 0.0 {
                        format!("{f:.0}")
                    } else {
                        format!("{f:.2}")
                    }
                }),
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            })
            .collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(md);
}
