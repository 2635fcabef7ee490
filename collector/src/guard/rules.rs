//! The guard's rules file: TOML the operator writes, one `[[rule]]` table per rule, each
//! with a `name`, a `kind`, the kind's parameters and an `action` (`alert`, `revoke` or
//! `alert+revoke`). Read whole and checked before it replaces anything: every error names
//! the file and the line (`rules.toml:12: rule "probing": within: …`), so a bad file is
//! refused at start and a bad reload keeps the rules in force.
//!
//! The reference, with an example, is `docs/guard.md` ("The rules file").

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The longest window a rule may count over: counters are kept per window.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a firing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Tell the issuer (`POST /v1/alerts`), which stores it and tells people.
    Alert,
    /// Revoke the grant (`POST /v1/grants/{id}/revoke`).
    Revoke,
    /// Both.
    AlertAndRevoke,
}

impl Action {
    /// `alert`, `revoke` or `alert+revoke`, as in the file and the issuer's API.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Revoke => "revoke",
            Action::AlertAndRevoke => "alert+revoke",
        }
    }

    /// Parses [`Self::as_str`]'s forms.
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "alert" => Some(Action::Alert),
            "revoke" => Some(Action::Revoke),
            "alert+revoke" => Some(Action::AlertAndRevoke),
            _ => None,
        }
    }

    /// Whether it posts an alert.
    pub fn alerts(self) -> bool {
        matches!(self, Action::Alert | Action::AlertAndRevoke)
    }

    /// Whether it revokes.
    pub fn revokes(self) -> bool {
        matches!(self, Action::Revoke | Action::AlertAndRevoke)
    }
}

/// Whose refusals a probing rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CountedBy {
    /// One grant's.
    Grant,
    /// One subject's, across their grants.
    Subject,
}

impl CountedBy {
    /// `grant` or `subject`.
    pub fn as_str(self) -> &'static str {
        match self {
            CountedBy::Grant => "grant",
            CountedBy::Subject => "subject",
        }
    }
}

/// A rule's kind and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// The grant's use reached its budget: the grant's own approved `limits`, which every
    /// gateway record of the grant carries (`jitgate.grant.limits.*`), or else the rule's
    /// numbers — the default for grants approved without limits. A rule without numbers
    /// watches only grants that carry limits.
    Budget {
        /// Allowed requests, for grants without a request limit.
        requests: Option<u64>,
        /// Model tokens (input plus output), for grants without a token limit.
        tokens: Option<u64>,
    },
    /// More than this many allowed requests on one grant in one minute.
    Rate {
        /// The ceiling.
        requests_per_minute: u64,
    },
    /// This many refusals for scope (`insufficient_scope`, which includes a model outside
    /// the grant, and `no_route`) within the window.
    Probing {
        /// The count that fires.
        refusals: u64,
        /// The window.
        within: Duration,
        /// Per grant or per subject.
        by: CountedBy,
    },
    /// One grant used from more than this many distinct client addresses.
    TokenSpread {
        /// The most addresses allowed.
        addresses: u64,
    },
    /// Any use of a break-glass grant: fires once per window in which it is used.
    BreakGlass {
        /// The window.
        within: Duration,
    },
    /// This many attempts with a revoked grant (within the window, or ever).
    RevokedUse {
        /// The count that fires.
        attempts: u64,
        /// The window; `None` counts over the grant's whole life.
        within: Option<Duration>,
    },
}

impl RuleKind {
    /// The kind's name, as in the file.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Budget { .. } => "budget",
            RuleKind::Rate { .. } => "rate",
            RuleKind::Probing { .. } => "probing",
            RuleKind::TokenSpread { .. } => "token_spread",
            RuleKind::BreakGlass { .. } => "break_glass",
            RuleKind::RevokedUse { .. } => "revoked_use",
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The operator's name for it: in firings, alerts and the grant's history.
    pub name: String,
    /// What it watches.
    pub kind: RuleKind,
    /// What a firing does.
    pub action: Action,
    /// Where it is in the file.
    pub line: usize,
}

/// A checked rules file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

