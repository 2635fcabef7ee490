//! The README walkthrough, word for word, against the local stack started by the same code
//! as `cargo xtask up` (on free ports, in a temp folder): request → auto-approved → curl and
//! the official `openai` Python client through Envoy → a model outside the grant refused →
//! a training request approved by a reviewer → revoked and refused → a budget used up, and
//! the guard ending the grant → a probing grant revoked by the guard, its alert listed →
//! audit export verified.
//! Every command's output must match what the README shows; `JITGATE_BLESS=1` rewrites it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use jitgate_e2e::devstack::{Binaries, DevStack, DevStackOptions, StackPorts};
use jitgate_e2e::repo_root;
use jitgate_e2e::walkthrough::{self, Mode};

/// The `openai` package: from `cargo xtask test` (`JITGATE_OPENAI_PYTHONPATH`), else where
/// `cargo xtask up` installs it. Never skipped: without it the walkthrough's SDK step fails.
fn binaries() -> Binaries {
    let mut binaries = Binaries::from_env().expect("the filter and jitgate are built");
    if binaries.openai_python_path.is_none() {
        let installed = repo_root().join(".tools/openai");
        assert!(
            installed.is_dir(),
            "the openai Python package is not installed: run `cargo xtask test` (or `cargo xtask up` once)"
        );
        binaries.openai_python_path = Some(installed);
    }
    binaries
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let work = tempfile::tempdir().unwrap();
    let options = DevStackOptions {
        data_dir: work.path().join(".jitgate"),
        ports: StackPorts::free().unwrap(),
        ..DevStackOptions::default()
    };
    let stack = DevStack::start(&options, &binaries()).expect("the local stack starts");

    let mode = if std::env::var_os("JITGATE_BLESS").is_some() {
        Mode::Bless
    } else {
        Mode::Check
    };
    let path = std::env::var("PATH").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let readme: PathBuf = repo_root().join("README.md");
    let outcome = walkthrough::run(
        &readme,
        work.path(),
        &[
            ("PATH", &path),
            ("HOME", &home),
            ("LANG", "C.UTF-8"),
            ("TERM", "dumb"),
        ],
        mode,
        &mut || stack.wait_until_audited(std::time::Duration::from_secs(10)),
    );
    let stopped = stack.stop();
    let outcome = outcome.expect("the walkthrough runs");
    if let Some(mismatch) = outcome.mismatch {
        panic!("{mismatch}");
    }
    assert!(outcome.steps_run >= 10, "only {} steps", outcome.steps_run);
    stopped.expect("the stack stops cleanly");
}
