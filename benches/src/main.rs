//! `quicket-bench`: the latency benchmark suite.
//!
//! Every figure that matters is a ratio measured side by side in one run: quicket against the
//! raw floor of its transport (tokio UDP, quinn, wtransport, tokio-tungstenite) and against its
//! peers (socket.io on Node, socketioxide). Servers run in their own processes, pinned to CPU 0
//! where there are two; the load generator runs on CPU 1.
//!
//! ```text
//! quicket-bench all [--quick] [--out DIR]        every scenario, JSON lines + report.md
//! quicket-bench rtt --transport ws               one scenario, one transport
//! quicket-bench serve --kind quicket             a server process (the suite starts these)
//! ```

mod baseline;
mod cli;
mod echo;
mod machine;
mod netns;
mod peers;
mod plot;
mod process;
mod report;
mod scenario;
mod stats;

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(command.worker_threads())
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("quicket-bench: no runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("quicket-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
