//! A sender as the command line gives it: `KIND:STREAM_PREFIX:SECRET_FILE`, e.g.
//! `gateway:model-gateway-:/run/secrets/model-gateway-sender`. The secret file holds the
//! sender's credential (or several, one a line, while one is rotated) and must be readable
//! by its owner only; the credential itself never appears on a command line.

use std::path::Path;

use super::{Binding, RecordKind, Sender};
use crate::auth::Credentials;
use crate::error::{Error, Result};

/// The form of a sender on the command line, for error messages and `--help`.
pub const SPEC_FORM: &str = "KIND:STREAM_PREFIX:SECRET_FILE";

impl Sender {
    /// Parses `KIND:STREAM_PREFIX:SECRET_FILE` and reads the file. The file name may itself
    /// contain `:`; the kind and the prefix may not.
    pub fn from_spec(spec: &str) -> Result<Sender> {
        let mut parts = spec.splitn(3, ':');
        let (Some(kind), Some(prefix), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Config(format!(
                "sender {spec:?}: expected {SPEC_FORM}, e.g. gateway:model-gateway-:/run/secrets/model-gateway-sender"
            )));
        };
        let kind = RecordKind::parse(kind).ok_or_else(|| {
            Error::Config(format!(
                "sender {spec:?}: kind {kind:?} is neither gateway nor issuer"
            ))
        })?;
        if file.is_empty() {
            return Err(Error::Config(format!(
                "sender {spec:?}: no secret file after the stream prefix"
            )));
        }
        let credentials = Credentials::from_file("sender credential", Path::new(file))?;
        Sender::new(
            Binding {
                kind,
                stream_prefix: prefix.to_owned(),
            },
            credentials,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn secret_file(dir: &Path, name: &str, text: &str, mode: u32) -> String {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn reads_kind_prefix_and_every_credential_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = secret_file(
            dir.path(),
            "gw:eu",
            "# rotating\nold-gateway-credential-1\n\nnew-gateway-credential-1\n",
            0o600,
        );
        let sender = Sender::from_spec(&format!("gateway:gw-eu-:{file}")).unwrap();
        assert_eq!(
            sender.binding(),
            &Binding {
                kind: RecordKind::Gateway,
                stream_prefix: "gw-eu-".into()
            }
        );
        assert_eq!(
            format!("{sender:?}"),
            "Sender(gateway records in streams \"gw-eu-\"…, Credentials(2 configured))"
        );
    }

    #[test]
    fn refuses_malformed_specs_precisely() {
        let cases = [
            ("gateway:gw-", "configuration: sender \"gateway:gw-\": expected KIND:STREAM_PREFIX:SECRET_FILE, e.g. gateway:model-gateway-:/run/secrets/model-gateway-sender"),
            ("proxy:gw-:/x", "configuration: sender \"proxy:gw-:/x\": kind \"proxy\" is neither gateway nor issuer"),
            ("issuer:issuer-:", "configuration: sender \"issuer:issuer-:\": no secret file after the stream prefix"),
        ];
        for (spec, message) in cases {
            assert_eq!(Sender::from_spec(spec).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn refuses_secret_files_others_can_read_or_that_hold_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let open = secret_file(dir.path(), "open", "gateway-credential-0001\n", 0o640);
        assert_eq!(
            Sender::from_spec(&format!("gateway:gw-:{open}"))
                .unwrap_err()
                .to_string(),
            format!(
                "configuration: {open} has mode 0640: a file of sender credentials must be \
                 readable by its owner only (chmod 600)"
            )
        );
        let empty = secret_file(dir.path(), "empty", "# nothing yet\n", 0o600);
        assert_eq!(
            Sender::from_spec(&format!("gateway:gw-:{empty}"))
                .unwrap_err()
                .to_string(),
            format!("configuration: {empty} holds no sender credential")
        );
        let short = secret_file(dir.path(), "short", "short\n", 0o400);
        assert_eq!(
            Sender::from_spec(&format!("gateway:gw-:{short}"))
                .unwrap_err()
                .to_string(),
            format!(
                "configuration: {short}: sender credential #1 must be at least 16 characters \
                 without spaces"
            )
        );
    }
}
