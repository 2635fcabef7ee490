//! Export and verify benchmark (not a test): records per second for the collector streaming a
//! full JSON Lines export of a log (`GET /v1/export`, what `jitgate audit export` fetches) and
//! for verifying that export offline (`jitgate audit verify`), on SQLite (a temp file) and,
//! when a URL is given, PostgreSQL. The log is written first, untimed.
//!
//! `cargo run --release -p jitgate-collector --example verify_bench -- \
//!     [--records N] [--postgres postgres://…/an_empty_database]`
//!
//! Prints one line per measurement, `<what> (<store>): … = <rate> records/s`:
//! `export (sqlite): 200000 records (412.3 MB) in 1.52 s = 131579 records/s` and
//! `verify (sqlite): 200000 records in 1.10 s = 181818 records/s`.

use std::process::ExitCode;

use jitgate_collector::bench::export::{export_and_verify, ExportBench};
use jitgate_collector::bench::locations;

struct Args {
    records: u64,
    postgres: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        records: 200_000,
        postgres: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--records" => args.records = value.parse().map_err(|_| "--records: a number")?,
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
            eprintln!("verify_bench: {message}");
            return ExitCode::from(2);
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("verify_bench: temp dir: {error}");
            return ExitCode::FAILURE;
        }
    };
    for (name, location) in locations(dir.path(), args.postgres.as_deref()) {
        let bench = ExportBench {
            location,
            records: args.records,
            export_file: dir.path().join(format!("{name}.jsonl")),
        };
        match export_and_verify(&bench).await {
            Ok(result) => {
                println!(
                    "export ({name}): {} records ({:.1} MB) in {:.2} s = {:.0} records/s",
                    result.records,
                    result.bytes as f64 / 1e6,
                    result.export.as_secs_f64(),
                    result.export_per_second()
                );
                println!(
                    "verify ({name}): {} records in {:.2} s = {:.0} records/s",
                    result.records,
                    result.verify.as_secs_f64(),
                    result.verify_per_second()
                );
            }
            Err(error) => {
                eprintln!("verify_bench: {name}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
