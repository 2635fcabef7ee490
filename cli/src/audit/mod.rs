//! The audit commands: running the collector (`collector serve`) and, for reviewers,
//! exporting the audit trail and verifying an export offline (`audit export`,
//! `audit verify`), following decisions live (`audit tail`) and recomputing the guard's
//! firings from an export (`audit guard-replay`).

mod export;
mod guard_args;
mod guard_replay;
mod serve;
mod tail;
mod verify;

use std::process::ExitCode;

use clap::Subcommand;

/// The audit area's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the audit collector.
    Collector {
        #[command(subcommand)]
        command: CollectorCommand,
    },
    /// Export and verify the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `jitgate collector …`.
#[derive(Debug, Subcommand)]
pub enum CollectorCommand {
    /// Receive audit records over OTLP/HTTP and keep them in a verifiable log.
    Serve(serve::ServeArgs),
}

/// `jitgate audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Download a verifiable export of the audit trail from a collector.
    Export(export::ExportArgs),
    /// Check an export offline with the collector's public key.
    Verify(verify::VerifyArgs),
    /// Follow decisions live, one line each, as the collector stores them.
    Tail(tail::TailArgs),
    /// Recompute the guard's firings from an export and compare them with its guard records.
    GuardReplay(guard_replay::GuardReplayArgs),
}

/// Runs one audit command. Exit codes: 0 ok, 1 failed (for `verify`: the export did not
/// verify), 2 the command could not run (bad flags, unreadable files).
pub async fn run(command: Command) -> ExitCode {
    match command {
        Command::Collector {
            command: CollectorCommand::Serve(args),
        } => serve::run(args).await,
        Command::Audit {
            command: AuditCommand::Export(args),
        } => export::run(args).await,
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => verify::run(args),
        Command::Audit {
            command: AuditCommand::Tail(args),
        } => tail::run(args).await,
        Command::Audit {
            command: AuditCommand::GuardReplay(args),
        } => guard_replay::run(args),
    }
}
