//! The `catalyst` binary: installs the TLS provider and logging, then hands over to the
//! library's command line. Errors are printed once, with their causes, and exit 1.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One rustls provider (ring) for the whole process, before kube or anything else
    // builds a TLS config; a second one makes kube panic (see TOOLCHAIN.md).
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
