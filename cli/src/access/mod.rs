//! The access commands: asking for access and handling it (`request`, `status`, `approve`,
//! `deny`, `cancel`, `token`, `revoke`, `grants`, `alerts`) against an issuer, and running or
//! administering the issuer itself (`issuer serve`, `issuer rotate-key`, …).
//!
//! Exit statuses (also in docs/issuer.md, "The CLI"): 0 done (with `--wait`: granted), 1 an
//! error or a refusal, 2 a usage error (clap's), and with `--wait` 3 denied, 4 cancelled,
//! expired or revoked, 5 still pending when `--timeout` ran out. See [`Outcome`].

mod client;
mod commands;
mod issuer;
mod login;
mod notifications;
mod output;
mod wait;

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
    /// [--max-requests N] [--max-tokens N] [--wait [--timeout 15m]]`.
    Request(commands::RequestArgs),
    /// Show one request (with its history), or list yours; `--wait` waits for the decision.
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
    /// Sign in at your identity provider (browser, loopback redirect, PKCE); later commands
    /// use that sign-in and renew it silently.
    Login(login::LoginArgs),
    /// Sign out: revoke the refresh token at the identity provider and delete it here.
    Logout(login::SessionArgs),
    /// Who the issuer takes you for: subject, kind, groups, roles.
    Whoami(login::SessionArgs),
}

/// Output format, shared by the client commands.
#[derive(Debug, Clone, Args)]
pub struct OutputOptions {
    /// Print the issuer's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How a command that did its job ended, for its exit status. Only `--wait` ends in anything
/// but `Done`; an error (`Err(message)`) exits 1, and clap's usage errors exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; with `--wait`, the request is granted (`active`). Exit 0.
    Done,
    /// `--wait`: a reviewer denied the request. Exit 3.
    Denied,
    /// `--wait`: the request ended without a grant (`cancelled`, `expired`), or its grant has
    /// ended already (`expired`, `revoked`). Exit 4.
    Ended,
    /// `--wait`: still pending when `--timeout` ran out. Exit 5.
    StillPending,
}

impl Outcome {
    /// The exit status that reports this outcome.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::Denied => ExitCode::from(3),
            Outcome::Ended => ExitCode::from(4),
            Outcome::StillPending => ExitCode::from(5),
        }
    }
}

/// Runs one access command; the exit status says how it went (see [`Outcome`]).
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Issuer { command } => issuer::run(command).await.map(|()| Outcome::Done),
        Command::Request(args) => commands::request(args).await,
        Command::Status(args) => commands::status(args).await,
        Command::Approve(args) => commands::review(args, "approve")
            .await
            .map(|()| Outcome::Done),
        Command::Deny(args) => commands::review(args, "deny").await.map(|()| Outcome::Done),
        Command::Cancel(args) => commands::end(args, "cancel").await.map(|()| Outcome::Done),
        Command::Token(args) => commands::token(args).await.map(|()| Outcome::Done),
        Command::Revoke(args) => commands::end(args, "revoke").await.map(|()| Outcome::Done),
        Command::Grants(args) => commands::grants(args).await.map(|()| Outcome::Done),
        Command::Alerts(args) => commands::alerts(args).await.map(|()| Outcome::Done),
        Command::Notifications(args) => notifications::run(args).await.map(|()| Outcome::Done),
        Command::Login(args) => login::login(args).await.map(|()| Outcome::Done),
        Command::Logout(args) => login::logout(args).await.map(|()| Outcome::Done),
        Command::Whoami(args) => login::whoami(args).await.map(|()| Outcome::Done),
    };
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
