//! Who may send records, and what each may write. Every sender — one Envoy deployment's
//! gateways, or the issuer — has its own credentials, bound to a [`Binding`]: a record kind
//! and a stream-id prefix. All the VMs of one deployment share its credential (the filter
//! names its streams `<audit.service_name>-<start>-<random>`, so the prefix is
//! `<service_name>-`); the issuer's streams are `issuer-<random>`.
//!
//! No two senders may share a credential or have prefixes that nest (one the start of the
//! other), so every stream id has at most one sender that may write it. Credentials are
//! compared in constant time against every sender's.

mod binding;
mod spec;

use std::fmt;

use axum::http::HeaderMap;
use subtle::{Choice, ConditionallySelectable};

pub use self::binding::{
    Binding, BindingRefusal, BindingRule, RecordKind, ISSUER_REASON_PREFIX, ISSUER_ROUTE,
};
pub use self::spec::SPEC_FORM;
use crate::auth::{presented_digest, Credentials};
use crate::error::{Error, Result};
use crate::ingest::MAX_STREAM_ID_BYTES;

/// One sender: its credentials (several while one is rotated) and what they may write.
#[derive(Clone)]
pub struct Sender {
    binding: Binding,
    credentials: Credentials,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sender({}, {:?})", self.binding, self.credentials)
    }
}

impl Sender {
    /// A sender writing what `binding` says with any of `credentials`.
    pub fn new(binding: Binding, credentials: Credentials) -> Result<Sender> {
        let prefix = &binding.stream_prefix;
        if prefix.is_empty()
            || prefix.len() > MAX_STREAM_ID_BYTES
            || prefix.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::Config(format!(
                "sender stream prefix {prefix:?} must be 1 to {MAX_STREAM_ID_BYTES} bytes without spaces"
            )));
        }
        if credentials.is_empty() {
            return Err(Error::Config(format!(
                "the sender of {binding} has no credential"
            )));
        }
        Ok(Sender {
            binding,
            credentials,
        })
    }

    /// What it may write.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }
}

/// Every configured sender. Empty means nobody may send (fail closed).
#[derive(Debug, Clone, Default)]
pub struct Senders {
    senders: Vec<Sender>,
}

impl Senders {
    /// These senders, refused if two share a credential or their prefixes nest.
    pub fn new(senders: Vec<Sender>) -> Result<Senders> {
        for (i, first) in senders.iter().enumerate() {
            for second in &senders[i + 1..] {
                let (a, b) = (&first.binding, &second.binding);
                let (outer, inner) = if b.stream_prefix.starts_with(&a.stream_prefix) {
                    (a, b)
                } else {
                    (b, a)
                };
                if inner.stream_prefix.starts_with(&outer.stream_prefix) {
                    return Err(Error::Config(format!(
                        "the senders of {outer} and of {inner} overlap: a stream has one writer, so \
                         no sender's prefix may be the start of another's (give each gateway \
                         deployment an audit.service_name that does not start another's)"
                    )));
                }
                if first.credentials.overlaps(&second.credentials) {
                    return Err(Error::Config(format!(
                        "the senders of {a} and of {b} share a credential: give each sender its own"
                    )));
                }
            }
        }
        Ok(Senders { senders })
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The configured bindings, in order.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.senders.iter().map(Sender::binding)
    }

    /// The binding of the sender whose credential the request's `Authorization: Bearer …`
    /// carries; every sender's credentials are compared, without stopping at a match.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&Binding> {
        let digest = presented_digest(headers)?;
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, sender) in self.senders.iter().enumerate() {
            let matched = sender.credentials.matches(&digest);
            index.conditional_assign(&(i as u64), matched);
            found |= matched;
        }
        if !bool::from(found) {
            return Err(Error::Unauthorized);
        }
        usize::try_from(index)
            .ok()
            .and_then(|index| self.senders.get(index))
            .map(Sender::binding)
            .ok_or(Error::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{header, HeaderValue};

    use super::*;

    fn sender(kind: RecordKind, prefix: &str, credential: &str) -> Sender {
        Sender::new(
            Binding {
                kind,
                stream_prefix: prefix.into(),
            },
            Credentials::new("sender credential", [credential]).unwrap(),
        )
        .unwrap()
    }

    fn bearer(credential: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {credential}")).unwrap(),
        );
        headers
    }

    #[test]
    fn each_credential_authenticates_as_its_own_sender() {
        let senders = Senders::new(vec![
            sender(RecordKind::Gateway, "gw-eu-", "gateway-eu-credential-1"),
            sender(RecordKind::Gateway, "gw-us-", "gateway-us-credential-1"),
            sender(RecordKind::Issuer, "issuer-", "issuer-credential-0001"),
        ])
        .unwrap();
        let binding = |credential| {
            senders
                .authenticate(&bearer(credential))
                .map(|b| b.to_string())
        };
        assert_eq!(
            binding("gateway-us-credential-1").unwrap(),
            "gateway records in streams \"gw-us-\"…"
        );
        assert_eq!(
            binding("issuer-credential-0001").unwrap(),
            "issuer records in streams \"issuer-\"…"
        );
        assert!(matches!(
            binding("gateway-us-credential-2"),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            senders.authenticate(&HeaderMap::new()),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            Senders::default().authenticate(&bearer("issuer-credential-0001")),
            Err(Error::Unauthorized)
        ));
    }

    #[test]
    fn refuses_nested_prefixes_whatever_the_order_or_kind() {
        for (first, second) in [("gw-", "gw-eu-"), ("gw-eu-", "gw-"), ("issuer-", "issuer-")] {
            let error = Senders::new(vec![
                sender(RecordKind::Gateway, first, "first-credential-0001"),
                sender(RecordKind::Issuer, second, "second-credential-001"),
            ])
            .unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(" overlap: a stream has one writer"),
                "{error}"
            );
        }
        let error = Senders::new(vec![
            sender(RecordKind::Gateway, "gw-", "first-credential-0001"),
            sender(RecordKind::Gateway, "gw-eu-", "second-credential-001"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration: the senders of gateway records in streams \"gw-\"… and of gateway \
             records in streams \"gw-eu-\"… overlap: a stream has one writer, so no sender's \
             prefix may be the start of another's (give each gateway deployment an \
             audit.service_name that does not start another's)"
        );
    }

    #[test]
    fn refuses_a_credential_shared_by_two_senders() {
        let error = Senders::new(vec![
            sender(RecordKind::Gateway, "gw-", "shared-credential-0001"),
            sender(RecordKind::Issuer, "issuer-", "shared-credential-0001"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration: the senders of gateway records in streams \"gw-\"… and of issuer \
             records in streams \"issuer-\"… share a credential: give each sender its own"
        );
    }

    #[test]
    fn refuses_empty_or_spaced_prefixes() {
        for prefix in ["", "gw -", "gw-\n"] {
            let error = Sender::new(
                Binding {
                    kind: RecordKind::Gateway,
                    stream_prefix: prefix.into(),
                },
                Credentials::new("sender credential", ["first-credential-0001"]).unwrap(),
            )
            .unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "configuration: sender stream prefix {prefix:?} must be 1 to 256 bytes without spaces"
                )
            );
        }
    }
}
