//! `cargo xtask fuzz`: builds the cargo-fuzz targets in `fuzz/` and runs them with libFuzzer,
//! seeded from `testdata/` — a long run per target for local use, and the short run of every
//! target that `cargo xtask test` makes.
//!
//! Works on the stable toolchain: `--sanitizer none` keeps cargo-fuzz from passing the
//! nightly-only `-Zsanitizer` flag (the code under test has no `unsafe` of its own; coverage
//! instrumentation needs only stable `-C` flags). Everything the fuzzer writes stays under the
//! main target dir (`<target>/fuzz/`): the build, the growing corpus, crash artifacts and
//! logs. Seeds are generated on every run from the conformance vectors, the test policy, the
//! example filter configuration and the small text seeds in `fuzz/seeds/`, so no binary
//! corpus is committed. Inputs that once crashed a target live in
//! `testdata/fuzz-regressions/<target>/` and are replayed first on every run.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::command::Cmd;
use crate::elapsed;
use crate::error::Error;
use crate::paths;
use crate::tools;
use crate::workspace::Workspace;

/// The fuzz targets, in the order they run (see `docs/fuzzing.md`).
pub const TARGETS: &[&str] = &[
    "token_decide",
    "token_claims",
    "filter_config",
    "body_model",
    "request_flow",
    "route_match",
    "otlp_ingest",
    "issuer_request",
];

/// Seconds per target for `cargo xtask fuzz` without `--seconds`.
pub const DEFAULT_SECONDS: u64 = 600;
/// Seconds per target in `cargo xtask test` at most: seven targets stay within about four
/// minutes.
pub const SMOKE_SECONDS: u64 = 30;
/// The smoke run's libFuzzer seed. Fixed, with a fresh corpus each time, so one build of the
/// targets always replays the same inputs: a smoke failure reproduces with `cargo xtask fuzz
/// --smoke`, and a commit that does not touch the fuzzed code cannot fail it by chance. (A
/// change to the fuzzed code changes the coverage feedback and so the sequence: a failure
/// then is a real finding.) Finding new bugs is the long run's job.
pub const SMOKE_SEED: u64 = 20_261_124;
/// Inputs per target in the smoke run: about what this machine's 2 cores run in 30 s, each
/// count run crash-free here. A slower machine stops at [`SMOKE_SECONDS`] first and so runs
/// a prefix of the same sequence.
const SMOKE_RUNS: &[(&str, u64)] = &[
    ("token_decide", 1_500_000),
    ("token_claims", 90_000),
    ("filter_config", 90_000),
    ("body_model", 3_400_000),
    ("request_flow", 20_000),
    ("route_match", 1_700_000),
    ("otlp_ingest", 1_500_000),
    ("issuer_request", 8_500_000),
];
/// For a target missing from the table.
const SMOKE_RUNS_DEFAULT: u64 = 100_000;

/// What to fuzz and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzRun {
    /// One target, or every target.
    pub target: Option<String>,
    /// libFuzzer's `-max_total_time` for each target.
    pub seconds: u64,
    /// The reproducible short run of `cargo xtask test`: [`SMOKE_SEED`], a bounded number of
    /// inputs, and a fresh corpus instead of the one longer runs grow.
    pub smoke: bool,
}

impl FuzzRun {
    /// The run `cargo xtask test` makes: every target, reproducibly, for a short while.
    pub fn smoke() -> FuzzRun {
        FuzzRun {
            target: None,
            seconds: SMOKE_SECONDS,
            smoke: true,
        }
    }
}

impl FuzzRun {
    /// Reads `[target] [--seconds N | --smoke]`.
    pub fn parse(args: &[&str]) -> Result<FuzzRun, Error> {
        let mut run = FuzzRun {
            target: None,
            seconds: DEFAULT_SECONDS,
            smoke: false,
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match *arg {
                // Exactly the run `cargo xtask test` makes, to reproduce it.
                "--smoke" => {
                    run.smoke = true;
                    run.seconds = SMOKE_SECONDS;
                }
                "--seconds" => {
                    let value = rest.next().ok_or_else(|| {
                        Error::Usage("`--seconds` needs a number of seconds".to_owned())
                    })?;
                    run.seconds = value
                        .parse()
                        .ok()
                        .filter(|seconds| *seconds > 0)
                        .ok_or_else(|| {
                            Error::Usage(format!("`--seconds {value}`: give a whole number > 0"))
                        })?;
                }
                target if TARGETS.contains(&target) && run.target.is_none() => {
                    run.target = Some(target.to_owned());
                }
                other => {
                    return Err(Error::Usage(format!(
                        "`fuzz {other}`: expected one of {} and/or --seconds N or --smoke",
                        TARGETS.join(", ")
                    )))
                }
            }
        }
        Ok(run)
    }

