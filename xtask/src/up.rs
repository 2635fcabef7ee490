//! `cargo xtask up`: the whole local stack in the foreground. Sets up the tools if needed,
//! builds the filter `.wasm`, the `jitgate` binary and the stack runner (incrementally: a
//! second run only checks), then replaces itself with the runner (`jitgate-stack`, in the
//! e2e crate, the code the README walkthrough test also starts), so Ctrl-C goes straight to
//! it and it stops everything in order.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::build;
use crate::command::Cmd;
use crate::error::Error;
use crate::setup;
use crate::workspace::Workspace;

/// Sets up, builds, then runs the stack with `args` (its own flags, e.g. `--gateway-port`).
pub fn run(root: &Path, args: &[String]) -> Result<(), Error> {
    let tools = setup::run(root)?;
    let workspace = Workspace::load(root)?;
    let filter_wasm = build::filter_wasm(&workspace)?;
    Cmd::cargo()
        .args([
            "build",
            "-p",
            "jitgate",
            "-p",
            "jitgate-e2e",
            "--bin",
            "jitgate",
        ])
        .args(["--bin", "jitgate-stack"])
        .current_dir(root)
        .run()?;
    let debug = workspace.target_dir().join("debug");
    let runner = debug.join("jitgate-stack");
    // Only returns if the exec failed.
    let mut command = Command::new(&runner);
    if let Some(openai) = tools.openai_dir() {
        command.env("JITGATE_OPENAI_PYTHONPATH", openai);
    }
    let error = command
        .args(args)
        .current_dir(root)
        .env("JITGATE_ENVOY", tools.envoy())
        .env("JITGATE_FILTER_WASM", &filter_wasm)
        .env("JITGATE_BIN", debug.join("jitgate"))
        .exec();
    Err(Error::io(&runner)(error))
}
