//! The `catalyst` binary: installs the TLS provider and logging, then hands over to the
//! library's command line. Errors are printed once, with their causes, and exit 1.

use catalyst_server::telemetry;
use clap::Parser;

/// mimalloc instead of glibc's malloc: with many threads allocating and freeing small
/// JSON and row buffers, glibc spent a quarter of the process's CPU consolidating free
/// chunks (`perf`, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One rustls provider (ring) for the whole process, before kube or anything else
    // builds a TLS config; a second one makes kube panic (see TOOLCHAIN.md).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Text or JSON (CATALYST_LOG_FORMAT), with a filter `PUT /api/v1/log-level` can change.
    match telemetry::LogFormat::from_env() {
        Ok(format) => telemetry::init(format),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let cli = catalyst_server::cli::Cli::parse();
    match catalyst_server::cli::execute(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let error = anyhow::Error::from(e);
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