    fn targets(&self) -> Vec<&str> {
        match &self.target {
            Some(target) => vec![target.as_str()],
            None => TARGETS.to_vec(),
        }
    }
}

/// What one target's run did, from libFuzzer's final statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzStats {
    /// Inputs executed.
    pub executions: u64,
    /// Average executions per second.
    pub per_second: u64,
}

/// `cargo xtask fuzz`: setup, build, then each target for `run.seconds`.
pub fn run(root: &Path, run: &FuzzRun) -> Result<(), Error> {
    crate::setup::run(root)?;
    let workspace = Workspace::load(root)?;
    fuzz(&workspace, run)
}

/// Builds the targets and runs each for `run.seconds`, stopping at the first crash. Used by
/// `cargo xtask fuzz` and, with [`SMOKE_SECONDS`], by `cargo xtask test`.
pub fn fuzz(workspace: &Workspace, run: &FuzzRun) -> Result<(), Error> {
    let tools_dir = paths::tools_dir(workspace.root())?;
    let layout = Layout::new(workspace);
    build(workspace, &tools_dir, &layout)?;
    for target in run.targets() {
        let started = Instant::now();
        let seeds = write_seeds(workspace.root(), &layout, target)?;
        let stats = fuzz_one(workspace.root(), &layout, target, run)?;
        println!(
            "fuzz: {target}: {} execs, {} execs/s, {seeds} seeds, no crash ({})",
            stats.executions,
            stats.per_second,
            elapsed::human(started.elapsed())
        );
    }
    Ok(())
}

/// Where the fuzzer's files go, all under the main target dir.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(workspace: &Workspace) -> Layout {
        Layout {
            dir: workspace.target_dir().join("fuzz"),
        }
    }

    fn binary(&self, target: &str) -> PathBuf {
        self.dir.join(HOST_TRIPLE).join("release").join(target)
    }

    /// The corpus libFuzzer grows; kept between runs so longer runs build on shorter ones.
    /// The smoke run's starts empty every time, so it does not depend on earlier runs.
    fn corpus(&self, target: &str, smoke: bool) -> PathBuf {
        let kind = if smoke { "smoke-corpus" } else { "corpus" };
        self.dir.join(kind).join(target)
    }

    fn seeds(&self, target: &str) -> PathBuf {
        self.dir.join("seeds").join(target)
    }

    fn artifacts(&self, target: &str) -> PathBuf {
        self.dir.join("artifacts").join(target)
    }

    fn log(&self, target: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{target}.log"))
    }
}

/// cargo-fuzz builds for the host; this is the only host the tools are set up for.
const HOST_TRIPLE: &str = "x86_64-unknown-linux-gnu";

fn build(workspace: &Workspace, tools_dir: &Path, layout: &Layout) -> Result<(), Error> {
    let cargo_fuzz = tools::cargo_fuzz_binary(tools_dir);
    Cmd::new(&cargo_fuzz)
        .args(["build", "--sanitizer", "none", "--target-dir"])
        .arg(&layout.dir)
        .current_dir(workspace.root().join("fuzz"))
        .run()
        .map_err(|error| error.hint("run `cargo xtask setup` to install cargo-fuzz"))
}

