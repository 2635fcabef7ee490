//! `jitgate audit guard-replay <export> --rules FILE`: recomputes the guard's firings from an
//! export alone and compares them with the guard records it holds, so anyone can check why a
//! grant was flagged or ended. Prints one line per firing (`match`, `differs`, `not logged`)
//! and per guard record nothing explains; exit 0 when every firing matches the log, 1 when
//! not, 2 when it cannot run. Verify the export first (`jitgate audit verify`).

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use jitgate_collector::filter::format_time;
use jitgate_collector::guard::replay::{replay, Comparison};
use jitgate_collector::guard::rules::Rules;

/// Flags of `jitgate audit guard-replay`.
#[derive(Debug, Args)]
pub struct GuardReplayArgs {
    /// The export file (`-` for stdin).
    export: PathBuf,
    /// The rules file the guard ran with.
    #[arg(long)]
    rules: PathBuf,
}

/// Runs the replay.
pub fn run(args: GuardReplayArgs) -> ExitCode {
    let rules = match Rules::load(&args.rules) {
        Ok(rules) => rules,
        Err(error) => {
            eprintln!("jitgate audit guard-replay: {error}");
            return ExitCode::from(2);
        }
    };
    let result = if args.export.as_os_str() == "-" {
        replay(std::io::stdin().lock(), &rules)
    } else {
        match std::fs::File::open(&args.export) {
            Ok(file) => replay(BufReader::new(file), &rules),
            Err(error) => {
                eprintln!(
                    "jitgate audit guard-replay: {}: {error}",
                    args.export.display()
                );
                return ExitCode::from(2);
            }
        }
    };
    let replay = match result {
        Ok(replay) => replay,
        Err(message) => {
            eprintln!("jitgate audit guard-replay: {message}");
            return ExitCode::from(2);
        }
    };
    let mut all_match = true;
    for firing in &replay.recomputed {
        let verdict = match replay.compare(firing) {
            Comparison::Matches => "match".to_owned(),
            Comparison::Differs(how) => {
                all_match = false;
                format!("differs: {how}")
            }
            Comparison::NotLogged => {
                all_match = false;
                "not logged".to_owned()
            }
        };
        println!(
            "{} {} rule {} grant={} evidence leaf {}: {} [{verdict}]",
            format_time(firing.time_unix_nano),
            firing.firing_id,
            firing.rule,
            firing.grant_id,
            firing.evidence_leaf_index,
            firing.detail
        );
    }
    for logged in replay.unexplained() {
        all_match = false;
        println!(
            "{} {} rule {} grant={}: in the log, not recomputed [unexplained]",
            format_time(logged.time_unix_nano),
            logged.firing_id,
            logged.rule,
            logged.grant_id
        );
    }
    println!(
        "{} records, {} firings recomputed, {} guard records in the export: {}",
        replay.records,
        replay.recomputed.len(),
        replay.logged.len(),
        if all_match {
            "the log matches"
        } else {
            "the log does not match"
        }
    );
    if all_match {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
