//! `<data>/env`: what a second terminal sources to use the stack — `jitgate` on `PATH`, the
//! issuer and collector URLs, the demo identity `alice`, the collector's reviewer credential,
//! and `OPENAI_BASE_URL` so the official OpenAI SDKs talk to the gateway. Written 0600: it
//! holds a credential. `<data>/bin/jitgate` links to the binary the stack was built with.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::options::StackPorts;
use crate::error::{Error, Result};

/// What goes into the environment file.
#[derive(Debug)]
pub struct EnvFile<'a> {
    /// The data folder (absolute).
    pub data_dir: &'a Path,
    /// The `jitgate` binary the stack runs.
    pub jitgate: &'a Path,
    /// The stack's ports.
    pub ports: StackPorts,
    /// The collector's reviewer credential.
    pub reviewer_credential: &'a str,
    /// A folder holding the `openai` Python package, if one was installed for the stack.
    pub openai_python_path: Option<&'a Path>,
}

impl EnvFile<'_> {
    /// Writes `<data>/env` (replacing an older one) and `<data>/bin/jitgate`; returns the
    /// env file's path.
    pub fn write(&self) -> Result<PathBuf> {
        let bin = self.data_dir.join("bin");
        fs::create_dir_all(&bin).map_err(Error::io(format!("create {}", bin.display())))?;
        let link = bin.join("jitgate");
        // A link left by an earlier run may point at an older build location.
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(self.jitgate, &link)
            .map_err(Error::io(format!("link {}", link.display())))?;

        let path = self.data_dir.join("env");
        let _ = fs::remove_file(&path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::io(format!("create {}", path.display())))?;
        file.write_all(self.contents(&bin).as_bytes())
            .map_err(Error::io(format!("write {}", path.display())))?;
        Ok(path)
    }

    fn contents(&self, bin: &Path) -> String {
        let ports = self.ports;
        let mut lines = vec![
            "# Written by `cargo xtask up`. LOCAL USE ONLY: demo identities, local credentials."
                .to_owned(),
            format!(
                "# Load it in another terminal: source {}",
                self.data_dir.join("env").display()
            ),
            format!(
                "export PATH={}:\"$PATH\"",
                shell_quote(&bin.display().to_string())
            ),
            format!("export JITGATE_SERVER=http://127.0.0.1:{}", ports.issuer),
            "# You are alice (ml-eng). Act as someone else for one command with".to_owned(),
            "#   JITGATE_TOKEN=jgt_demo_bob jitgate …".to_owned(),
            "export JITGATE_TOKEN=jgt_demo_alice".to_owned(),
            format!("export JITGATE_GATEWAY=http://127.0.0.1:{}", ports.gateway),
            format!(
                "export OPENAI_BASE_URL=http://127.0.0.1:{}/v1",
                ports.gateway
            ),
            format!(
                "export JITGATE_COLLECTOR_URL=http://127.0.0.1:{}",
                ports.collector
            ),
            format!(
                "export JITGATE_AUDIT_CREDENTIAL={}",
                shell_quote(self.reviewer_credential)
            ),
            format!(
                "export JITGATE_AUDIT_KEY={}",
                shell_quote(
                    &self
                        .data_dir
                        .join("collector/checkpoint-verifier.key")
                        .display()
                        .to_string()
                )
            ),
        ];
        if let Some(python) = self.openai_python_path {
            lines.push(
                "# The official openai Python package, installed by `cargo xtask up`.".into(),
            );
            lines.push(format!(
                "export PYTHONPATH={}\"${{PYTHONPATH:+:$PYTHONPATH}}\"",
                shell_quote(&python.display().to_string())
            ));
        }
        lines.join("\n") + "\n"
    }
}

/// Single-quoted for sh: safe for any path or credential.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn the_env_file_is_private_and_names_every_endpoint() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = EnvFile {
            data_dir: dir.path(),
            jitgate: Path::new("/usr/bin/true"),
            ports: StackPorts::default(),
            reviewer_credential: "reviewer-secret",
            openai_python_path: Some(Path::new("/opt/openai")),
        }
        .write()
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        for expected in [
            "JITGATE_SERVER=http://127.0.0.1:8380",
            "OPENAI_BASE_URL=http://127.0.0.1:10000/v1",
            "JITGATE_COLLECTOR_URL=http://127.0.0.1:4318",
            "JITGATE_AUDIT_CREDENTIAL='reviewer-secret'",
            "PYTHONPATH='/opt/openai'",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(dir.path().join("bin/jitgate").exists());
    }
}