/// Runs one target; a crash fails with the artifact path and the tail of the log.
fn fuzz_one(root: &Path, layout: &Layout, target: &str, run: &FuzzRun) -> Result<FuzzStats, Error> {
    let corpus = layout.corpus(target, run.smoke);
    if run.smoke && corpus.exists() {
        fs::remove_dir_all(&corpus).map_err(Error::io(&corpus))?;
    }
    let artifacts = layout.artifacts(target);
    let log_path = layout.log(target);
    for dir in [&corpus, &artifacts, &layout.dir.join("logs")] {
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let log = File::create(&log_path).map_err(Error::io(&log_path))?;
    let log_for_stdout = log.try_clone().map_err(Error::io(&log_path))?;
    let regressions = root.join("testdata").join("fuzz-regressions").join(target);
    let mut command = Command::new(layout.binary(target));
    command
        .arg(format!("-max_total_time={}", run.seconds))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        // A single input taking 10 s, or 2 GB, is a finding too (hangs and memory blow-ups).
        .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]);
    if run.smoke {
        command
            .arg(format!("-seed={SMOKE_SEED}"))
            .arg(format!("-runs={}", smoke_runs(target)));
    }
    command.arg(&corpus).arg(layout.seeds(target));
    if regressions.is_dir() {
        command.arg(&regressions);
    }
    let shown = format!("{command:?}");
    println!("$ {shown}  # log: {}", log_path.display());
    let status = command
        .stdin(Stdio::null())
        .stdout(log_for_stdout)
        .stderr(log)
        .status()
        .map_err(|source| Error::Spawn {
            command: shown.clone(),
            source,
        })?;
    let text = fs::read_to_string(&log_path).map_err(Error::io(&log_path))?;
    if !status.success() {
        return Err(Error::Failed {
            command: shown,
            exit: status.to_string(),
            output_tail: Some(tail(&text, 40)),
        }
        .hint(format!(
            "the crashing input is in {}; reproduce with `{} <file>`, fix the code, and add the \
             input to testdata/fuzz-regressions/{target}/ (see docs/fuzzing.md)",
            artifacts.display(),
            layout.binary(target).display()
        )));
    }
    final_stats(&text).ok_or_else(|| {
        Error::Unexpected(format!(
            "{target}: libFuzzer printed no final statistics (see {})",
            log_path.display()
        ))
    })
}

fn smoke_runs(target: &str) -> u64 {
    SMOKE_RUNS
        .iter()
        .find(|(name, _)| *name == target)
        .map_or(SMOKE_RUNS_DEFAULT, |(_, runs)| *runs)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Reads `stat::number_of_executed_units` and `stat::average_exec_per_sec`.
pub fn final_stats(log: &str) -> Option<FuzzStats> {
    let stat = |name: &str| {
        log.lines()
            .rev()
            .filter_map(|line| line.strip_prefix(name))
            .find_map(|rest| rest.trim_start_matches(':').trim().parse::<u64>().ok())
    };
    Some(FuzzStats {
        executions: stat("stat::number_of_executed_units")?,
        per_second: stat("stat::average_exec_per_sec")?,
    })
}

/// Writes the target's seeds afresh; returns how many.
fn write_seeds(root: &Path, layout: &Layout, target: &str) -> Result<usize, Error> {
    let dir = layout.seeds(target);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
    }
    fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    let seeds = seeds::for_target(root, target)?;
    for (index, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("seed-{index:04}"));
        fs::write(&path, seed).map_err(Error::io(&path))?;
    }
    Ok(seeds.len())
}

/// The seeds of each target, from files already in the repository.
mod seeds {
    use std::fs;
    use std::path::Path;

    use super::json_strings::{string_members, string_values_of};
    use crate::error::Error;

    /// Each seed starts with the target's mode byte(s) (see the target's module docs).
    pub fn for_target(root: &Path, target: &str) -> Result<Vec<Vec<u8>>, Error> {
        let vectors = vector_files(root)?;
        let prefixed = |prefix: &[u8], texts: Vec<String>| -> Vec<Vec<u8>> {
            texts
                .into_iter()
                .map(|text| [prefix, text.as_bytes()].concat())
                .collect()
        };
        let mut seeds = match target {
            "token_decide" => {
                let headers = vectors
                    .iter()
                    .map(|text| string_values_of(text, "authorization").join("\n"))
                    .collect();
                prefixed(&[0, 0, 0, 0], headers)
            }
            "body_model" => prefixed(&[0], values(&vectors, "body")),
            "route_match" => {
                let mut paths = values(&vectors, "path");
                let policy = read(&root.join("testdata").join("policy.json"))?;
                paths.extend(values(&[policy], "path"));
                // Odd mode byte: the raw path against the test policy.
                prefixed(&[1], paths)
            }
            "filter_config" => {
                let example = read(&root.join("envoy").join("plugin-config.example.json"))?;
                let policy = read(&root.join("testdata").join("policy.json"))?;
                prefixed(&[0], vec![example, policy])
            }
            "otlp_ingest" => prefixed(&[0], committed(root, target)?),
            "issuer_request" => prefixed(&[1], committed(root, target)?),
            // Structure-aware (`arbitrary`) input has no text form to seed from.
            _ => Vec::new(),
        };
        seeds.sort();
        seeds.dedup();
        Ok(seeds)
    }

