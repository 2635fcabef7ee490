//! Bundles `testdata/vectors/*.json` into the crate at compile time, so the same vectors run
//! where there is no file system (inside WebAssembly under Node or V8).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let vectors = manifest.join("../testdata/vectors");
    println!("cargo:rerun-if-changed={}", vectors.display());
    let mut names: Vec<PathBuf> = fs::read_dir(&vectors)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|path| path.extension().is_some_and(|ext| ext == "json"));
    names.sort();
    let mut code = String::from(
        "/// Every vector file: (file name, contents).\npub const FILES: &[(&str, &str)] = &[\n",
    );
    for path in &names {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("bundled_vectors.rs");
    if let Err(error) = fs::write(&out, code) {
        // A build script reports failure by exiting non-zero with a message.
        eprintln!("cannot write {}: {error}", out.display());
        std::process::exit(1);
    }
}
