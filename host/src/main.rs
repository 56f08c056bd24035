//! The `switchyard` binary: parse the command line, set up logging, run, map the result to an
//! exit status. Errors print with their whole chain (`{:#}`).

use clap::Parser;
use std::process::ExitCode;
use switchyard::cli::{self, Cli};

/// mimalloc instead of glibc's malloc: every event allocates and frees many small buffers
/// across tasks (HTTP in and out, the plugin's input and output, store commands), and glibc's
/// consolidation showed up as ~7% of a core in the end-to-end profile (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    switchyard::telemetry::init(cli.log_format);
    match cli::run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
