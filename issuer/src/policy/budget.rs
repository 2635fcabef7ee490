//! Budgets in the policy: what a `request` permit says about a grant's limits, whether the
//! limits a request asks for fit it, and the limits the grant gets.
//!
//! Per measure (`requests`, `tokens`) a permit may **cap** (`@max_requests("1000")`),
//! **default** (`@default_requests("100")`) and **require** (`@require_limits("requests")`)
//! the limit:
//!
//! - a limit asked above the cap is not admitted by that permit;
//! - a required limit must be asked for (a required limit has no default: the annotations
//!   contradict each other, which the load refuses);
//! - an omitted limit becomes the default, else the cap — **a cap always holds**: omitting
//!   the limit never yields a grant without one.
//!
//! Like `@max_duration`, these terms decide which permits admit a request; among those, the
//! permit needing the fewest approvals decides the scope, and its terms fill in omitted limits.
//! A grant has one budget for all its scopes: an omitted limit becomes the smallest that the
//! deciding permits of its scopes give.

use jitgate_grant::Limits;
use serde::{Deserialize, Serialize};

/// A measure a grant can be limited on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Requests admitted under the grant.
    Requests,
    /// Model tokens, input plus output.
    Tokens,
}

impl Measure {
    /// Both, in the order they are checked and reported.
    pub const ALL: [Measure; 2] = [Measure::Requests, Measure::Tokens];

    /// `requests` or `tokens`: the field of `limits` and the word in annotations.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
        }
    }

    /// This measure's limit in `limits`.
    pub fn of(self, limits: Option<&Limits>) -> Option<u64> {
        let limits = limits?;
        match self {
            Measure::Requests => limits.requests,
            Measure::Tokens => limits.tokens,
        }
    }
}

/// What one permit says about one measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitTerms {
    /// The largest limit the permit admits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// The limit a request that omits it gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<u64>,
    /// Whether the request must ask for a limit itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// Why a permit does not admit a request's limit on one measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMiss {
    /// The asked limit is above the permit's cap.
    Over {
        /// The cap.
        max: u64,
    },
    /// The permit requires a limit and the request asked for none.
    Missing,
}

impl LimitTerms {
    /// Whether the permit says nothing about this measure.
    pub fn is_empty(&self) -> bool {
        *self == LimitTerms::default()
    }

    /// The limit a grant gets under these terms when `asked` (or nothing) was asked for.
    pub fn apply(&self, asked: Option<u64>) -> Result<Option<u64>, LimitMiss> {
        match (asked, self.max) {
            (Some(asked), Some(max)) if asked > max => Err(LimitMiss::Over { max }),
            (Some(asked), _) => Ok(Some(asked)),
            (None, _) if self.required => Err(LimitMiss::Missing),
            (None, max) => Ok(self.default.or(max)),
        }
    }
}

/// What one permit says about a grant's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetTerms {
    /// About the number of requests.
    #[serde(default, skip_serializing_if = "LimitTerms::is_empty")]
    pub requests: LimitTerms,
    /// About the number of model tokens.
    #[serde(default, skip_serializing_if = "LimitTerms::is_empty")]
    pub tokens: LimitTerms,
}

impl BudgetTerms {
    /// Whether the permit says nothing about limits.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.tokens.is_empty()
    }

    /// The terms about `measure`.
    pub fn of(&self, measure: Measure) -> &LimitTerms {
        match measure {
            Measure::Requests => &self.requests,
            Measure::Tokens => &self.tokens,
        }
    }

    /// The first measure whose asked limit these terms do not admit, and why.
    pub fn check(&self, asked: Option<&Limits>) -> Result<(), (Measure, LimitMiss)> {
        for measure in Measure::ALL {
            self.of(measure)
                .apply(measure.of(asked))
                .map_err(|miss| (measure, miss))?;
        }
        Ok(())
    }
}

/// The limits of a grant: what was asked, and for an omitted limit the smallest that the
/// deciding permits of its scopes (`terms`, which all admitted `asked`) give. `None` when the
/// grant is unlimited on both measures.
pub fn grant_limits(asked: Option<&Limits>, terms: &[BudgetTerms]) -> Option<Limits> {
    let limit = |measure: Measure| match measure.of(asked) {
        Some(asked) => Some(asked),
        None => terms
            .iter()
            .filter_map(|terms| terms.of(measure).apply(None).ok().flatten())
            .min(),
    };
    let limits = Limits {
        requests: limit(Measure::Requests),
        tokens: limit(Measure::Tokens),
    };
    (limits.requests.is_some() || limits.tokens.is_some()).then_some(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(max: Option<u64>, default: Option<u64>, required: bool) -> LimitTerms {
        LimitTerms {
            max,
            default,
            required,
        }
    }

    #[test]
    fn a_cap_admits_up_to_itself_and_always_holds() {
        let capped = terms(Some(100), None, false);
        assert_eq!(capped.apply(Some(100)), Ok(Some(100)));
        assert_eq!(capped.apply(Some(101)), Err(LimitMiss::Over { max: 100 }));
        assert_eq!(capped.apply(None), Ok(Some(100)), "omitted: the cap");
        let with_default = terms(Some(100), Some(20), false);
        assert_eq!(with_default.apply(None), Ok(Some(20)));
        assert_eq!(LimitTerms::default().apply(None), Ok(None));
        assert_eq!(LimitTerms::default().apply(Some(7)), Ok(Some(7)));
    }

    #[test]
    fn a_required_limit_must_be_asked_for() {
        let required = terms(Some(100), None, true);
        assert_eq!(required.apply(None), Err(LimitMiss::Missing));
        assert_eq!(required.apply(Some(5)), Ok(Some(5)));
    }

    #[test]
    fn checks_report_requests_before_tokens() {
        let budget = BudgetTerms {
            requests: terms(Some(10), None, false),
            tokens: terms(None, None, true),
        };
        let asked = Limits {
            requests: Some(11),
            tokens: None,
        };
        assert_eq!(
            budget.check(Some(&asked)),
            Err((Measure::Requests, LimitMiss::Over { max: 10 }))
        );
        assert_eq!(
            budget.check(None),
            Err((Measure::Tokens, LimitMiss::Missing))
        );
    }

    #[test]
    fn an_omitted_limit_is_the_smallest_the_scopes_give() {
        let a = BudgetTerms {
            requests: terms(Some(500), Some(100), false),
            tokens: LimitTerms::default(),
        };
        let b = BudgetTerms {
            requests: terms(Some(50), None, false),
            tokens: terms(None, Some(9000), false),
        };
        assert_eq!(
            grant_limits(None, &[a, b]),
            Some(Limits {
                requests: Some(50),
                tokens: Some(9000)
            })
        );
        let asked = Limits {
            requests: Some(30),
            tokens: None,
        };
        assert_eq!(
            grant_limits(Some(&asked), &[a]),
            Some(Limits {
                requests: Some(30),
                tokens: None
            })
        );
        assert_eq!(grant_limits(None, &[BudgetTerms::default()]), None);
    }
}
