//! `jitgate-bench`: the benchmark runner behind `cargo xtask bench` (full run, writes
//! `docs/benchmarks.md`) and the bench smoke step of `cargo xtask test` (`--smoke`: every
//! configuration briefly, statuses checked, no figures reported).
//!
//! Needs Envoy (`JITGATE_ENVOY`), the release filter (`JITGATE_FILTER_WASM`), the no-op
//! filter (`--noop-wasm`), the `jitgate` binary for the collector (`JITGATE_BIN`), `wrk` and
//! `taskset`. `cargo xtask bench` builds and passes all of them.

use std::path::PathBuf;
use std::process::ExitCode;

use jitgate_e2e::bench::{self, BenchError, Plan};
use jitgate_e2e::filter_wasm;

const USAGE: &str =
    "usage: jitgate-bench [--smoke] --noop-wasm PATH [--ingest-bench PATH] [--write FILE]";

/// What the command line asked for.
struct Args {
    smoke: bool,
    noop_wasm: Option<PathBuf>,
    ingest_bench: Option<PathBuf>,
    write: Option<PathBuf>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, BenchError> {
    let mut parsed = Args {
        smoke: false,
        noop_wasm: None,
        ingest_bench: None,
        write: None,
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value\n{USAGE}")))
        };
        match flag.as_str() {
            "--smoke" => parsed.smoke = true,
            "--noop-wasm" => parsed.noop_wasm = Some(value()?),
            "--ingest-bench" => parsed.ingest_bench = Some(value()?),
            "--write" => parsed.write = Some(value()?),
            other => {
                return Err(BenchError::Usage(format!(
                    "unknown argument {other}\n{USAGE}"
                )))
            }
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jitgate-bench: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BenchError> {
    let args = parse(std::env::args().skip(1))?;
    let noop_wasm = args
        .noop_wasm
        .ok_or_else(|| BenchError::Usage(format!("--noop-wasm is required\n{USAGE}")))?;
    let jitgate_wasm = filter_wasm()?;
    let mut plan = if args.smoke {
        Plan::smoke(jitgate_wasm, noop_wasm)
    } else {
        Plan::full(jitgate_wasm, noop_wasm)
    };
    plan.ingest_bench = args.ingest_bench;
    let report = bench::run(&plan)?;
    if plan.smoke {
        // A smoke run's figures come from a second of load on a busy machine: not worth
        // printing as if they meant something.
        let served: Vec<String> = report
            .throughput
            .figures
            .iter()
            .map(|figure| format!("({}) {}", figure.configuration.number(), figure.requests()))
            .collect();
        println!(
            "bench smoke: every configuration answered every request with 200 (requests: {}); {} revocations refused as `revoked`; {} fleet budget breaches refused on every gateway",
            served.join(", "),
            report.revocation.latencies.len(),
            report.breach.latencies.len()
        );
        return Ok(());
    }
    println!("{}", report.to_markdown());
    if let Some(path) = &args.write {
        report.write_into(path)?;
        println!("bench: wrote {}", path.display());
    }
    Ok(())
}
