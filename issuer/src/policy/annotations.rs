//! The annotations the issuer reads from Cedar policies, checked when the policy loads so a
//! typo (`@approval`, `@max_duration("8 hours")`, `@max_requests("lots")`) is a load error,
//! not a silent default.

use cedar_policy::Policy;

use super::budget::{BudgetTerms, LimitTerms, Measure};
use crate::requests::duration::parse_duration;

/// Annotations a policy may carry.
pub const KNOWN: [&str; 12] = [
    "id",
    "approvals",
    "max_duration",
    "reviewers",
    "message",
    "description",
    "max_requests",
    "max_tokens",
    "default_requests",
    "default_tokens",
    "require_limits",
    "notify",
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
    /// `@max_…`, `@default_…` and `@require_limits`.
    pub budget: BudgetTerms,
    /// `@notify`, comma-separated notification channels that hear of pending reviews (the
    /// issuer checks at start that each is configured).
    pub notify: Vec<String>,
}

/// A problem with one policy's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationError {
    /// The annotation at fault, to point at its line.
    pub key: String,
    /// What is wrong, naming the policy: `policy p: @approvals("0") must be …`.
    pub message: String,
}

/// The name explanations use for a policy: its `@id`, else Cedar's id.
pub fn display_name(policy: &Policy) -> String {
    policy
        .annotation("id")
        .map(str::to_owned)
        .unwrap_or_else(|| policy.id().to_string())
}

/// Checks a policy's annotations and reads its terms; the error names policy and annotation.
pub fn terms(policy: &Policy) -> Result<PermitTerms, AnnotationError> {
    let name = display_name(policy);
    let error = |key: &str, message: String| AnnotationError {
        key: key.to_owned(),
        message: format!("policy {name}: {message}"),
    };
    for (key, _) in policy.annotations() {
        if !KNOWN.contains(&key) {
            return Err(error(
                key,
                format!("unknown annotation @{key} (known: @{})", KNOWN.join(", @")),
            ));
        }
    }
    let max_duration = policy
        .annotation("max_duration")
        .map(|text| {
            parse_duration(text).map_err(|problem| {
                error(
                    "max_duration",
                    format!("@max_duration({text:?}): {problem}"),
                )
            })
        })
        .transpose()?;
    let approvals = match policy.annotation("approvals") {
        None => 1,
        Some(text) => match text.parse::<u32>() {
            Ok(count) if (1..=MAX_APPROVALS).contains(&count) => count,
            _ => {
                return Err(error(
                    "approvals",
                    format!(
                        "@approvals({text:?}) must be a whole number from 1 to {MAX_APPROVALS}"
                    ),
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
    let budget = budget(policy).map_err(|(key, message)| error(&key, message))?;
    let notify: Vec<String> = policy
        .annotation("notify")
        .map(|text| text.split(',').map(str::trim).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(bad) = notify
        .iter()
        .find(|name| !crate::notify::config::valid_channel_name(name))
    {
        return Err(error(
            "notify",
            format!("@notify: {bad:?} is not a channel name (1 to 64 of a-z, 0-9, '-', '_')"),
        ));
    }
    Ok(PermitTerms {
        max_duration,
        approvals,
        reviewers,
        budget,
        notify,
    })
}

/// The budget annotations; the error names the annotation at fault.
fn budget(policy: &Policy) -> Result<BudgetTerms, (String, String)> {
    let required = match policy.annotation("require_limits") {
        None => Vec::new(),
        Some(text) => {
            required_measures(text).map_err(|problem| ("require_limits".to_owned(), problem))?
        }
    };
    let mut terms = BudgetTerms::default();
    for measure in Measure::ALL {
        let max_key = format!("max_{}", measure.name());
        let default_key = format!("default_{}", measure.name());
        let max = limit(policy, &max_key)?;
        let default = limit(policy, &default_key)?;
        let required = required.contains(&measure);
        if let (Some(max), Some(default)) = (max, default) {
            if default > max {
                return Err((
                    default_key.clone(),
                    format!("@{default_key}(\"{default}\") is more than @{max_key}(\"{max}\")"),
                ));
            }
        }
        if required && default.is_some() {
            return Err((
                default_key.clone(),
                format!(
                    "@{default_key} contradicts @require_limits(\"{}\"): a required limit is asked for, never defaulted",
                    measure.name()
                ),
            ));
        }
        let limit_terms = LimitTerms {
            max,
            default,
            required,
        };
        match measure {
            Measure::Requests => terms.requests = limit_terms,
            Measure::Tokens => terms.tokens = limit_terms,
        }
    }
    Ok(terms)
}

/// `@max_…` / `@default_…`: a whole number of at least 1 that a database column holds.
fn limit(policy: &Policy, key: &str) -> Result<Option<u64>, (String, String)> {
    let Some(text) = policy.annotation(key) else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(value) if value >= 1 && i64::try_from(value).is_ok() => Ok(Some(value)),
        _ => Err((
            key.to_owned(),
            format!(
                "@{key}({text:?}) must be a whole number from 1 to {}",
                i64::MAX
            ),
        )),
    }
}

/// `@require_limits("requests,tokens")`.
fn required_measures(text: &str) -> Result<Vec<Measure>, String> {
    let mut measures = Vec::new();
    for word in text.split(',').map(str::trim) {
        let measure = Measure::ALL
            .into_iter()
            .find(|measure| measure.name() == word)
            .ok_or_else(|| {
                format!(
                    "@require_limits({text:?}): {word:?} is not a limit; write requests, tokens or \"requests,tokens\""
                )
            })?;
        if !measures.contains(&measure) {
            measures.push(measure);
        }
    }
    Ok(measures)
}
