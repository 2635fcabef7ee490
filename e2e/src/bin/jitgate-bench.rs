//! `jitgate-bench`: the benchmark runner behind `cargo xtask bench` (full run, writes
//! `docs/benchmarks.md`) and the bench smoke step of `cargo xtask test` (`--smoke`: every
//! measurement briefly, statuses checked, no figures reported).
//!
//! `--only LIST`, `--rounds N` and `--seconds S` rerun a subset quickly (see
//! `jitgate_e2e::bench::selection`); such a run prints its section but never writes it into
//! the docs, where only a full run's figures belong.
//!
//! Needs Envoy (`JITGATE_ENVOY`), the release filter (`JITGATE_FILTER_WASM`), the no-op
//! filter (`--noop-wasm`), the `jitgate` binary for the collector (`JITGATE_BIN`), `wrk`,
//! `h2load` and `taskset`. `cargo xtask bench` builds and passes all of them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use jitgate_e2e::bench::{self, BenchError, Plan, Selection};
use jitgate_e2e::filter_wasm;

const USAGE: &str =
    "usage: jitgate-bench [--smoke] --noop-wasm PATH [--ingest-bench PATH] [--write FILE]
                     [--only LIST] [--rounds N] [--seconds S]

  --only LIST   configuration numbers (1-8, 5b) and/or measurements (http1, h2, workers,
                recovery, revocation, breach, ingest), comma-separated; numbers alone run the
                HTTP/1.1, HTTP/2 and two-worker measurements for those configurations only
  --rounds N    interleaved rounds per throughput measurement
  --seconds S   load per configuration per round";

/// What the command line asked for.
struct Args {
    smoke: bool,
    noop_wasm: Option<PathBuf>,
    ingest_bench: Option<PathBuf>,
    write: Option<PathBuf>,
    only: Option<Selection>,
    rounds: Option<u32>,
    seconds: Option<u64>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, BenchError> {
    let mut parsed = Args {
        smoke: false,
        noop_wasm: None,
        ingest_bench: None,
        write: None,
        only: None,
        rounds: None,
        seconds: None,
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value\n{USAGE}")))
        };
        let number = |text: String| {
            text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                BenchError::Usage(format!("{flag}: `{text}` is not a positive number"))
            })
        };
        match flag.as_str() {
            "--smoke" => parsed.smoke = true,
            "--noop-wasm" => parsed.noop_wasm = Some(value()?.into()),
            "--ingest-bench" => parsed.ingest_bench = Some(value()?.into()),
            "--write" => parsed.write = Some(value()?.into()),
            "--only" => parsed.only = Some(Selection::parse(&value()?)?),
            "--rounds" => {
                let rounds = number(value()?)?;
                parsed.rounds =
                    Some(u32::try_from(rounds).map_err(|_| {
                        BenchError::Usage(format!("--rounds: {rounds} is too many"))
                    })?);
            }
            "--seconds" => parsed.seconds = Some(number(value()?)?),
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
    if let Some(selection) = args.only {
        plan.selection = selection;
    }
    if let Some(rounds) = args.rounds {
        plan.rounds = rounds;
    }
    if let Some(seconds) = args.seconds {
        plan.duration = Duration::from_secs(seconds);
    }
    if args.write.is_some() && plan.is_partial() {
        return Err(BenchError::Usage(
            "--write replaces the full run's figures in the docs: not with --smoke, --only, --rounds or --seconds".into(),
        ));
    }
    let report = bench::run(&plan)?;
    if plan.smoke {
        // A smoke run's figures come from a second of load on a busy machine: not worth
        // printing as if they meant something.
        println!("{}", smoke_summary(&report));
        return Ok(());
    }
    println!("{}", report.to_markdown());
    if let Some(path) = &args.write {
        report.write_into(path)?;
        println!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// What a smoke run checked, in one line per measurement.
fn smoke_summary(report: &bench::Report) -> String {
    let mut lines =
        vec!["bench smoke: every request answered with a 2xx where one was due".to_owned()];
    let served = |figures: &mut dyn Iterator<Item = (&'static str, u64)>| {
        figures
            .map(|(number, requests)| format!("({number}) {requests}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(throughput) = &report.throughput {
        lines.push(format!(
            "  HTTP/1.1, one worker (requests): {}",
            served(
                &mut throughput
                    .figures
                    .iter()
                    .map(|f| (f.configuration.number(), f.requests()))
            )
        ));
    }
    if let Some(h2) = &report.http2 {
        lines.push(format!(
            "  HTTP/2, one worker (requests): {}",
            served(
                &mut h2
                    .figures
                    .iter()
                    .map(|f| (f.configuration.number(), f.requests()))
            )
        ));
    }
    if let Some(two) = &report.two_workers {
        lines.push(format!(
            "  HTTP/1.1, two workers (requests): {}",
            served(
                &mut two
                    .figures
                    .iter()
                    .map(|f| (f.configuration.number(), f.requests()))
            )
        ));
    }
    if let Some(recovery) = &report.recovery {
        lines.push(format!(
            "  {} collector crash(es): the gate refused with 503 audit_unavailable, then served again",
            recovery.trials.len()
        ));
    }
    if let Some(revocation) = &report.revocation {
        lines.push(format!(
            "  {} revocations refused as `revoked`",
            revocation.latencies.len()
        ));
    }
    if let Some(breach) = &report.breach {
        lines.push(format!(
            "  {} fleet budget breaches refused on every gateway",
            breach.latencies.len()
        ));
    }
    lines.join("\n")
}
