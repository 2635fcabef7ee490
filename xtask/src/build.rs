//! `cargo xtask build`: the release filter `.wasm` that Envoy loads (`wasm32-wasip1`), the
//! policy component for other WebAssembly hosts (`wasm32-wasip2`), and the native release
//! binaries of the workspace.

use std::fs;
use std::path::{Path, PathBuf};

use crate::command::Cmd;
use crate::error::Error;
use crate::setup;
use crate::workspace::Workspace;

/// The filter module size the design aims for.
const SIZE_BUDGET_KB: f64 = 400.0;

/// Sets up, then builds the filter module and the native binaries.
pub fn run(root: &Path) -> Result<(), Error> {
    setup::run(root)?;
    let workspace = Workspace::load(root)?;
    filter_wasm(&workspace)?;
    component_wasm(&workspace)?;
    Cmd::cargo()
        .args(["build", "--release"])
        .current_dir(workspace.root())
        .run()?;
    println!(
        "build: native binaries in {}",
        workspace.target_dir().join("release").display()
    );
    Ok(())
}

/// Builds the release filter module and returns its path, after printing its size.
pub fn filter_wasm(workspace: &Workspace) -> Result<PathBuf, Error> {
    Cmd::cargo()
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .args(["-p", "jitgate-filter"])
        .current_dir(workspace.root())
        .run()?;
    let wasm = workspace.filter_wasm();
    let bytes = fs::metadata(&wasm)
        .map_err(Error::io(&wasm))
        .map_err(|error| {
            error.hint(
                "jitgate-filter built but produced no .wasm: its Cargo.toml needs \
                 `[lib] crate-type = [\"cdylib\"]`",
            )
        })?
        .len();
    let kilobytes = bytes as f64 / 1024.0;
    // Only a note: size is measured and judged by the benchmarks, never by a failing build.
    let budget = if kilobytes > SIZE_BUDGET_KB {
        format!(", over the {SIZE_BUDGET_KB} KB budget in DESIGN.md")
    } else {
        String::new()
    };
    println!(
        "build: filter {} ({kilobytes:.1} KB{budget})",
        wasm.display()
    );
    Ok(wasm)
}

/// Builds the policy component (`wit/jitgate.wit`, world `policy`) and returns its
/// path, after printing its size.
pub fn component_wasm(workspace: &Workspace) -> Result<PathBuf, Error> {
    Cmd::cargo()
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
        ])
        .args(["-p", "jitgate-component"])
        .current_dir(workspace.root())
        .run()?;
    let wasm = workspace
        .target_dir()
        .join("wasm32-wasip2")
        // The `component` profile in the root Cargo.toml: release, optimised for size.
        .join("component")
        .join("jitgate_component.wasm");
    let bytes = fs::metadata(&wasm)
        .map_err(Error::io(&wasm))
        .map_err(|error| {
            error.hint("jitgate-component built but produced no .wasm: is its crate a cdylib?")
        })?
        .len();
    println!(
        "build: component {} ({:.1} KB)",
        wasm.display(),
        bytes as f64 / 1024.0
    );
    Ok(wasm)
}
