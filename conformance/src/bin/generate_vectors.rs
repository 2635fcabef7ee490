//! Writes the conformance vectors, the test keys and the trusted JWKS under `testdata/`
//! from the catalog, deterministically. With `--check`, writes nothing and fails if any file
//! would change.
//!
//! Usage: `generate-vectors <testdata/vectors dir> [--check]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{env, fs};

use jitgate_conformance::catalog;
use jitgate_conformance::testkeys::{trusted_jwks_text, TestKey};

const KEYS_README: &str =
    "# TEST-ONLY keys\n\nThese keys are derived from public seed phrases (see \
`conformance/src/testkeys.rs`) and exist only so tests and conformance vectors are reproducible. \
Anyone can recompute them. Never trust them outside tests.\n";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let Some(vectors_dir) = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
    else {
        eprintln!("usage: generate-vectors <testdata/vectors dir> [--check]");
        return ExitCode::from(2);
    };
    let testdata = vectors_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let files = match expected_files(&vectors_dir, &testdata) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("generate-vectors: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut differing = Vec::new();
    for (path, contents) in &files {
        if fs::read_to_string(path).ok().as_deref() != Some(contents.as_str()) {
            differing.push(path.display().to_string());
        }
    }
    let stale: Vec<String> = fs::read_dir(&vectors_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "json") && !files.contains_key(path))
        .map(|path| path.display().to_string())
        .collect();
    if check {
        if differing.is_empty() && stale.is_empty() {
            println!("generate-vectors: {} files up to date", files.len());
            return ExitCode::SUCCESS;
        }
        for path in &differing {
            eprintln!("out of date: {path}");
        }
        for path in &stale {
            eprintln!("not in the catalog: {path}");
        }
        eprintln!("run `cargo xtask vectors` and commit the result");
        return ExitCode::FAILURE;
    }
    for path in &stale {
        if let Err(error) = fs::remove_file(path) {
            eprintln!("generate-vectors: cannot remove {path}: {error}");
            return ExitCode::FAILURE;
        }
    }
    for (path, contents) in &files {
        if let Some(parent) = path.parent() {
            if let Err(error) = fs::create_dir_all(parent) {
                eprintln!(
                    "generate-vectors: cannot create {}: {error}",
                    parent.display()
                );
                return ExitCode::FAILURE;
            }
        }
        if let Err(error) = fs::write(path, contents) {
            eprintln!("generate-vectors: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "generate-vectors: wrote {} files ({} changed, {} removed)",
        files.len(),
        differing.len(),
        stale.len()
    );
    ExitCode::SUCCESS
}

fn expected_files(
    vectors_dir: &Path,
    testdata: &Path,
) -> Result<BTreeMap<PathBuf, String>, String> {
    let mut files = BTreeMap::new();
    for mut vector in catalog::vectors() {
        if let Some(recipe) = &vector.recipe {
            vector.request.authorization = recipe.authorization(vector.now);
        }
        let mut text = serde_json::to_string_pretty(&vector).map_err(|e| e.to_string())?;
        text.push('\n');
        let path = vectors_dir.join(format!("{}.json", vector.name));
        if files.insert(path, text).is_some() {
            return Err(format!("two vectors are named {:?}", vector.name));
        }
    }
    let keys = testdata.join("keys");
    for key in TestKey::ALL {
        files.insert(
            keys.join(format!("{}.public.jwk.json", key.file_stem())),
            key.public_jwk_text(),
        );
        files.insert(
            keys.join(format!("{}.private.jwk.json", key.file_stem())),
            key.private_jwk_text(),
        );
    }
    files.insert(keys.join("README.md"), KEYS_README.to_owned());
    files.insert(testdata.join("jwks.json"), trusted_jwks_text());
    Ok(files)
}
