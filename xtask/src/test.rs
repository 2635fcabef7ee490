//! `cargo xtask test`: everything CI checks, in the order that fails fastest — setup, format,
//! lints, native tests, a short run of every fuzz target, conformance vectors up to date, the
//! same tests inside WebAssembly,
//! the release filter module, the policy component in wasmtime, the end-to-end tests through
//! a real Envoy, and a short smoke run of the benchmarks.
//!
//! This is the one test command: the README names it and `.ci/run` calls it. It must never
//! skip a step silently: a step that cannot run yet says why, in the log and the summary.

use std::path::Path;

use crate::build;
use crate::command::Cmd;
use crate::error::Error;
use crate::pipeline::{Pipeline, Stopped};
use crate::setup;
use crate::tools::WasmTestRunner;
use crate::vectors::{self, Mode};
use crate::workspace::Workspace;

const STEPS: &[&str] = &[
    "setup",
    "fmt",
    "clippy",
    "native tests",
    "fuzz smoke",
    "vectors",
    "wasm tests",
    "filter wasm",
    "component",
    "e2e tests",
    "bench smoke",
];

/// The end-to-end tests, which need a real Envoy and the built filter.
const E2E_PACKAGE: &str = "jitgate-e2e";

/// The tests that load the built policy component in wasmtime.
const COMPONENT_HOST_PACKAGE: &str = "jitgate-component-host-tests";

/// The crates whose tests also run inside WebAssembly, under Node.js.
const WASM_TESTED: &[&str] = &["jitgate-grant", "jitgate-conformance"];

/// Runs every step, stopping at the first failure, and prints the summary.
pub fn run(root: &Path) -> Result<(), Error> {
    let mut pipeline = Pipeline::new(STEPS);
    // A failed step has already been reported; the summary below says the rest.
    let _stopped: Result<(), Stopped> = steps(&mut pipeline, root);
    pipeline.finish()
}

fn steps(pipeline: &mut Pipeline, root: &Path) -> Result<(), Stopped> {
    let (tools, workspace) =
        pipeline.step("setup", || Ok((setup::run(root)?, Workspace::load(root)?)))?;

    pipeline.step("fmt", || {
        cargo(root)
            .args(["fmt", "--all", "--", "--check"])
            .run()
            .map_err(|error| error.hint("run `cargo fmt --all`"))
    })?;

    pipeline.step("clippy", || {
        cargo(root)
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .run()
    })?;

    pipeline.step("native tests", || {
        // `--workspace` ignores default-members, so e2e is excluded by name: it needs Envoy
        // and the release filter, and runs last with both passed in explicitly.
        // The component host tests likewise need the built component: they run after it.
        let mut command = cargo(root).args([
            "test",
            "--workspace",
            "--exclude",
            E2E_PACKAGE,
            "--exclude",
            COMPONENT_HOST_PACKAGE,
        ]);
        if let Some(url) = tools.database_url() {
            command = command.env(crate::postgres::DATABASE_URL_ENV, url);
        }
        // The CLI's notification tests run a webhook receiver that verifies signatures
        // with the `standardwebhooks` package.
        if let Some(dir) = tools.webhooks_dir() {
            command = command.env("JITGATE_WEBHOOKS_PYTHONPATH", dir);
        }
        // The issuer's sign-in tests run the real `oidc-provider` with setup's node.
        if let Some(dir) = tools.oidc_provider_dir() {
            command = command
                .env("JITGATE_OIDC_PROVIDER_DIR", dir)
                .env("JITGATE_NODE", tools.node());
        }
        command.run()
    })?;

    pipeline.step("fuzz smoke", || {
        // Every target for a short while, seeded from testdata/ and replaying the committed
        // regressions, with a fixed seed so it is reproducible; `cargo xtask fuzz` is the
        // long run that looks for new findings.
        crate::fuzz::fuzz(&workspace, &crate::fuzz::FuzzRun::smoke())
    })?;

    match vectors::generator_missing(&workspace) {
        Some(reason) => pipeline.skip("vectors", reason),
        None => pipeline.step("vectors", || vectors::run(&workspace, Mode::Check))?,
    }

    match tools.wasm_test_runner() {
        WasmTestRunner::Ready(runner) => pipeline.step("wasm tests", || {
            // `--tests`: everything but doctests. wasm-bindgen-test-runner reports a doctest
            // compiled to wasm as passed without running it (a failing one "passes" too), so
            // doctests run natively only instead of showing a false pass here.
            let mut command =
                cargo(root).args(["test", "--tests", "--target", "wasm32-unknown-unknown"]);
            for package in WASM_TESTED {
                command = command.args(["-p", package]);
            }
            command
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner)
                .path_prefix(tools.node_dir())
                .run()
        })?,
        WasmTestRunner::Unavailable(reason) => pipeline.skip("wasm tests", reason.clone()),
    }

    let filter_wasm = pipeline.step("filter wasm", || build::filter_wasm(&workspace))?;

    // Three hosts, one answer: every vector through the component in wasmtime, compared
    // with the native core and the filter's glue.
    pipeline.step("component", || {
        let component = build::component_wasm(&workspace)?;
        cargo(root)
            .args(["test", "-p", COMPONENT_HOST_PACKAGE])
            .env("JITGATE_COMPONENT_WASM", &component)
            .run()
    })?;

    pipeline.step("e2e tests", || {
        // The audit tests run the real collector and CLI as a child process.
        cargo(root).args(["build", "-p", "jitgate"]).run()?;
        let jitgate = workspace.target_dir().join("debug").join("jitgate");
        cargo(root)
            .args(["test", "-p", E2E_PACKAGE, "--", "--test-threads=2"])
            .env("JITGATE_ENVOY", tools.envoy())
            .env("JITGATE_FILTER_WASM", &filter_wasm)
            .env("JITGATE_BIN", &jitgate)
            // The README walkthrough test runs its `openai` client step for real.
            .env(
                "JITGATE_OPENAI_PYTHONPATH",
                tools.openai_dir().unwrap_or(Path::new("")),
            )
            .run()
    })?;

    // Every benchmark configuration for a second, statuses checked, no speed judged: the
    // harness behind `cargo xtask bench` cannot break unnoticed.
    pipeline.step("bench smoke", || {
        crate::bench::smoke(&workspace, &tools, &filter_wasm)
    })?;
    Ok(())
}

fn cargo(root: &Path) -> Cmd {
    Cmd::cargo().current_dir(root)
}
