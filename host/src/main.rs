//! The `switchyard` binary: the allocator, then the command line (`cli::main`).

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
    cli::main(Cli::parse()).await
}
