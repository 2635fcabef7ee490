//! `cargo xtask vectors`: regenerates the conformance vectors in `testdata/vectors/` from the
//! test keys, or (`--check`) only verifies that the committed files are what the generator
//! would write. The generator itself is `jitgate-conformance`'s `generate-vectors` binary;
//! this module only runs it.

use crate::command::Cmd;
use crate::error::Error;
use crate::workspace::Workspace;

const GENERATOR: &str = "generate-vectors";

/// Whether to write the vectors or only compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite `testdata/vectors/*.json`.
    Write,
    /// Change nothing; fail listing the files that would change.
    Check,
}

/// Why the generator cannot run, if it cannot: it does not exist in the workspace yet.
pub fn generator_missing(workspace: &Workspace) -> Option<String> {
    (!workspace.has_target(GENERATOR)).then(|| {
        format!("jitgate-conformance has no `{GENERATOR}` binary yet, so the vectors cannot be generated or checked")
    })
}

/// Runs the generator in `mode`.
pub fn run(workspace: &Workspace, mode: Mode) -> Result<(), Error> {
    if let Some(reason) = generator_missing(workspace) {
        return Err(Error::Unexpected(reason));
    }
    let dir = workspace.root().join("testdata").join("vectors");
    let generator = Cmd::cargo()
        .args([
            "run",
            "--release",
            "-p",
            "jitgate-conformance",
            "--bin",
            GENERATOR,
            "--",
        ])
        .current_dir(workspace.root());
    match mode {
        Mode::Write => generator.arg(&dir).run(),
        Mode::Check => generator.arg("--check").arg(&dir).run().map_err(|error| {
            error.hint(
                "testdata/vectors is not what the generator writes: run `cargo xtask vectors` \
                 and commit the result",
            )
        }),
    }
}
