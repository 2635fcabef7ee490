//! Collector ingest benchmark (not a test): records per second from OTLP JSON bodies to
//! committed transactions, on SQLite (a temp file) and, when a URL is given, PostgreSQL.
//!
//! `cargo run --release -p jitgate-collector --example ingest_bench -- \
//!     [--records N] [--batch N] [--senders N] [--postgres postgres://…/an_empty_database]`

use std::process::ExitCode;

use jitgate_collector::bench::{ingest, locations, IngestBench};

struct Args {
    records: u64,
    batch: u64,
    senders: u64,
    postgres: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        records: 200_000,
        batch: 1_000,
        senders: 4,
        postgres: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--records" => args.records = value.parse().map_err(|_| "--records: a number")?,
            "--batch" => args.batch = value.parse().map_err(|_| "--batch: a number")?,
            "--senders" => args.senders = value.parse().map_err(|_| "--senders: a number")?,
            "--postgres" => args.postgres = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("ingest_bench: {message}");
            return ExitCode::from(2);
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("ingest_bench: temp dir: {error}");
            return ExitCode::FAILURE;
        }
    };
    for (name, location) in locations(dir.path(), args.postgres.as_deref()) {
        let bench = IngestBench {
            location,
            records: args.records,
            batch: args.batch,
            senders: args.senders,
        };
        match ingest(&bench).await {
            Ok(result) => println!(
                "{name}: {} records in batches of {} from {} senders in {:.2} s = {:.0} records/s",
                result.records,
                args.batch,
                args.senders,
                result.elapsed.as_secs_f64(),
                result.per_second()
            ),
            Err(error) => {
                eprintln!("ingest_bench: {name}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
