//! The annotations the issuer reads from Cedar policies, checked when the policy loads so a
//! typo (`@approval`, `@max_duration("8 hours")`) is a load error, not a silent default.

use cedar_policy::Policy;

use crate::requests::duration::parse_duration;

/// Annotations a policy may carry.
pub const KNOWN: [&str; 6] = [
    "id",
    "approvals",
    "max_duration",
    "reviewers",
    "message",
    "description",
];

/// Most approvals a policy may require: more would make a request impossible to approve
/// in practice and is almost certainly a typo.
pub const MAX_APPROVALS: u32 = 10;

/// What a `request` permit says about the scopes it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitTerms {
    /// `@max_duration`, seconds; `None`: only the issuer's global maximum applies.
    pub max_duration: Option<i64>,
    /// `@approvals`; 1 when absent.
    pub approvals: u32,
    /// `@reviewers`, comma-separated group names.
    pub reviewers: Vec<String>,
}

/// The name explanations use for a policy: its `@id`, else Cedar's id.
pub fn display_name(policy: &Policy) -> String {
    policy
        .annotation("id")
        .map(str::to_owned)
        .unwrap_or_else(|| policy.id().to_string())
}

/// Checks a policy's annotations and reads its terms; the error names policy and annotation.
pub fn terms(policy: &Policy) -> Result<PermitTerms, String> {
    let name = display_name(policy);
    for (key, _) in policy.annotations() {
        if !KNOWN.contains(&key) {
            return Err(format!(
                "policy {name}: unknown annotation @{key} (known: @{})",
                KNOWN.join(", @")
            ));
        }
    }
    let max_duration = policy
        .annotation("max_duration")
        .map(|text| {
            parse_duration(text)
                .map_err(|problem| format!("policy {name}: @max_duration({text:?}): {problem}"))
        })
        .transpose()?;
    let approvals = match policy.annotation("approvals") {
        None => 1,
        Some(text) => match text.parse::<u32>() {
            Ok(count) if (1..=MAX_APPROVALS).contains(&count) => count,
            _ => {
                return Err(format!(
                    "policy {name}: @approvals({text:?}) must be a whole number from 1 to {MAX_APPROVALS}"
                ))
            }
        },
    };
    let reviewers = policy
        .annotation("reviewers")
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|group| !group.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(PermitTerms {
        max_duration,
        approvals,
        reviewers,
    })
}
