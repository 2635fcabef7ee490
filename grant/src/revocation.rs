//! The revocation view: which grants have been revoked, as the host last learned from the
//! issuer's feed. The core only asks; keeping the view fresh is the host's job, and telling
//! `decide` when it is not fresh (see [`crate::decide::RevocationState`]).

use std::collections::HashMap;

use crate::time::UnixTime;

/// Answers whether a grant has been revoked.
pub trait RevocationView {
    /// Whether the grant with this id is revoked.
    fn is_revoked(&self, grant_id: &str) -> bool;
}

/// A view with nothing revoked (for hosts without a feed, and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocations;

impl RevocationView for NoRevocations {
    fn is_revoked(&self, _grant_id: &str) -> bool {
        false
    }
}

/// Revoked grant ids, each remembered until the end of its grant's window (after which no
/// token of it can verify anyway), so the set stays bounded by the grants revoked within
/// one maximum window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedGrants {
    /// Grant id → when it may be forgotten (`None`: never).
    grant_ids: HashMap<String, Option<UnixTime>>,
}

impl RevokedGrants {
    /// An empty set.
    pub fn new() -> RevokedGrants {
        RevokedGrants::default()
    }

    /// Marks a grant revoked for good; returns false if it already was.
    pub fn revoke(&mut self, grant_id: impl Into<String>) -> bool {
        self.grant_ids.insert(grant_id.into(), None).is_none()
    }

    /// Marks a grant revoked, to be forgotten after `expires_at`; returns false if it
    /// already was.
    pub fn revoke_until(&mut self, grant_id: impl Into<String>, expires_at: UnixTime) -> bool {
        self.grant_ids
            .insert(grant_id.into(), Some(expires_at))
            .is_none()
    }

    /// Forgets revocations whose grants ended before `now - leeway_seconds`.
    pub fn prune(&mut self, now: UnixTime, leeway_seconds: i64) {
        self.grant_ids
            .retain(|_, expires_at| expires_at.is_none_or(|at| at.plus(leeway_seconds) > now));
    }

    /// Number of revoked grants remembered.
    pub fn len(&self) -> usize {
        self.grant_ids.len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.grant_ids.is_empty()
    }
}

impl<I: Into<String>> FromIterator<I> for RevokedGrants {
    fn from_iter<T: IntoIterator<Item = I>>(iter: T) -> Self {
        RevokedGrants {
            grant_ids: iter.into_iter().map(|id| (id.into(), None)).collect(),
        }
    }
}

impl RevocationView for RevokedGrants {
    fn is_revoked(&self, grant_id: &str) -> bool {
        self.grant_ids.contains_key(grant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn pruning_forgets_only_ended_grants() {
        let mut revoked = RevokedGrants::new();
        assert!(revoked.revoke_until("ends-soon", UnixTime(100)));
        assert!(revoked.revoke("forever"));
        assert!(!revoked.revoke("forever"));
        revoked.prune(UnixTime(120), 30);
        assert!(revoked.is_revoked("ends-soon"), "still within the leeway");
        revoked.prune(UnixTime(130), 30);
        assert!(!revoked.is_revoked("ends-soon"));
        assert!(revoked.is_revoked("forever"));
        assert_eq!(revoked.len(), 1);
    }
}
