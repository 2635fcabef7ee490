//! Debian packages the tests need (PostgreSQL for the issuer and collector, Chromium for the
//! reviewer web page, curl for the README walkthrough), installed with apt when missing. Runs
//! only as root, where apt works; a non-root developer is told the one command to run instead.

use std::time::Instant;

use crate::command::Cmd;
use crate::error::Error;

/// The Debian packages `cargo xtask test` and `cargo xtask bench` need.
// `wrk` makes the benchmarks' HTTP/1.1 load; `nghttp2-client` brings `h2load`, their HTTP/2 load.
pub const PACKAGES: [&str; 5] = ["postgresql", "chromium", "curl", "wrk", "nghttp2-client"];

/// Which of `packages` are installed already, as `(missing, summary)`.
fn missing(packages: &[&str]) -> Vec<String> {
    packages
        .iter()
        .filter(|package| {
            let status = Cmd::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .probe()
                .unwrap_or_default();
            !status.contains("install ok installed")
        })
        .map(|package| (*package).to_owned())
        .collect()
}

/// Installs whichever packages are missing; returns a note for the status line.
pub fn ensure_packages() -> Result<String, Error> {
    let missing = missing(&PACKAGES);
    if missing.is_empty() {
        return Ok("already installed".to_owned());
    }
    if !is_root() {
        return Err(Error::Unexpected(format!(
            "missing Debian packages {}; install them with `sudo apt-get install -y {}`",
            missing.join(" "),
            missing.join(" ")
        )));
    }
    let started = Instant::now();
    Cmd::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .capture()?;
    Cmd::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .capture()?;
    Ok(format!(
        "installed {} in {}",
        missing.join(" "),
        crate::elapsed::human(started.elapsed())
    ))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Cmd::new("id")
        .arg("-u")
        .probe()
        .is_some_and(|uid| uid.trim() == "0")
}
