//! The local stack's own credentials: the collector's two sender credentials — one for the
//! gateway (every Envoy VM of the stack ships records with it), one for the issuer — and its
//! reviewer credential (`jitgate audit export`). Each sender has its own, because the
//! collector binds a credential to its sender's streams and record kind. Generated once from
//! the OS's randomness, kept in the data folder readable by the owner only, and reused by
//! later runs, so an export taken yesterday still verifies against the same log.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Random bytes per credential (hex-encoded: 64 characters).
const CREDENTIAL_BYTES: usize = 32;

/// The one shared sender credential of data folders made before senders had their own; no
/// longer read, so removed rather than left looking live.
const OLD_SHARED_SENDER_FILE: &str = "collector-sender";

/// The credentials, and the files they live in.
#[derive(Debug, Clone)]
pub struct LocalCredentials {
    /// The file holding the gateway's sender credential.
    pub gateway_sender_file: PathBuf,
    /// The gateway's sender credential itself (the filter's configuration carries it).
    pub gateway_sender: String,
    /// The file holding the issuer's sender credential (the issuer reads it).
    pub issuer_sender_file: PathBuf,
    /// The file holding the reviewer credential.
    pub reviewer_file: PathBuf,
    /// The reviewer credential itself.
    pub reviewer: String,
    /// The file holding the guard's API token at the issuer (the demo guard's, as public as
    /// every demo token; kept in a file because the collector reads it only from one).
    pub guard_token_file: PathBuf,
}

impl LocalCredentials {
    /// Reads the credentials under `dir` (created 0700), generating any that is missing.
    pub fn load_or_create(dir: &Path) -> Result<LocalCredentials> {
        fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(Error::io(format!("restrict {}", dir.display())))?;
        let old = dir.join(OLD_SHARED_SENDER_FILE);
        match fs::remove_file(&old) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("remove {}", old.display()))(error));
            }
            _ => {}
        }
        let gateway_sender_file = dir.join("collector-sender-gateway");
        let issuer_sender_file = dir.join("collector-sender-issuer");
        let reviewer_file = dir.join("collector-reviewer");
        load_or_create(&issuer_sender_file)?;
        let guard_token_file = dir.join("guard-token");
        write_owner_only(
            &guard_token_file,
            &jitgate_issuer::demo::demo_token(jitgate_issuer::demo::DEMO_GUARD),
        )?;
        Ok(LocalCredentials {
            guard_token_file,
            gateway_sender: load_or_create(&gateway_sender_file)?,
            gateway_sender_file,
            issuer_sender_file,
            reviewer: load_or_create(&reviewer_file)?,
            reviewer_file,
        })
    }
}

fn load_or_create(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 16 => return Ok(text.trim().to_owned()),
        Ok(_) => {
            return Err(Error::Usage(format!(
                "{} holds no usable credential (16 characters or more); delete it to have a new one generated",
                path.display()
            )))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(Error::io(format!("read {}", path.display()))(error)),
    }
    let credential = random_hex()?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("create {}", path.display())))?;
    writeln!(file, "{credential}").map_err(Error::io(format!("write {}", path.display())))?;
    Ok(credential)
}

/// Writes `text` to `path` (replacing it), readable by the owner only.
fn write_owner_only(path: &Path, text: &str) -> Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io(format!("replace {}", path.display()))(error));
        }
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("create {}", path.display())))?;
    writeln!(file, "{text}").map_err(Error::io(format!("write {}", path.display())))
}

fn random_hex() -> Result<String> {
    let mut bytes = [0u8; CREDENTIAL_BYTES];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(Error::io("read /dev/urandom"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_generated_once_private_distinct_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCredentials::load_or_create(&dir.path().join("secrets")).unwrap();
        let again = LocalCredentials::load_or_create(&dir.path().join("secrets")).unwrap();
        assert_eq!(first.gateway_sender, again.gateway_sender);
        assert_eq!(first.reviewer, again.reviewer);
        let issuer_sender = fs::read_to_string(&first.issuer_sender_file).unwrap();
        assert_eq!(issuer_sender.trim().len(), 64);
        assert_ne!(first.gateway_sender, issuer_sender.trim());
        assert_ne!(first.gateway_sender, first.reviewer);
        assert_eq!(first.gateway_sender.len(), 64);
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&first.gateway_sender_file), 0o600);
        assert_eq!(mode(&first.issuer_sender_file), 0o600);
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
    }

    #[test]
    fn an_older_folders_shared_sender_credential_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("collector-sender"), "x".repeat(64)).unwrap();
        LocalCredentials::load_or_create(dir.path()).unwrap();
        assert!(!dir.path().join("collector-sender").exists());
    }

    #[test]
    fn an_emptied_credential_file_is_an_error_not_a_silent_new_secret() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCredentials::load_or_create(dir.path()).unwrap();
        fs::write(&first.gateway_sender_file, "").unwrap();
        assert!(LocalCredentials::load_or_create(dir.path()).is_err());
        fs::remove_file(&first.gateway_sender_file).unwrap();
        fs::write(&first.issuer_sender_file, "").unwrap();
        assert!(LocalCredentials::load_or_create(dir.path()).is_err());
    }
}
