//! Reads pinned versions out of the workspace `Cargo.lock`, so a tool that must match a crate
//! exactly (`wasm-bindgen-cli` must equal the `wasm-bindgen` crate it runs tests for) is
//! installed at the version the build actually uses.

use std::path::Path;

use crate::error::Error;

/// The one `wasm-bindgen` version in `<root>/Cargo.lock`, or `None` when no crate depends on
/// it yet. Several versions at once is an error: the test runner can only match one.
pub fn wasm_bindgen_version(root: &Path) -> Result<Option<String>, Error> {
    let path = root.join("Cargo.lock");
    let lockfile = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
    let versions = package_versions(&lockfile, "wasm-bindgen");
    match versions.as_slice() {
        [] => Ok(None),
        [version] => Ok(Some(version.clone())),
        several => Err(Error::Unexpected(format!(
            "{} pins several wasm-bindgen versions ({}); wasm-bindgen-test-runner must match \
             exactly one, so unify them (`cargo tree -i wasm-bindgen` shows who wants which)",
            path.display(),
            several.join(", ")
        ))),
    }
}

/// Every distinct version of package `name` in a lockfile's `[[package]]` tables, sorted.
fn package_versions(lockfile: &str, name: &str) -> Vec<String> {
    let mut versions = Vec::new();
    let mut current_package: Option<&str> = None;
    for line in lockfile.lines().map(str::trim) {
        if line.starts_with('[') {
            // A new table: only `[[package]]` tables name packages.
            current_package = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            current_package = Some(value.trim_matches('"'));
        } else if let Some(value) = line.strip_prefix("version = ") {
            if current_package == Some(name) {
                versions.push(value.trim_matches('"').to_owned());
            }
        }
    }
    versions.sort();
    versions.dedup();
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKFILE: &str = r#"
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "cfg-if",
]

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.130"

[[package]]
name = "wasm-bindgen-test"
version = "0.3.80"
"#;

    #[test]
    fn finds_the_exact_package_and_not_its_namesakes() {
        assert_eq!(package_versions(LOCKFILE, "wasm-bindgen"), ["0.2.130"]);
        assert_eq!(package_versions(LOCKFILE, "wasm-bindgen-test"), ["0.3.80"]);
    }

    #[test]
    fn an_absent_package_has_no_versions() {
        assert!(package_versions(LOCKFILE, "serde").is_empty());
    }

    #[test]
    fn the_lockfile_format_version_is_not_a_package_version() {
        assert!(package_versions("version = 4\n", "").is_empty());
    }
}
