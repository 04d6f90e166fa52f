//! The `bulwark` binary: parse the command line and hand off to [`bulwark::run`].

use std::process::ExitCode;

use clap::Parser;

// Reviews allocate many small strings and maps; mimalloc serves them faster than the system
// allocator (measured with benches/review.rs and scripts/loadtest.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // One crypto provider for every TLS user in the process (server, clients).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = bulwark::cli::Cli::parse();
    match bulwark::run::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bulwark: {error:#}");
            // Findings that fail a check are 1; usage, input and runtime errors are 2.
            if error
                .downcast_ref::<bulwark::run::FindingsFailed>()
                .is_some()
            {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}
