//! The revocation view: which grants have been revoked, as the host last learned from the
//! issuer's feed. The core only asks; keeping the view fresh is the host's job.

use std::collections::HashSet;

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

/// A set of revoked grant ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedGrants {
    grant_ids: HashSet<String>,
}

impl RevokedGrants {
    /// An empty set.
    pub fn new() -> RevokedGrants {
        RevokedGrants::default()
    }

    /// Marks a grant revoked; returns false if it already was.
    pub fn revoke(&mut self, grant_id: impl Into<String>) -> bool {
        self.grant_ids.insert(grant_id.into())
    }

    /// Number of revoked grants.
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
            grant_ids: iter.into_iter().map(Into::into).collect(),
        }
    }
}

impl RevocationView for RevokedGrants {
    fn is_revoked(&self, grant_id: &str) -> bool {
        self.grant_ids.contains(grant_id)
    }
}
