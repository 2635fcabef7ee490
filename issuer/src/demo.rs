//! Demo identities for the local walkthrough — LOCAL USE ONLY.
//!
//! Their API tokens are public (`jgt_demo_<name>`, printed in docs/issuer.md), so `--demo`
//! refuses to listen on anything but loopback. Groups match `policy/example.cedar`; `guard`
//! is the guard's service account (group `jitgate-guards`, the default `--guard-group`), whose
//! token the local stack gives the collector's guard.

use crate::identity::api_tokens::{digest, ApiTokenEntry, ApiTokens};
use crate::identity::SubjectKind;

/// The data-plane credential the demo issuer's revocation feed accepts.
pub const DEMO_DATA_PLANE_CREDENTIAL: &str = "jitgate-demo-data-plane-credential";

/// Name, kind and groups of every demo identity.
pub const DEMO_IDENTITIES: [(&str, SubjectKind, &[&str]); 9] = [
    ("alice", SubjectKind::Person, &["ml-eng"]),
    ("bob", SubjectKind::Person, &["ml-leads", "ml-eng"]),
    ("carol", SubjectKind::Person, &["ml-leads", "sre-leads"]),
    ("dana", SubjectKind::Person, &["data-stewards"]),
    ("erin", SubjectKind::Person, &["ml-eng", "oncall"]),
    ("frank", SubjectKind::Person, &["sre-leads"]),
    (
        "root",
        SubjectKind::Person,
        &["jitgate-admins", "ml-leads", "ml-eng"],
    ),
    ("ci-bot", SubjectKind::Service, &["ml-eng"]),
    ("guard", SubjectKind::Service, &["jitgate-guards"]),
];

/// The API token of the demo guard (`jgt_demo_guard`): what the local stack's collector
/// presents to revoke grants, post alerts and report usage.
pub const DEMO_GUARD: &str = "guard";

/// The demo token of `name`.
pub fn demo_token(name: &str) -> String {
    format!("jgt_demo_{name}")
}

/// The demo identities as API tokens.
pub fn demo_api_tokens() -> ApiTokens {
    let mut tokens = ApiTokens::empty();
    for (name, kind, groups) in DEMO_IDENTITIES {
        tokens.insert(ApiTokenEntry {
            subject: name.to_owned(),
            kind,
            groups: groups.iter().map(|group| (*group).to_owned()).collect(),
            sha256: digest(&demo_token(name)),
            oidc_subjects: Vec::new(),
        });
    }
    tokens
}
