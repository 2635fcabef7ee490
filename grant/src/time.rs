//! Time as the core sees it: whole seconds since the Unix epoch, always passed in by the host.
//!
//! JWT `exp`, `nbf` and `iat` are NumericDate values in seconds (RFC 7519 §2); keeping the
//! same unit everywhere avoids rounding disagreements between hosts.

use serde::{Deserialize, Serialize};

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The time as seconds since the epoch.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// This time moved by `seconds` (saturating, so hostile claim values cannot overflow).
    pub fn plus(self, seconds: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }
}