/// Why a rules file was refused: the file, the line when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    /// The file.
    pub path: PathBuf,
    /// The line (from 1).
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for RulesError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
    requests: Option<Spanned<u64>>,
    tokens: Option<Spanned<u64>>,
    requests_per_minute: Option<Spanned<u64>>,
    refusals: Option<Spanned<u64>>,
    within: Option<Spanned<String>>,
    by: Option<Spanned<String>>,
    addresses: Option<Spanned<u64>>,
    attempts: Option<Spanned<u64>>,
}

impl RawRule {
    /// Every parameter that is set, with its name (not name, kind, action).
    fn parameters(&self) -> Vec<(&'static str, Range<usize>)> {
        let numbers = [
            ("requests", &self.requests),
            ("tokens", &self.tokens),
            ("requests_per_minute", &self.requests_per_minute),
            ("refusals", &self.refusals),
            ("addresses", &self.addresses),
            ("attempts", &self.attempts),
        ];
        let mut set: Vec<(&'static str, Range<usize>)> = numbers
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|v| (name, v.span())))
            .collect();
        for (name, value) in [("within", &self.within), ("by", &self.by)] {
            if let Some(value) = value {
                set.push((name, value.span()));
            }
        }
        set
    }
}

/// The parameters each kind takes.
fn parameters_of(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "budget" => &["requests", "tokens"],
        "rate" => &["requests_per_minute"],
        "probing" => &["refusals", "within", "by"],
        "token_spread" => &["addresses"],
        "break_glass" => &["within"],
        "revoked_use" => &["attempts", "within"],
        _ => return None,
    })
}

const KINDS: &str = "budget, rate, probing, token_spread, break_glass or revoked_use";

impl Rules {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read the rules file: {e}"),
        })?;
        Rules::parse(path, &text)
    }

    /// Checks `text`, naming `path` in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Rules, RulesError> {
        let at = |span: Option<Range<usize>>, message: String| RulesError {
            path: path.to_owned(),
            line: span.map(|span| line_of(text, span.start)),
            message,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| at(e.span(), e.message().trim().to_owned()))?;
        let mut rules = Vec::with_capacity(raw.rule.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        for spanned in raw.rule {
            let span = spanned.span();
            let line = line_of(text, span.start);
            let raw = spanned.into_inner();
            let name = raw
                .name
                .as_ref()
                .ok_or_else(|| at(Some(span.clone()), "a rule needs a name".into()))?;
            let rule_name = name.get_ref().clone();
            if rule_name.is_empty()
                || rule_name.len() > 64
                || !rule_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(at(
                    Some(name.span()),
                    format!(
                        "rule name {rule_name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
                    ),
                ));
            }
            if let Some(first) = names.insert(rule_name.clone(), line) {
                return Err(at(
                    Some(name.span()),
                    format!("rule name {rule_name:?} is already used at line {first}"),
                ));
            }
            let rule = check_rule(&raw, &rule_name, span.clone(), &at)?;
            rules.push(Rule {
                name: rule_name,
                kind: rule.0,
                action: rule.1,
                line,
            });
        }
        Ok(Rules { rules })
    }

    /// Whether the file holds no rule (the guard then keeps totals and reports usage only).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

type At<'a> = dyn Fn(Option<Range<usize>>, String) -> RulesError + 'a;

