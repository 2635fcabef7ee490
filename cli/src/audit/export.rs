//! `jitgate audit export`: downloads a verifiable export from the collector
//! (`GET /v1/export`) and writes it as it arrives — constant memory whatever its size, a
//! running count on stderr when that is a terminal. A file is written under a temporary
//! name and renamed only once complete, so an interrupted export never looks finished.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use jitgate_collector::checkpoint::Checkpoint;

/// Flags of `jitgate audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The collector's base URL.
    #[arg(
        long,
        env = "JITGATE_COLLECTOR_URL",
        default_value = "http://127.0.0.1:4318"
    )]
    collector: String,
    /// A reviewer credential of the collector.
    #[arg(long, env = "JITGATE_AUDIT_CREDENTIAL", hide_env_values = true)]
    credential: String,
    /// Records that started at or after this time (RFC 3339, e.g. 2026-01-01T00:00:00Z).
    #[arg(long)]
    from: Option<String>,
    /// Records that started before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Only this subject (`enduser.id`).
    #[arg(long)]
    subject: Option<String>,
    /// Only this grant id.
    #[arg(long)]
    grant: Option<String>,
    /// Only this model.
    #[arg(long)]
    model: Option<String>,
    /// Only allowed or only denied requests.
    #[arg(long, value_enum)]
    decision: Option<Decision>,
    /// JSON Lines (one entry a line) or CSV (a table, for spreadsheets).
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Include a consistency proof from this earlier checkpoint (one you verified before),
    /// so `verify --trusted-checkpoint` can prove the log only grew since.
    #[arg(long)]
    since_checkpoint: Option<PathBuf>,
    /// Where to write the export (`-` for stdout).
    #[arg(long, short, default_value = "-")]
    output: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Decision {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

/// Runs the export.
pub async fn run(args: ExportArgs) -> ExitCode {
    match export(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jitgate audit export: {message}");
            ExitCode::FAILURE
        }
    }
}

fn query(args: &ExportArgs) -> Result<Vec<(&'static str, String)>, String> {
    let mut query = Vec::new();
    let text = [
        ("from", &args.from),
        ("to", &args.to),
        ("subject", &args.subject),
        ("grant", &args.grant),
        ("model", &args.model),
    ];
    for (name, value) in text {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    if let Some(decision) = args.decision {
        let decision = match decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        };
        query.push(("decision", decision.to_owned()));
    }
    let format = match args.format {
        Format::Jsonl => "jsonl",
        Format::Csv => "csv",
    };
    query.push(("format", format.to_owned()));
    if let Some(path) = &args.since_checkpoint {
        let note = std::fs::read_to_string(path)
            .map_err(|e| format!("--since-checkpoint {}: {e}", path.display()))?;
        // Only its size is needed here; `verify` checks the signature.
        let text = note.split("\n\n").next().unwrap_or("");
        let checkpoint = Checkpoint::parse(&format!("{text}\n"))
            .map_err(|e| format!("--since-checkpoint {}: {e}", path.display()))?;
        query.push(("since_size", checkpoint.size.to_string()));
    }
    Ok(query)
}

async fn export(args: ExportArgs) -> Result<(), String> {
    let query = query(&args)?;
    let url = format!("{}/v1/export", args.collector.trim_end_matches('/'));
    let mut response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&args.credential)
        .query(&query)
        .send()
        .await
        .map_err(|e| format!("cannot reach the collector at {url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or(body);
        return Err(format!(
            "the collector refused the export ({status}): {message}"
        ));
    }
    let mut sink = Sink::open(&args.output)?;
    let progress = std::io::stderr().is_terminal();
    let mut lines = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the export was cut off: {e}"))?
    {
        sink.write(&chunk)?;
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        if progress {
            eprint!("\rexported {lines} lines");
        }
    }
    if progress {
        eprintln!();
    }
    sink.finish()?;
    if args.output != Path::new("-") {
        eprintln!("wrote {} ({lines} lines)", args.output.display());
    }
    Ok(())
}

/// Stdout, or a file written under a temporary name until complete.
enum Sink {
    Stdout(std::io::Stdout),
    File {
        file: std::io::BufWriter<std::fs::File>,
        partial: PathBuf,
        path: PathBuf,
    },
}

impl Sink {
    fn open(path: &Path) -> Result<Sink, String> {
        if path == Path::new("-") {
            return Ok(Sink::Stdout(std::io::stdout()));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file =
            std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        Ok(Sink::File {
            file: std::io::BufWriter::new(file),
            partial,
            path: path.to_owned(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Sink::Stdout(out) => out.write_all(bytes).map_err(|e| format!("stdout: {e}")),
            Sink::File { file, partial, .. } => file
                .write_all(bytes)
                .map_err(|e| format!("{}: {e}", partial.display())),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Stdout(mut out) => out.flush().map_err(|e| format!("stdout: {e}")),
            Sink::File {
                file,
                partial,
                path,
            } => {
                let file = file
                    .into_inner()
                    .map_err(|e| format!("{}: {e}", partial.display()))?;
                file.sync_all()
                    .map_err(|e| format!("{}: {e}", partial.display()))?;
                std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}
