//! The one sentence that tells a person what happens next with a request, shown by the API
//! (`next_step`), the CLI and the web page.

use crate::requests::{AccessRequest, State};

use super::super::requests::duration::format_remaining;

/// What to do or expect next, from the point of view of the requester.
pub fn next_step(request: &AccessRequest, now: i64) -> String {
    match request.state {
        State::Pending => {
            let missing = request.approvals_missing();
            let plural = if missing == 1 { "" } else { "s" };
            let from = match request.assessment.reviewers.as_slice() {
                [] => "a reviewer".to_owned(),
                [group] => format!("group {group}"),
                groups => format!("groups {}", groups.join(", ")),
            };
            format!(
                "waiting for {missing} more approval{plural} from {from}; expires in {} if nobody decides",
                format_remaining(request.pending_until.saturating_sub(now).max(0))
            )
        }
        State::Approved | State::Active => format!(
            "granted until {}: get a token with `jitgate token {}`",
            rfc3339(request.window_end.unwrap_or(now)),
            request.id
        ),
        State::Denied => "denied; see the reviewer's comment in the history".to_owned(),
        State::Expired => {
            "expired; ask again with `jitgate request` if you still need access".to_owned()
        }
        State::Cancelled => "cancelled by the requester".to_owned(),
        State::Revoked => "revoked; tokens of this grant are refused by the gateway".to_owned(),
    }
}

/// `2026-11-24T15:00:00Z`.
pub fn rfc3339(unix_seconds: i64) -> String {
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(unix_seconds).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}