    fn values(texts: &[String], key: &str) -> Vec<String> {
        texts
            .iter()
            .flat_map(|text| string_members(text))
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value)
            .collect()
    }

    fn vector_files(root: &Path) -> Result<Vec<String>, Error> {
        text_files(&root.join("testdata").join("vectors"))
    }

    /// Small text seeds kept next to the targets, for inputs `testdata/` has no file of.
    fn committed(root: &Path, target: &str) -> Result<Vec<String>, Error> {
        text_files(&root.join("fuzz").join("seeds").join(target))
    }

    fn text_files(dir: &Path) -> Result<Vec<String>, Error> {
        let mut paths: Vec<_> = fs::read_dir(dir)
            .map_err(Error::io(dir))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        paths.iter().map(|path| read(path)).collect()
    }

    fn read(path: &Path) -> Result<String, Error> {
        fs::read_to_string(path).map_err(Error::io(path))
    }
}

/// Just enough JSON reading for seeds, keeping xtask std-only: the string members of a
/// document (`"name": "value"`, and the strings of `"name": ["a", "b"]`), unescaped.
mod json_strings {
    /// Every `(member name, string value)` pair, array elements under their array's name.
    pub fn string_members(text: &str) -> Vec<(String, String)> {
        let mut members = Vec::new();
        let mut current: Option<String> = None;
        let mut chars = text.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            if c != '"' {
                if c == '{' || c == '}' {
                    current = None;
                }
                continue;
            }
            let mut literal = String::new();
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                match (escaped, c) {
                    (false, '"') => break,
                    (false, '\\') => escaped = true,
                    _ => escaped = false,
                }
                literal.push(c);
            }
            let value = unescape(&literal);
            while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_some_and(|(_, c)| *c == ':') {
                current = Some(value);
            } else if let Some(name) = &current {
                members.push((name.clone(), value));
            }
        }
        members
    }

    /// The string values of every member called `name`.
    pub fn string_values_of(text: &str, name: &str) -> Vec<String> {
        string_members(text)
            .into_iter()
            .filter(|(member, _)| member == name)
            .map(|(_, value)| value)
            .collect()
    }

    fn unescape(literal: &str) -> String {
        let mut out = String::with_capacity(literal.len());
        let mut chars = literal.chars();
        let mut pending_high: Option<u32> = None;
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let Ok(unit) = u32::from_str_radix(&hex, 16) else {
                        continue;
                    };
                    match (pending_high.take(), unit) {
                        (None, 0xD800..=0xDBFF) => pending_high = Some(unit),
                        (Some(high), 0xDC00..=0xDFFF) => {
                            let code = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                            out.extend(char::from_u32(code));
                        }
                        (_, unit) => out.push(char::from_u32(unit).unwrap_or('\u{FFFD}')),
                    }
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_members_and_array_elements_unescaped() {
            let text = r#"{"a": "x\"y", "list": ["p", "q\\n"], "n": 1, "body": "{\"model\":\"\u00e9\ud83d\ude00\"}"}"#;
            assert_eq!(
                string_members(text),
                vec![
                    ("a".to_owned(), "x\"y".to_owned()),
                    ("list".to_owned(), "p".to_owned()),
                    ("list".to_owned(), "q\\n".to_owned()),
                    (
                        "body".to_owned(),
                        "{\"model\":\"\u{e9}\u{1f600}\"}".to_owned()
                    ),
                ]
            );
            assert_eq!(string_values_of(text, "list"), vec!["p", "q\\n"]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_target_and_a_duration() {
        assert_eq!(
            FuzzRun::parse(&["body_model", "--seconds", "60"]).ok(),
            Some(FuzzRun {
                target: Some("body_model".to_owned()),
                seconds: 60,
                smoke: false,
            })
        );
        assert_eq!(
            FuzzRun::parse(&[]).ok().map(|run| run.seconds),
            Some(DEFAULT_SECONDS)
        );
        for bad in [
            &["nope"][..],
            &["--seconds"],
            &["--seconds", "0"],
            &["body_model", "route_match"],
        ] {
            assert!(FuzzRun::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_libfuzzers_final_statistics() {
        let log = "#1024 pulse\nDone 5000 runs in 2 second(s)\n\
                   stat::number_of_executed_units: 5000\nstat::average_exec_per_sec:     2500\n\
                   stat::new_units_added:          12\n";
        assert_eq!(
            final_stats(log),
            Some(FuzzStats {
                executions: 5000,
                per_second: 2500
            })
        );
        assert_eq!(final_stats("no stats"), None);
    }
}
