//! The issuer's signing keys: generated on first start, kept as private JWKs with mode 0600 in
//! `<data dir>/keys/` (the directory 0700), rotated by command, published as a JWKS.
//!
//! Two files: `current.jwk.json` signs new tokens; `previous.jwk.json`, after a rotation,
//! only stays published so tokens it signed keep verifying until they expire (a token lives
//! at most the token TTL, so one rotation's overlap is enough). Rotation writes the new key
//! to a temporary file and renames it into place, so a crash never leaves a half-written key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use jitgate_grant::jwks::{private_jwk, signing_key_from_jwk};
use jitgate_grant::{KeySet, SigningKey};

use crate::error::{Error, Result};
use crate::ids;

const CURRENT: &str = "current.jwk.json";
const PREVIOUS: &str = "previous.jwk.json";

/// The current and previous key.
#[derive(Clone)]
pub struct KeyPair {
    /// Signs new tokens.
    pub current: SigningKey,
    /// Still published after a rotation.
    pub previous: Option<SigningKey>,
}

/// The keys in force, reloadable after an out-of-process rotation.
pub struct KeyRing {
    dir: PathBuf,
    keys: RwLock<KeyPair>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({})", self.dir.display())
    }
}

impl KeyRing {
    /// Loads the keys in `dir`, generating the first one if there is none.
    pub fn open(dir: &Path) -> Result<KeyRing> {
        create_private_dir(dir)?;
        if !dir.join(CURRENT).exists() {
            write_key(&dir.join(CURRENT), &generate()?)?;
            tracing::info!(dir = %dir.display(), "generated the first signing key");
        }
        let keys = read_pair(dir)?;
        Ok(KeyRing {
            dir: dir.to_owned(),
            keys: RwLock::new(keys),
        })
    }

    /// The keys now.
    pub fn pair(&self) -> KeyPair {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the key files (after `jitgate issuer rotate-key` on the same data dir).
    pub fn reload(&self) -> Result<String> {
        let keys = read_pair(&self.dir)?;
        let key_id = keys.current.key_id();
        self.store(keys);
        Ok(key_id)
    }

    /// Rotates on disk and in memory; returns the new key id.
    pub fn rotate(&self) -> Result<String> {
        rotate_dir(&self.dir)?;
        self.reload()
    }

    /// The public JWKS: current and previous key.
    pub fn jwks_json(&self) -> String {
        let pair = self.pair();
        let mut set = KeySet::new();
        set.insert(pair.current.verifying_key());
        if let Some(previous) = &pair.previous {
            set.insert(previous.verifying_key());
        }
        set.to_jwks_json()
    }

    fn store(&self, keys: KeyPair) {
        match self.keys.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }
}

/// Rotates the key files in `dir`: current becomes previous, a new key becomes current.
/// Returns the new key id.
pub fn rotate_dir(dir: &Path) -> Result<String> {
    create_private_dir(dir)?;
    let fresh = generate()?;
    let current = dir.join(CURRENT);
    if current.exists() {
        fs::rename(&current, dir.join(PREVIOUS))
            .map_err(|error| Error::io(format!("moving {}", current.display()), error))?;
    }
    write_key(&current, &fresh)?;
    Ok(fresh.key_id())
}

fn read_pair(dir: &Path) -> Result<KeyPair> {
    let current = read_key(&dir.join(CURRENT))?;
    let previous_path = dir.join(PREVIOUS);
    let previous = if previous_path.exists() {
        Some(read_key(&previous_path)?)
    } else {
        None
    };
    Ok(KeyPair { current, previous })
}

fn generate() -> Result<SigningKey> {
    let seed = ids::random_bytes::<32>()?;
    SigningKey::ed25519_from_seed(&seed).map_err(|error| Error::Internal(error.to_string()))
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let text = fs::read_to_string(path)
        .map_err(|error| Error::io(format!("reading key {}", path.display()), error))?;
    signing_key_from_jwk(&text)
        .map_err(|error| Error::Config(format!("key {}: {error}", path.display())))
}

fn write_key(path: &Path, key: &SigningKey) -> Result<()> {
    let temporary = path.with_extension("tmp");
    let text = private_jwk(key).to_string();
    let mut file = open_private(&temporary)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| Error::io(format!("writing {}", temporary.display()), error))?;
    fs::rename(&temporary, path)
        .map_err(|error| Error::io(format!("renaming {}", temporary.display()), error))
}

#[cfg(unix)]
fn open_private(path: &Path) -> Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| Error::io(format!("creating {}", path.display()), error))
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> Result<fs::File> {
    fs::File::create(path).map_err(|error| Error::io(format!("creating {}", path.display()), error))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)
        .map_err(|error| Error::io(format!("creating {}", dir.display()), error))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|error| Error::io(format!("securing {}", dir.display()), error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_a_private_key_and_rotation_keeps_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let ring = KeyRing::open(&keys_dir).unwrap();
        let first = ring.pair().current.key_id();
        assert!(ring.pair().previous.is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(keys_dir.join(CURRENT))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(&keys_dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert_eq!(
            KeyRing::open(&keys_dir).unwrap().pair().current.key_id(),
            first
        );
        let second = ring.rotate().unwrap();
        assert_ne!(second, first);
        assert_eq!(ring.pair().previous.unwrap().key_id(), first);
        let jwks = KeySet::from_jwks_json(&ring.jwks_json()).unwrap();
        assert_eq!(jwks.len(), 2);
        assert!(jwks.contains(&first) && jwks.contains(&second));
        assert!(!ring.jwks_json().contains("\"d\""));
    }
}
