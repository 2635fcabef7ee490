//! The checkpoint signing key: a file in the data directory, outside the database, so a copy
//! of the database alone cannot forge checkpoints. Generated on first start (mode 0600,
//! created exclusively), refused if anyone but its owner can read it. Its contents are never
//! logged; the matching verifier key is written next to it for operators to hand out.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::note::NoteSigner;

/// File name of the signer key in the data directory.
pub const SIGNING_KEY_FILE: &str = "checkpoint-signing.key";

/// File name of the public verifier key in the data directory.
pub const VERIFIER_KEY_FILE: &str = "checkpoint-verifier.key";

/// Loads the signing key from `data_dir`, or creates one named `origin` (default:
/// `jitgate-collector/<random>`). An existing key must match `origin` if one is given.
pub fn load_or_create(data_dir: &Path, origin: Option<&str>) -> Result<NoteSigner> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    let signer = match fs::metadata(&path) {
        Ok(metadata) => {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::Config(format!(
                    "{} has mode {mode:04o}: a signing key must be readable by its owner only (chmod 600)",
                    path.display()
                )));
            }
            let text = fs::read_to_string(&path).map_err(Error::io(&path))?;
            let signer = NoteSigner::parse(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            if let Some(origin) = origin {
                if origin != signer.name() {
                    return Err(Error::Config(format!(
                        "the signing key in {} is for origin {:?}, not {origin:?}: a log keeps its origin for life",
                        path.display(),
                        signer.name()
                    )));
                }
            }
            signer
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)
                .map_err(|e| Error::Config(format!("no randomness for a signing key: {e}")))?;
            let name = match origin {
                Some(origin) => origin.to_owned(),
                None => {
                    let mut suffix = [0u8; 6];
                    getrandom::fill(&mut suffix)
                        .map_err(|e| Error::Config(format!("no randomness for an origin: {e}")))?;
                    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
                    format!("jitgate-collector/{hex}")
                }
            };
            let signer = NoteSigner::from_seed(&name, seed)?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(Error::io(&path))?;
            file.write_all(format!("{}\n", signer.to_private_key_text()).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(Error::io(&path))?;
            tracing::info!(path = %path.display(), origin = %name, "generated a checkpoint signing key");
            signer
        }
        Err(error) => return Err(Error::io(&path)(error)),
    };
    let verifier_path = data_dir.join(VERIFIER_KEY_FILE);
    fs::write(&verifier_path, format!("{}\n", signer.verifier()))
        .map_err(Error::io(&verifier_path))?;
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_once_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), Some("example.com/audit")).unwrap();
        let mode = fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path(), None).unwrap();
        assert_eq!(again.verifier(), first.verifier());
        assert_eq!(
            fs::read_to_string(dir.path().join(VERIFIER_KEY_FILE)).unwrap(),
            format!("{}\n", first.verifier())
        );
    }

    #[test]
    fn refuses_a_key_others_can_read_or_for_another_origin() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), None).unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE);
        let error = load_or_create(dir.path(), Some("example.com/other")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a log keeps its origin for life"),
            "{error}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(dir.path(), None).unwrap_err();
        assert!(
            error.to_string().ends_with(
                "has mode 0644: a signing key must be readable by its owner only (chmod 600)"
            ),
            "{error}"
        );
    }

    #[test]
    fn generated_origins_are_unique() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let a = load_or_create(a.path(), None).unwrap();
        let b = load_or_create(b.path(), None).unwrap();
        assert!(a.name().starts_with("jitgate-collector/"));
        assert_ne!(a.name(), b.name());
    }
}
