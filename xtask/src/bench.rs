//! `cargo xtask bench`: builds what the benchmarks run — the release filter, the no-op
//! baseline filter, the release `jitgate` (its collector takes the audit stream), the release
//! collector ingest example and the `jitgate-bench` runner — then runs the full benchmark,
//! which prints its table and writes it into `docs/benchmarks.md`.
//!
//! `smoke` is the short run `cargo xtask test` makes after the e2e tests: every configuration
//! for a second, statuses checked, no figures kept. Speed is never judged by either.
//!
//! `cargo xtask bench --only 5,6,h2 --rounds 2 --seconds 3` passes those flags to the runner
//! for a quick partial rerun, which prints its section but leaves `docs/benchmarks.md` alone.

use std::path::{Path, PathBuf};

use crate::build;
use crate::command::Cmd;
use crate::error::Error;
use crate::setup;
use crate::tools::Tools;
use crate::workspace::Workspace;

/// The no-op proxy-wasm filter, the baseline for "any Wasm filter".
const NOOP_PACKAGE: &str = "jitgate-bench-noop-filter";
/// Where the full run's table goes (between its markers; the analysis around it stays).
const REPORT: &str = "docs/benchmarks.md";

/// The runner's flags `cargo xtask bench` passes on: each takes one value.
const PARTIAL_FLAGS: [&str; 3] = ["--only", "--rounds", "--seconds"];

/// Checks `cargo xtask bench`'s arguments: only [`PARTIAL_FLAGS`], each with a value (the
/// runner checks the values themselves).
pub fn parse(args: &[&str]) -> Result<Vec<String>, Error> {
    let mut passed = Vec::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if !PARTIAL_FLAGS.contains(flag) {
            return Err(Error::Usage(format!(
                "unexpected argument to `bench`: {flag} (it takes {})",
                PARTIAL_FLAGS.join(", ")
            )));
        }
        let value = args
            .next()
            .ok_or_else(|| Error::Usage(format!("`bench {flag}` needs a value")))?;
        passed.extend([(*flag).to_owned(), (*value).to_owned()]);
    }
    Ok(passed)
}

/// Sets up, builds, and runs the benchmark: the full run (about twenty minutes on two
/// cores), written into the docs, or the partial one `partial` asks for, only printed.
pub fn run(root: &Path, partial: &[String]) -> Result<(), Error> {
    let tools = setup::run(root)?;
    let workspace = Workspace::load(root)?;
    let filter = build::filter_wasm(&workspace)?;
    let noop = noop_wasm(&workspace)?;
    // Release builds: the collector takes the audit stream on the load core, and the ingest
    // rate of a debug build would say nothing. Two commands: `--example` would otherwise
    // narrow the first package to its examples too.
    Cmd::cargo()
        .args(["build", "--release", "-p", "jitgate"])
        .current_dir(root)
        .run()?;
    Cmd::cargo()
        .args(["build", "--release", "-p", "jitgate-collector"])
        .args(["--example", "ingest_bench"])
        .current_dir(root)
        .run()?;
    let release = workspace.target_dir().join("release");
    let runner = build_runner(&workspace)?;
    let mut command = runner_command(&runner, &tools, &filter, &noop, &release.join("jitgate"))
        .arg("--ingest-bench")
        .arg(release.join("examples").join("ingest_bench"));
    command = if partial.is_empty() {
        command.arg("--write").arg(root.join(REPORT))
    } else {
        command.args(partial)
    };
    if let Some(url) = tools.database_url() {
        command = command.env(crate::postgres::DATABASE_URL_ENV, url);
    }
    command.run()
}

/// The short smoke run, given the release filter `cargo xtask test` has already built.
pub fn smoke(workspace: &Workspace, tools: &Tools, filter: &Path) -> Result<(), Error> {
    let noop = noop_wasm(workspace)?;
    Cmd::cargo()
        .args(["build", "-p", "jitgate"])
        .current_dir(workspace.root())
        .run()?;
    let jitgate = workspace.target_dir().join("debug").join("jitgate");
    let runner = build_runner(workspace)?;
    runner_command(&runner, tools, filter, &noop, &jitgate)
        .arg("--smoke")
        .run()
}

/// Builds the release no-op filter and returns its path.
fn noop_wasm(workspace: &Workspace) -> Result<PathBuf, Error> {
    Cmd::cargo()
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .args(["-p", NOOP_PACKAGE])
        .current_dir(workspace.root())
        .run()?;
    Ok(workspace
        .target_dir()
        .join("wasm32-wasip1")
        .join("release")
        .join("jitgate_bench_noop_filter.wasm"))
}

/// Builds the runner. A debug build is enough: it only orchestrates, `wrk` makes the load.
fn build_runner(workspace: &Workspace) -> Result<PathBuf, Error> {
    Cmd::cargo()
        .args(["build", "-p", "jitgate-e2e", "--bin", "jitgate-bench"])
        .current_dir(workspace.root())
        .run()?;
    Ok(workspace.target_dir().join("debug").join("jitgate-bench"))
}

fn runner_command(runner: &Path, tools: &Tools, filter: &Path, noop: &Path, jitgate: &Path) -> Cmd {
    Cmd::new(runner)
        .arg("--noop-wasm")
        .arg(noop)
        .env("JITGATE_ENVOY", tools.envoy())
        .env("JITGATE_FILTER_WASM", filter)
        .env("JITGATE_BIN", jitgate)
}
