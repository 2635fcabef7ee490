//! The local stack's own credentials: the collector's sender credential (the gate and the
//! issuer ship records with it) and reviewer credential (`jitgate audit export`). Generated
//! once from the OS's randomness, kept in the data folder readable by the owner only, and
//! reused by later runs, so an export taken yesterday still verifies against the same log.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Random bytes per credential (hex-encoded: 64 characters).
const CREDENTIAL_BYTES: usize = 32;

/// The credentials, and the files they live in.
#[derive(Debug, Clone)]
pub struct LocalCredentials {
    /// The file holding the collector's sender credential.
    pub sender_file: PathBuf,
    /// The sender credential itself (the filter's configuration carries it).
    pub sender: String,
    /// The file holding the reviewer credential.
    pub reviewer_file: PathBuf,
    /// The reviewer credential itself.
    pub reviewer: String,
}

impl LocalCredentials {
    /// Reads the credentials under `dir` (created 0700), generating any that is missing.
    pub fn load_or_create(dir: &Path) -> Result<LocalCredentials> {
        fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(Error::io(format!("restrict {}", dir.display())))?;
        let sender_file = dir.join("collector-sender");
        let reviewer_file = dir.join("collector-reviewer");
        Ok(LocalCredentials {
            sender: load_or_create(&sender_file)?,
            sender_file,
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
    fn credentials_are_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCredentials::load_or_create(&dir.path().join("secrets")).unwrap();
        let again = LocalCredentials::load_or_create(&dir.path().join("secrets")).unwrap();
        assert_eq!(first.sender, again.sender);
        assert_eq!(first.reviewer, again.reviewer);
        assert_ne!(first.sender, first.reviewer);
        assert_eq!(first.sender.len(), 64);
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&first.sender_file), 0o600);
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
    }

    #[test]
    fn an_emptied_credential_file_is_an_error_not_a_silent_new_secret() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCredentials::load_or_create(dir.path()).unwrap();
        fs::write(&first.sender_file, "").unwrap();
        assert!(LocalCredentials::load_or_create(dir.path()).is_err());
    }
}
