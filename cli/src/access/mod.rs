//! The access commands: asking for access and handling it (`request`, `status`, `approve`,
//! `deny`, `cancel`, `token`, `revoke`, `grants`, `alerts`) against an issuer, and running or
//! administering the issuer itself (`issuer serve`, `issuer rotate-key`, …).

mod client;
mod commands;
mod issuer;
mod notifications;
mod output;

use std::process::ExitCode;

use clap::{Args, Subcommand};

/// The access area's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run or administer the issuer.
    Issuer {
        #[command(subcommand)]
        command: issuer::IssuerCommand,
    },
    /// Ask for access: `jitgate request --scope inference:MODEL --for 2h --reason "…"
    /// [--max-requests N] [--max-tokens N]`.
    Request(commands::RequestArgs),
    /// Show one request (with its history), or list yours.
    Status(commands::StatusArgs),
    /// Approve someone else's request.
    Approve(commands::ReviewArgs),
    /// Deny someone else's request (a comment is required).
    Deny(commands::ReviewArgs),
    /// Withdraw your pending request.
    Cancel(commands::EndArgs),
    /// Get a grant token for an active grant.
    Token(commands::TokenArgs),
    /// Revoke an active grant (yours, one you may review, or any as admin).
    Revoke(commands::EndArgs),
    /// List active grants, with their use against their budget.
    Grants(commands::GrantsArgs),
    /// List the guard's alerts (on the grants you may review; all for admins).
    Alerts(commands::AlertsArgs),
    /// The notification outbox (admins): counts, dead letters, `retry ID`.
    Notifications(notifications::NotificationsArgs),
}

/// Output format, shared by the client commands.
#[derive(Debug, Clone, Args)]
pub struct OutputOptions {
    /// Print the issuer's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs one access command; the exit code says how it went (0 ok, 1 refused or failed).
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Issuer { command } => issuer::run(command).await,
        Command::Request(args) => commands::request(args).await,
        Command::Status(args) => commands::status(args).await,
        Command::Approve(args) => commands::review(args, "approve").await,
        Command::Deny(args) => commands::review(args, "deny").await,
        Command::Cancel(args) => commands::end(args, "cancel").await,
        Command::Token(args) => commands::token(args).await,
        Command::Revoke(args) => commands::end(args, "revoke").await,
        Command::Grants(args) => commands::grants(args).await,
        Command::Alerts(args) => commands::alerts(args).await,
        Command::Notifications(args) => notifications::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
