//! `jitgate`: one binary for everyone. A thin clap dispatcher: each area (access, audit, …)
//! owns its subcommands in its own module and is flattened in here.

mod access;
mod audit;
mod explain;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Just-in-time access for AI infrastructure.
#[derive(Debug, Parser)]
#[command(name = "jitgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Access(access::Command),
    #[command(flatten)]
    Audit(audit::Command),
    /// Explain the decision the gate would make for one request, and why.
    Explain(explain::ExplainArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JITGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Access(command) => access::run(command).await,
        Command::Audit(command) => audit::run(command).await,
        Command::Explain(args) => explain::run(args).await,
    }
}
