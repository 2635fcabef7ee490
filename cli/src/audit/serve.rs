//! `jitgate collector serve`: flags (each with an environment variable) into a
//! `ServeConfig`, then the collector until Ctrl-C or SIGTERM. Prints the address and the
//! checkpoint verifier key on stdout once it is listening. Credentials are never printed:
//! their environment values are hidden from `--help` too. Senders are given as
//! `--sender KIND:STREAM_PREFIX:SECRET_FILE`, one per gateway deployment and one for the
//! issuer, so a sender's credential only ever sits in a file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use jitgate_collector::senders::SPEC_FORM;
use jitgate_collector::serve::{self, ServeConfig};
use jitgate_collector::{
    CheckpointPolicy, CollectorConfig, Credentials, Error, Result, Sender, Senders,
};
use tokio::net::TcpListener;

/// Flags of `jitgate collector serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (4318 is the OTLP/HTTP port).
    #[arg(
        long,
        env = "JITGATE_COLLECTOR_LISTEN",
        default_value = "127.0.0.1:4318"
    )]
    listen: SocketAddr,
    /// Directory for the checkpoint signing key and, without --database-url, the SQLite log.
    #[arg(
        long,
        env = "JITGATE_COLLECTOR_DATA_DIR",
        default_value = "jitgate-collector"
    )]
    data_dir: PathBuf,
    /// Store the log in PostgreSQL (postgres://…) or another SQLite file (sqlite:PATH).
    #[arg(long, env = "JITGATE_COLLECTOR_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The log's origin (checkpoint first line and key name) when a new key is generated.
    #[arg(long, env = "JITGATE_COLLECTOR_ORIGIN")]
    origin: Option<String>,
    /// A sender and what it may write: `gateway:<audit.service_name>-:FILE` for each Envoy
    /// deployment, `issuer:issuer-:FILE` for the issuer. FILE holds its credential (one a
    /// line while rotating; owner-only permissions). Repeat, or comma-separate in the
    /// environment variable.
    #[arg(
        long = "sender",
        env = "JITGATE_COLLECTOR_SENDERS",
        value_delimiter = ',',
        value_name = SPEC_FORM
    )]
    senders: Vec<String>,
    /// Removed: one credential for every sender let any of them write any stream.
    #[arg(
        long = "sender-credential",
        env = "JITGATE_COLLECTOR_SENDER_CREDENTIALS",
        value_delimiter = ',',
        hide = true,
        hide_env_values = true
    )]
    removed_sender_credentials: Vec<String>,
    /// Removed, as `--sender-credential`.
    #[arg(
        long = "sender-credentials-file",
        env = "JITGATE_COLLECTOR_SENDER_CREDENTIALS_FILE",
        hide = true
    )]
    removed_sender_credentials_file: Option<PathBuf>,
    /// A bearer credential reviewers query and export with (repeatable).
    #[arg(
        long = "reviewer-credential",
        env = "JITGATE_COLLECTOR_REVIEWER_CREDENTIALS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    reviewer_credentials: Vec<String>,
    /// A file of reviewer credentials, one a line (owner-only permissions).
    #[arg(long, env = "JITGATE_COLLECTOR_REVIEWER_CREDENTIALS_FILE")]
    reviewer_credentials_file: Option<PathBuf>,
    #[command(flatten)]
    guard: super::guard_args::GuardArgs,
    /// Sign a checkpoint once this many records are unsigned.
    #[arg(
        long,
        env = "JITGATE_COLLECTOR_CHECKPOINT_RECORDS",
        default_value_t = 10_000
    )]
    checkpoint_records: u64,
    /// Sign a checkpoint this often while records arrive (e.g. 10s, 1m).
    #[arg(long, env = "JITGATE_COLLECTOR_CHECKPOINT_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    checkpoint_interval: Duration,
    /// Largest OTLP request body accepted, in bytes.
    #[arg(long, env = "JITGATE_COLLECTOR_MAX_BODY_BYTES", default_value_t = jitgate_collector::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

fn credentials(
    what: &str,
    listed: &[String],
    file: Option<&std::path::Path>,
) -> Result<Credentials> {
    let mut credentials = Credentials::new(what, listed)?;
    if let Some(file) = file {
        credentials = credentials.merged(Credentials::from_file(what, file)?);
    }
    Ok(credentials)
}

fn senders(args: &ServeArgs) -> Result<Senders> {
    if !args.removed_sender_credentials.is_empty() || args.removed_sender_credentials_file.is_some()
    {
        return Err(Error::Config(format!(
            "--sender-credential and --sender-credentials-file (JITGATE_COLLECTOR_SENDER_CREDENTIALS \
             and …_FILE) are no longer read: give each gateway deployment and the issuer its own \
             credential, bound to its streams, with --sender {SPEC_FORM} (docs/audit.md, \"Senders\")"
        )));
    }
    Senders::new(
        args.senders
            .iter()
            .map(|spec| Sender::from_spec(spec.trim()))
            .collect::<Result<_>>()?,
    )
}

fn config(args: &ServeArgs) -> Result<ServeConfig> {
    Ok(ServeConfig {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        origin: args.origin.clone(),
        checkpoints: CheckpointPolicy {
            every_records: args.checkpoint_records.max(1),
            every: args.checkpoint_interval.max(Duration::from_millis(100)),
        },
        collector: CollectorConfig {
            senders: senders(args)?,
            reviewers: credentials(
                "reviewer credential",
                &args.reviewer_credentials,
                args.reviewer_credentials_file.as_deref(),
            )?,
            max_body_bytes: args.max_body_bytes,
        },
        guard: args.guard.settings()?,
    })
}

/// Runs the collector until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> ExitCode {
    match serve_until_stopped(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jitgate collector serve: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_stopped(args: ServeArgs) -> Result<()> {
    let config = config(&args)?;
    let collector = serve::open(&config).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(jitgate_collector::Error::io(format!(
            "listen address {}",
            args.listen
        )))?;
    let address = listener
        .local_addr()
        .map_err(jitgate_collector::Error::io("listener"))?;
    // Written, not `println!`ed: a supervisor that read the first line and closed the pipe
    // (tests, scripts waiting for the address) must not crash the collector with EPIPE.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "jitgate collector listening on http://{address} ({} log)",
        collector.log().store().backend()
    );
    let _ = writeln!(
        stdout,
        "checkpoint verifier key: {}",
        collector.log().verifier()
    );
    let _ = stdout.flush();
    drop(stdout);
    serve::run(collector, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
