//! Who is calling: the subject every action is attributed to, and how a bearer credential
//! becomes one.
//!
//! Two kinds of credentials are accepted on the API: API tokens (service accounts and local
//! use; `jgt_…`, known to the issuer only by their SHA-256) and ID tokens from the
//! organisation's OIDC provider. The data-plane credential of the revocation feed is a third,
//! separate thing ([`data_plane`]) and never identifies a subject.
//!
//! Two roles come from group membership ([`RoleGroups`]): **admins**, and **the guard** — the
//! identity the collector's guard uses to revoke grants, post alerts and report usage. The
//! guard role is exclusive: a guard subject is never an admin, whatever else its groups say,
//! and may do nothing but those three things (see [`crate::routes::Caller`]).

pub mod api_tokens;
pub mod data_plane;
pub mod oidc;

use axum::http::HeaderMap;
use serde::Serialize;

use crate::error::{Error, Result};
use api_tokens::{ApiTokens, API_TOKEN_PREFIX};
use oidc::code_flow::CodeFlow;
use oidc::OidcVerifier;

/// Whether a subject is a person or a service account (agents, scripts, CI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A human.
    Person,
    /// A service account.
    Service,
}

impl SubjectKind {
    /// The name used in policies (`principal.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Person => "person",
            SubjectKind::Service => "service",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The stable id every action is recorded under (`sub` of the grant token).
    pub id: String,
    /// Groups from the IdP or the API-token file; policies see them as the principal's parents.
    pub groups: Vec<String>,
    /// Person or service account.
    pub kind: SubjectKind,
    /// Whether the subject is in an admin group (policy reload, key rotation, any revocation).
    /// Never true for the guard.
    pub admin: bool,
    /// Whether the subject is the guard (a member of a guard group): it may only revoke
    /// grants, post alerts and report usage.
    pub guard: bool,
}

/// The groups that give a role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleGroups {
    /// Members are admins.
    pub admin: Vec<String>,
    /// Members are the guard (`--guard-group`, default `jitgate-guards`).
    pub guard: Vec<String>,
}

/// Turns credentials into subjects.
#[derive(Debug)]
pub struct Authenticator {
    api_tokens: ApiTokens,
    oidc: Option<OidcVerifier>,
    code_flow: Option<CodeFlow>,
    roles: RoleGroups,
}

impl Authenticator {
    /// An authenticator over these sources; `roles` says which groups make admins and the
    /// guard.
    pub fn new(api_tokens: ApiTokens, oidc: Option<OidcVerifier>, roles: RoleGroups) -> Self {
        Authenticator {
            api_tokens,
            oidc,
            code_flow: None,
            roles,
        }
    }

    /// The same, with web sign-in through the provider's authorization code flow.
    pub fn with_code_flow(mut self, code_flow: CodeFlow) -> Self {
        self.code_flow = Some(code_flow);
        self
    }

    /// The authorization code flow, when web sign-in at the provider is configured.
    pub fn code_flow(&self) -> Option<&CodeFlow> {
        self.code_flow.as_ref()
    }

    /// The subject behind the `Authorization: Bearer …` header, or 401.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Subject> {
        let token = bearer_token(headers)?.ok_or_else(|| {
            Error::Unauthenticated(
                "send `Authorization: Bearer <API token or OIDC ID token>`".into(),
            )
        })?;
        self.authenticate_token(token).await
    }

    /// The subject behind a bearer credential, or 401.
    pub async fn authenticate_token(&self, token: &str) -> Result<Subject> {
        self.authenticate_with_expiry(token)
            .await
            .map(|(subject, _)| subject)
    }

    /// [`Authenticator::authenticate_token`], with the credential's own expiry (an ID
    /// token's `exp`; `None` for API tokens), which bounds a web session opened with it.
    pub async fn authenticate_with_expiry(&self, token: &str) -> Result<(Subject, Option<i64>)> {
        let (id, groups, kind, expires_at) = if token.starts_with(API_TOKEN_PREFIX) {
            let entry = self
                .api_tokens
                .find(token)
                .ok_or_else(|| Error::Unauthenticated("unknown API token".into()))?;
            (
                entry.subject.clone(),
                entry.groups.clone(),
                entry.kind,
                None,
            )
        } else {
            let oidc = self.oidc.as_ref().ok_or_else(|| {
                Error::Unauthenticated(
                    "not an API token (jgt_…), and no OIDC provider is configured".into(),
                )
            })?;
            let identity = oidc.verify(token).await?;
            (
                self.linked(identity.subject),
                identity.groups,
                SubjectKind::Person,
                identity.expires_at,
            )
        };
        Ok((self.subject(id, groups, kind), expires_at))
    }

    /// The subject `id` with `groups`, its roles derived from them.
    pub fn subject(&self, id: String, groups: Vec<String>, kind: SubjectKind) -> Subject {
        let member_of = |role: &[String]| groups.iter().any(|group| role.contains(group));
        // Separation of duties: the guard's credential opens the guard's three calls and
        // nothing more, even if someone also put it in an admin group.
        let guard = member_of(&self.roles.guard);
        let admin = !guard && member_of(&self.roles.admin);
        Subject {
            id,
            groups,
            kind,
            admin,
            guard,
        }
    }

    /// The subject an OIDC subject signs in as: the person's linked API-token subject, if
    /// the API-token file links them (see [`api_tokens`]), else itself.
    pub fn linked(&self, oidc_subject: String) -> String {
        match self.api_tokens.linked_subject(&oidc_subject) {
            Some(subject) => subject.to_owned(),
            None => oidc_subject,
        }
    }

    /// Whether an API token with this digest is still configured (a web session signed in
    /// with a token ends when the token is removed).
    pub fn api_token_configured(&self, sha256: &str) -> bool {
        self.api_tokens.has_digest(sha256)
    }

    /// The OIDC verifier, when an identity provider is configured.
    pub fn oidc(&self) -> Option<&OidcVerifier> {
        self.oidc.as_ref()
    }
}

/// The bearer credential in `headers`, if any; a malformed header is a 401, not a guess.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::Unauthenticated(
            "more than one Authorization header".into(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("the Authorization header is not ASCII".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(Error::Unauthenticated(
            "expected `Authorization: Bearer <token>`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::api_tokens::{digest, ApiTokenEntry};

    #[tokio::test]
    async fn the_guard_role_wins_over_admin_membership() {
        let mut tokens = ApiTokens::empty();
        tokens.insert(ApiTokenEntry {
            subject: "watcher".into(),
            kind: SubjectKind::Service,
            groups: vec!["guards".into(), "admins".into()],
            sha256: digest("jgt_watcher"),
            oidc_subjects: Vec::new(),
        });
        let auth = Authenticator::new(
            tokens,
            None,
            RoleGroups {
                admin: vec!["admins".into()],
                guard: vec!["guards".into()],
            },
        );
        let subject = auth.authenticate_token("jgt_watcher").await.unwrap();
        assert_eq!((subject.guard, subject.admin), (true, false));
    }
}
