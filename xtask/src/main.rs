//! `cargo xtask`: jitgate's dev automation — set up the pinned tools, build the filter and the
//! binaries, regenerate conformance vectors, and run every test the way CI does.
//!
//! Deliberately std-only and small so it compiles in seconds on a fresh clone. Each command is
//! a module; this file only reads the command line and reports errors.

mod bench;
mod build;
mod command;
mod elapsed;
mod error;
mod fuzz;
mod lockfile;
mod npm_packages;
mod paths;
mod pipeline;
mod postgres;
mod python_packages;
mod setup;
mod system;
mod test;
mod tools;
mod up;
mod vectors;
mod workspace;

use std::process::ExitCode;

use error::Error;
use workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup            install or check the pinned tools: Rust targets, Envoy 1.40.0, Node.js,
                   wasm-bindgen-cli, cargo-fuzz (into .tools/, or $JITGATE_TOOLS_DIR)
  build            setup, then the release filter .wasm (wasm32-wasip1), the policy component
                   (wasm32-wasip2) and native binaries
  up [options]     the whole local stack on loopback (issuer, collector, stub model server,
                   Envoy with the filter) until Ctrl-C
  test             everything CI runs: fmt, clippy, native tests, fuzz smoke, vectors up to date,
                   wasm tests, release filter .wasm, component in wasmtime, e2e tests through
                   Envoy, bench smoke
  bench [--only LIST] [--rounds N] [--seconds S]
                   jitgate beside Envoy's native jwt_authn + RBAC and a no-op Wasm filter
                   (HTTP/1.1, HTTP/2, two workers), collector crash recovery, revocation
                   latency, collector ingest; writes docs/benchmarks.md (~20 min). With
                   flags, a partial run, only printed: LIST is configuration numbers and/or
                   measurements (http1, h2, workers, recovery, revocation, breach, ingest)
  fuzz [target] [--seconds N | --smoke]
                   build the cargo-fuzz targets in fuzz/ and run each (or one) with libFuzzer,
                   seeded from testdata/, N seconds per target (default 600); --smoke repeats
                   the short fixed-seed run of `test`; see docs/fuzzing.md
  vectors          regenerate testdata/vectors/*.json from the test keys
  vectors --check  only check that testdata/vectors is up to date
  help             show this text

`cargo xtask up --help` lists the local stack's options (ports, data folder).";

/// One thing `cargo xtask` was asked to do.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Setup,
    Build,
    Test,
    Bench(Vec<String>),
    Up(Vec<String>),
    Fuzz(fuzz::FuzzRun),
    Vectors(vectors::Mode),
    Help,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    match parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        // The summary ending in `N passed, M failed` has been printed; it stays the last line.
        Err(error @ Error::StepsFailed { .. }) => ExitCode::from(error.exit_code()),
        Err(error) => {
            eprintln!("xtask: error: {error}");
            if let Error::Usage(_) = error {
                eprintln!("\n{USAGE}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}

fn parse(args: &[String]) -> Result<Task, Error> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Error::Usage("no command given".to_owned()));
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let task = match (command.as_str(), rest.as_slice()) {
        ("setup", []) => Task::Setup,
        ("build", []) => Task::Build,
        ("test", []) => Task::Test,
        ("bench", flags) => Task::Bench(bench::parse(flags)?),
        // The stack runner parses its own flags and prints its own usage.
        ("up", flags) => Task::Up(flags.iter().map(|flag| (*flag).to_owned()).collect()),
        ("fuzz", options) => Task::Fuzz(fuzz::FuzzRun::parse(options)?),
        ("vectors", []) => Task::Vectors(vectors::Mode::Write),
        ("vectors", ["--check"]) => Task::Vectors(vectors::Mode::Check),
        ("help" | "--help" | "-h", []) => Task::Help,
        ("setup" | "build" | "test" | "vectors" | "help", _) => {
            return Err(Error::Usage(format!(
                "unexpected arguments to `{command}`: {}",
                rest.join(" ")
            )))
        }
        _ => return Err(Error::Usage(format!("unknown command `{command}`"))),
    };
    Ok(task)
}

fn run(task: Task) -> Result<(), Error> {
    let root = paths::repo_root();
    match task {
        Task::Setup => setup::run(&root).map(drop),
        Task::Build => build::run(&root),
        Task::Test => test::run(&root),
        Task::Bench(partial) => bench::run(&root, &partial),
        Task::Up(flags) => up::run(&root, &flags),
        Task::Fuzz(options) => fuzz::run(&root, &options),
        Task::Vectors(mode) => vectors::run(&Workspace::load(&root)?, mode),
        Task::Help => {
            println!("{USAGE}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Task, Error> {
        parse(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn each_command_parses_to_its_task() {
        assert!(matches!(parsed(&["setup"]), Ok(Task::Setup)));
        assert!(matches!(parsed(&["build"]), Ok(Task::Build)));
        assert!(matches!(parsed(&["test"]), Ok(Task::Test)));
        assert!(matches!(parsed(&["bench"]), Ok(Task::Bench(flags)) if flags.is_empty()));
        assert!(matches!(
            parsed(&["bench", "--only", "5,h2", "--seconds", "2"]),
            Ok(Task::Bench(flags)) if flags.len() == 4
        ));
        assert!(matches!(
            parsed(&["fuzz", "route_match"]),
            Ok(Task::Fuzz(_))
        ));
        assert!(matches!(parsed(&["--help"]), Ok(Task::Help)));
        assert!(matches!(
            parsed(&["vectors", "--check"]),
            Ok(Task::Vectors(vectors::Mode::Check))
        ));
    }

    #[test]
    fn unknown_commands_and_stray_arguments_are_usage_errors() {
        for args in [
            &["bench", "--fast"][..],
            &["bench", "--only"],
            &["build", "--fast"],
            &["benchmark"],
            &[],
        ] {
            let error = parsed(args).err();
            assert_eq!(error.map(|error| error.exit_code()), Some(2), "{args:?}");
        }
    }
}