fn check_rule(
    raw: &RawRule,
    name: &str,
    span: Range<usize>,
    at: &At<'_>,
) -> Result<(RuleKind, Action), RulesError> {
    let kind = raw.kind.as_ref().ok_or_else(|| {
        at(
            Some(span.clone()),
            format!("rule {name:?}: kind is missing: give {KINDS}"),
        )
    })?;
    let allowed = parameters_of(kind.get_ref()).ok_or_else(|| {
        at(
            Some(kind.span()),
            format!(
                "rule {name:?}: kind {:?} is unknown: give {KINDS}",
                kind.get_ref()
            ),
        )
    })?;
    for (parameter, parameter_span) in raw.parameters() {
        if !allowed.contains(&parameter) {
            return Err(at(
                Some(parameter_span),
                format!(
                    "rule {name:?}: {parameter} does not apply to a {} rule (it takes {})",
                    kind.get_ref(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    let action = raw.action.as_ref().ok_or_else(|| {
        at(
            Some(span.clone()),
            format!("rule {name:?}: action is missing: give alert, revoke or alert+revoke"),
        )
    })?;
    let action_value = Action::parse(action.get_ref()).ok_or_else(|| {
        at(
            Some(action.span()),
            format!(
                "rule {name:?}: action {:?} is unknown: give alert, revoke or alert+revoke",
                action.get_ref()
            ),
        )
    })?;
    let count = |field: &'static str, value: &Option<Spanned<u64>>| -> Result<u64, RulesError> {
        let value = value.as_ref().ok_or_else(|| {
            at(
                Some(span.clone()),
                format!("rule {name:?}: a {} rule needs {field}", kind.get_ref()),
            )
        })?;
        if *value.get_ref() == 0 {
            return Err(at(
                Some(value.span()),
                format!("rule {name:?}: {field} must be at least 1"),
            ));
        }
        Ok(*value.get_ref())
    };
    let optional_count =
        |field: &'static str, value: &Option<Spanned<u64>>| -> Result<Option<u64>, RulesError> {
            match value {
                None => Ok(None),
                Some(_) => count(field, value).map(Some),
            }
        };
    let window = |required: bool| -> Result<Option<Duration>, RulesError> {
        let Some(within) = raw.within.as_ref() else {
            return if required {
                Err(at(
                    Some(span.clone()),
                    format!(
                        "rule {name:?}: a {} rule needs within (a window such as \"10m\")",
                        kind.get_ref()
                    ),
                ))
            } else {
                Ok(None)
            };
        };
        let duration = humantime::parse_duration(within.get_ref()).map_err(|e| {
            at(
                Some(within.span()),
                format!(
                    "rule {name:?}: within: {:?} is not a duration like \"90s\" or \"10m\": {e}",
                    within.get_ref()
                ),
            )
        })?;
        if duration.subsec_nanos() != 0
            || duration < Duration::from_secs(1)
            || duration > MAX_WINDOW
        {
            return Err(at(
                Some(within.span()),
                format!(
                    "rule {name:?}: within must be whole seconds, from 1s to {}",
                    humantime::format_duration(MAX_WINDOW)
                ),
            ));
        }
        Ok(Some(duration))
    };
    let kind_value = match kind.get_ref().as_str() {
        "budget" => {
            let requests = optional_count("requests", &raw.requests)?;
            let tokens = optional_count("tokens", &raw.tokens)?;
            RuleKind::Budget { requests, tokens }
        }
        "rate" => RuleKind::Rate {
            requests_per_minute: count("requests_per_minute", &raw.requests_per_minute)?,
        },
        "probing" => {
            let by = match raw.by.as_ref() {
                None => CountedBy::Grant,
                Some(by) => match by.get_ref().as_str() {
                    "grant" => CountedBy::Grant,
                    "subject" => CountedBy::Subject,
                    other => {
                        return Err(at(
                            Some(by.span()),
                            format!(
                                "rule {name:?}: by {other:?} is unknown: give grant or subject"
                            ),
                        ))
                    }
                },
            };
            RuleKind::Probing {
                refusals: count("refusals", &raw.refusals)?,
                within: window(true)?.unwrap_or(MAX_WINDOW),
                by,
            }
        }
        "token_spread" => RuleKind::TokenSpread {
            addresses: count("addresses", &raw.addresses)?,
        },
        "break_glass" => RuleKind::BreakGlass {
            within: window(false)?.unwrap_or(Duration::from_secs(60)),
        },
        _ => RuleKind::RevokedUse {
            attempts: count("attempts", &raw.attempts)?,
            within: window(false)?,
        },
    };
    Ok((kind_value, action_value))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Rules, String> {
        Rules::parse(Path::new("rules.toml"), text).map_err(|e| e.to_string())
    }

    const EXAMPLE: &str = r#"# every kind once
[[rule]]
name = "budget"
kind = "budget"
requests = 20
tokens = 10000
action = "revoke"

[[rule]]
name = "rate"
kind = "rate"
requests_per_minute = 600
action = "alert"

[[rule]]
name = "probing"
kind = "probing"
refusals = 5
within = "1m"
by = "subject"
action = "alert+revoke"

[[rule]]
name = "copied-token"
kind = "token_spread"
addresses = 3
action = "alert+revoke"

[[rule]]
name = "break-glass"
kind = "break_glass"
action = "alert"

[[rule]]
name = "revoked-use"
kind = "revoked_use"
attempts = 3
within = "10m"
action = "alert"
"#;

    #[test]
    fn reads_every_kind() {
        let rules = parse(EXAMPLE).unwrap();
        let kinds: Vec<(&str, &RuleKind, Action, usize)> = rules
            .rules
            .iter()
            .map(|r| (r.name.as_str(), &r.kind, r.action, r.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "budget",
                    &RuleKind::Budget {
                        requests: Some(20),
                        tokens: Some(10000)
                    },
                    Action::Revoke,
                    2
                ),
                (
                    "rate",
                    &RuleKind::Rate {
                        requests_per_minute: 600
                    },
                    Action::Alert,
                    9
                ),
                (
                    "probing",
                    &RuleKind::Probing {
                        refusals: 5,
                        within: Duration::from_secs(60),
                        by: CountedBy::Subject
                    },
                    Action::AlertAndRevoke,
                    15
                ),
                (
                    "copied-token",
                    &RuleKind::TokenSpread { addresses: 3 },
                    Action::AlertAndRevoke,
                    23
                ),
                (
                    "break-glass",
                    &RuleKind::BreakGlass {
                        within: Duration::from_secs(60)
                    },
                    Action::Alert,
                    29
                ),
                (
                    "revoked-use",
                    &RuleKind::RevokedUse {
                        attempts: 3,
                        within: Some(Duration::from_secs(600))
                    },
                    Action::Alert,
                    34
                ),
            ]
        );
    }

    #[test]
    fn an_empty_file_has_no_rules() {
        assert_eq!(parse("# nothing yet\n").unwrap(), Rules::default());
    }

    #[test]
    fn names_the_file_and_line_of_each_mistake() {
        let cases = [
            (
                "[[rule]]\nname = \"x\"\nkind = \"budget\"\nrequests = -1\naction = \"alert\"\n",
                "rules.toml:4: invalid value: integer `-1`, expected u64",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"budgets\"\naction = \"alert\"\n",
                "rules.toml:3: rule \"x\": kind \"budgets\" is unknown: give budget, rate, probing, token_spread, break_glass or revoked_use",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"rate\"\nrequests_per_minute = 10\naction = \"block\"\n",
                "rules.toml:5: rule \"x\": action \"block\" is unknown: give alert, revoke or alert+revoke",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"rate\"\nrefusals = 3\naction = \"alert\"\n",
                "rules.toml:4: rule \"x\": refusals does not apply to a rate rule (it takes requests_per_minute)",
            ),
            (
                "\n[[rule]]\nname = \"x\"\nkind = \"probing\"\nrefusals = 3\naction = \"alert\"\n",
                "rules.toml:2: rule \"x\": a probing rule needs within (a window such as \"10m\")",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"probing\"\nrefusals = 3\nwithin = \"soon\"\naction = \"alert\"\n",
                "rules.toml:5: rule \"x\": within: \"soon\" is not a duration like \"90s\" or \"10m\": expected number at 0",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"token_spread\"\naddresses = 0\naction = \"alert\"\n",
                "rules.toml:4: rule \"x\": addresses must be at least 1",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"rate\"\naction = \"alert\"\n\n[[rule]]\nname = \"x\"\nkind = \"rate\"\n",
                "rules.toml:1: rule \"x\": a rate rule needs requests_per_minute",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"rate\"\nrequests_per_minute = 1\naction = \"alert\"\n\n[[rule]]\nname = \"x\"\n",
                "rules.toml:8: rule name \"x\" is already used at line 1",
            ),
            (
                "[[rule]]\nname = \"x\"\nkind = \"rate\"\nrequests_per_minute = 1\naction = \"alert\"\ncolour = \"red\"\n",
                "rules.toml:6: unknown field `colour`, expected one of `name`, `kind`, `action`, `requests`, `tokens`, `requests_per_minute`, `refusals`, `within`, `by`, `addresses`, `attempts`",
            ),
            ("[[rule]\n", "rules.toml:1: unclosed array table, expected `]`"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let error = Rules::load(Path::new("/nonexistent/rules.toml")).unwrap_err();
        assert_eq!(error.path, PathBuf::from("/nonexistent/rules.toml"));
        assert_eq!(error.line, None);
        assert!(error
            .to_string()
            .starts_with("/nonexistent/rules.toml: cannot read the rules file: "));
    }
}
