//! What cargo says about the workspace (`cargo metadata --no-deps`): where the target
//! directory is — honouring `CARGO_TARGET_DIR` and cargo config — and which build targets
//! exist. The JSON is read by hand for the two facts needed, to keep xtask dependency-free.

use std::path::{Path, PathBuf};

use crate::command::Cmd;
use crate::error::Error;

/// The workspace as cargo sees it.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    target_dir: PathBuf,
    metadata: String,
}

impl Workspace {
    /// Asks cargo about the workspace at `root`.
    pub fn load(root: &Path) -> Result<Workspace, Error> {
        let metadata = Cmd::cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root)
            .capture()?
            .text;
        let target_dir = json_string_field(&metadata, "target_directory").ok_or_else(|| {
            Error::Unexpected("`cargo metadata` did not report a target_directory".to_owned())
        })?;
        Ok(Workspace {
            root: root.to_path_buf(),
            target_dir: PathBuf::from(target_dir),
            metadata,
        })
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where cargo puts build output.
    pub fn target_dir(&self) -> &Path {
        &self.target_dir
    }

    /// The release filter module that Envoy loads.
    pub fn filter_wasm(&self) -> PathBuf {
        self.target_dir
            .join("wasm32-wasip1")
            .join("release")
            .join("jitgate_filter.wasm")
    }

    /// Whether some workspace package has a build target (binary, test, …) called `name`.
    pub fn has_target(&self, name: &str) -> bool {
        // Target names are unique enough in this workspace that the exact JSON member suffices.
        self.metadata.contains(&format!("\"name\":\"{name}\""))
    }
}

/// The string value of the first `"key": "…"` member in a JSON text, unescaped.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let after_key = &json[json.find(&format!("\"{key}\""))? + key.len() + 2..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let mut chars = after_colon.strip_prefix('"')?.chars();
    let mut value = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                'b' => value.push('\u{8}'),
                'f' => value.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                escaped => value.push(escaped),
            },
            c => value.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plain_string_member() {
        let json = r#"{"packages":[],"target_directory":"/work/main/target","version":1}"#;
        assert_eq!(
            json_string_field(json, "target_directory").as_deref(),
            Some("/work/main/target")
        );
    }

    #[test]
    fn unescapes_quotes_backslashes_and_unicode() {
        let json = r#"{"target_directory" : "C:\\t \"x\" \u00e9"}"#;
        assert_eq!(
            json_string_field(json, "target_directory").as_deref(),
            Some(r#"C:\t "x" é"#)
        );
    }

    #[test]
    fn a_missing_or_non_string_member_is_none() {
        assert_eq!(json_string_field(r#"{"a":"b"}"#, "target_directory"), None);
        assert_eq!(
            json_string_field(r#"{"target_directory":1}"#, "target_directory"),
            None
        );
    }
}
