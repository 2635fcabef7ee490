//! The guard's arithmetic, with no I/O: which counters a batch of observations adds to, and
//! — given each counter's value after the batch — which rules crossed their limit, at which
//! record, and the firing that makes.
//!
//! Counters are per grant (or per subject), per measure, either over the grant's whole life
//! (window 0) or per fixed window of a rule's length aligned to the Unix epoch, on the
//! records' own times. The totals every grant keeps whatever the rules are: `requests`
//! (allowed), `tokens` (input + output), `denied`, `refused:<reason>`, `probing`, `revoked`,
//! `break_glass`, `addresses` (distinct client addresses). Windowed counters exist for the
//! windows the rules in force use.
//!
//! A batch is applied in log order; the value before the batch is the value after it less
//! the batch's own increments, so the record that crossed a limit is found exactly — the same
//! one whether the records come one at a time (a replay) or ten thousand at once. A rule
//! fires once per counter key and window: the firing's id is derived from the rule's name,
//! the key and the window, so a second collector, a retry or a replay finds the same id.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::observe::Observation;
use super::record::GuardRecord;
use super::rules::{CountedBy, Rule, RuleKind, Rules};
use crate::filter::format_time;

/// One counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    /// `grant` or `subject`.
    pub scope: &'static str,
    /// The grant id or subject.
    pub key: String,
    /// What it counts.
    pub measure: String,
    /// The window's length in seconds; 0 for the whole life.
    pub window_seconds: u64,
    /// The window's start in Unix seconds; 0 for the whole life.
    pub window_start: u64,
}

impl CounterKey {
    fn total(grant: &str, measure: &str) -> CounterKey {
        CounterKey {
            scope: "grant",
            key: grant.to_owned(),
            measure: measure.to_owned(),
            window_seconds: 0,
            window_start: 0,
        }
    }
}

/// A firing, before it has a place in the guard stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Its id (see the module docs).
    pub firing_id: String,
    /// The rule's name.
    pub rule: String,
    /// The rule's kind.
    pub kind: &'static str,
    /// What it does.
    pub action: super::rules::Action,
    /// The grant of the evidence record.
    pub grant_id: String,
    /// Its subject.
    pub subject: Option<String>,
    /// `grant` or `subject`.
    pub counted_by: &'static str,
    /// The window, for windowed rules.
    pub window_seconds: Option<u64>,
    /// Its start, Unix seconds.
    pub window_start: Option<u64>,
    /// What was counted and the limit.
    pub counts: BTreeMap<String, u64>,
    /// The record whose count crossed the limit.
    pub evidence_leaf_index: u64,
    /// Its time.
    pub time_unix_nano: u64,
    /// In words.
    pub detail: String,
}

impl Firing {
    /// The guard record for this firing at `sequence` of `stream_id`.
    pub fn to_record(&self, stream_id: &str, sequence: u64) -> GuardRecord {
        GuardRecord {
            time_unix_nano: self.time_unix_nano,
            stream_id: stream_id.to_owned(),
            sequence,
            firing_id: self.firing_id.clone(),
            rule: self.rule.clone(),
            kind: self.kind.to_owned(),
            action: self.action.as_str().to_owned(),
            grant_id: self.grant_id.clone(),
            subject: self.subject.clone(),
            counted_by: self.counted_by.to_owned(),
            window_seconds: self.window_seconds,
            window_start: self.window_start,
            counts: self.counts.clone(),
            evidence_leaf_index: self.evidence_leaf_index,
            detail: self.detail.clone(),
        }
    }
}

/// One limit a rule watches: which counter an observation adds to, and when it fires.
struct Check {
    counted_by: CountedBy,
    measure: &'static str,
    window: Option<u64>,
    /// Fires when the counter reaches this (`None`: only at a grant's own limit).
    fires_at: Option<u64>,
    /// The limit as the operator wrote it (for counts and words).
    limit: u64,
    /// A budget: the grant's own limit for the measure, carried by its records, comes
    /// before the rule's numbers.
    grant_limit_first: bool,
}

impl Check {
    /// When this check fires for the grant of `observation`, and the limit to name:
    /// `(fires_at, limit)`; `None` when nothing limits it.
    fn threshold(&self, observation: &Observation) -> Option<(u64, u64)> {
        if self.grant_limit_first {
            let own = match self.measure {
                "requests" => observation.limit_requests,
                "tokens" => observation.limit_tokens,
                _ => None,
            };
            if let Some(limit) = own {
                return Some((limit, limit));
            }
        }
        self.fires_at.map(|fires_at| (fires_at, self.limit))
    }
}

fn checks(rule: &Rule) -> Vec<Check> {
    let total = |measure, fires_at: u64, limit| Check {
        counted_by: CountedBy::Grant,
        measure,
        window: None,
        fires_at: Some(fires_at),
        limit,
        grant_limit_first: false,
    };
    let budget = |measure, default: Option<u64>| Check {
        counted_by: CountedBy::Grant,
        measure,
        window: None,
        fires_at: default,
        limit: default.unwrap_or(0),
        grant_limit_first: true,
    };
    match &rule.kind {
        RuleKind::Budget { requests, tokens } => {
            vec![budget("requests", *requests), budget("tokens", *tokens)]
        }
        RuleKind::Rate {
            requests_per_minute,
        } => vec![Check {
            counted_by: CountedBy::Grant,
            measure: "requests",
            window: Some(60),
            fires_at: Some(requests_per_minute.saturating_add(1)),
            limit: *requests_per_minute,
            grant_limit_first: false,
        }],
        RuleKind::Probing {
            refusals,
            within,
            by,
        } => vec![Check {
            counted_by: *by,
            measure: "probing",
            window: Some(within.as_secs()),
            fires_at: Some(*refusals),
            limit: *refusals,
            grant_limit_first: false,
        }],
        RuleKind::TokenSpread { addresses } => {
            vec![total("addresses", addresses.saturating_add(1), *addresses)]
        }
        RuleKind::BreakGlass { within } => vec![Check {
            counted_by: CountedBy::Grant,
            measure: "break_glass",
            window: Some(within.as_secs()),
            fires_at: Some(1),
            limit: 1,
            grant_limit_first: false,
        }],
        RuleKind::RevokedUse { attempts, within } => vec![Check {
            counted_by: CountedBy::Grant,
            measure: "revoked",
            window: within.map(|w| w.as_secs()),
            fires_at: Some(*attempts),
            limit: *attempts,
            grant_limit_first: false,
        }],
    }
}

/// How much `observation` adds to `measure`.
fn increment(observation: &Observation, measure: &str) -> u64 {
    let flag = |b: bool| u64::from(b);
    match measure {
        "requests" => flag(observation.allowed),
        "tokens" => observation.tokens,
        "denied" => flag(!observation.allowed),
        "probing" => flag(observation.is_probing()),
        "revoked" => flag(observation.is_revoked_use()),
        "break_glass" => flag(observation.break_glass),
        "addresses" => flag(observation.new_address),
        _ => 0,
    }
}

const TOTALS: [&str; 7] = [
    "requests",
    "tokens",
    "denied",
    "probing",
    "revoked",
    "break_glass",
    "addresses",
];

fn check_key(check: &Check, observation: &Observation) -> Option<CounterKey> {
    let (scope, key) = match check.counted_by {
        CountedBy::Grant => ("grant", observation.grant_id.clone()),
        CountedBy::Subject => ("subject", observation.subject.clone()?),
    };
    let (window_seconds, window_start) = match check.window {
        None => (0, 0),
        Some(length) => {
            let seconds = observation.time_unix_nano / 1_000_000_000;
            (length, seconds - seconds % length.max(1))
        }
    };
    Some(CounterKey {
        scope,
        key,
        measure: check.measure.to_owned(),
        window_seconds,
        window_start,
    })
}

/// Each observation's increments, per counter (totals and the rules' windows), in order.
pub fn contributions(
    rules: &Rules,
    observations: &[Observation],
) -> Vec<BTreeMap<CounterKey, u64>> {
    let all_checks: Vec<Check> = rules.rules.iter().flat_map(checks).collect();
    observations
        .iter()
        .map(|observation| {
            let mut adds = BTreeMap::new();
            for measure in TOTALS {
                let by = increment(observation, measure);
                if by > 0 {
                    adds.insert(CounterKey::total(&observation.grant_id, measure), by);
                }
            }
            if !observation.allowed {
                adds.insert(
                    CounterKey::total(
                        &observation.grant_id,
                        &format!("refused:{}", observation.reason),
                    ),
                    1,
                );
            }
            for check in &all_checks {
                let by = increment(observation, check.measure);
                if by == 0 {
                    continue;
                }
                if let Some(key) = check_key(check, observation) {
                    // Two rules counting the same thing in the same window share one counter.
                    adds.insert(key, by);
                }
            }
            adds
        })
        .collect()
}

/// The batch's total increment per counter, in key order (the order rows are locked in).
pub fn deltas(contributions: &[BTreeMap<CounterKey, u64>]) -> BTreeMap<CounterKey, u64> {
    let mut deltas: BTreeMap<CounterKey, u64> = BTreeMap::new();
    for adds in contributions {
        for (key, by) in adds {
            let total = deltas.entry(key.clone()).or_insert(0);
            *total = total.saturating_add(*by);
        }
    }
    deltas
}

/// The (grant, address) pairs the batch shows, each once, in order.
pub fn address_pairs(observations: &[Observation]) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    for observation in observations {
        if let Some(address) = &observation.client_address {
            let pair = (observation.grant_id.clone(), address.clone());
            if seen.insert(pair.clone()) {
                pairs.push(pair);
            }
        }
    }
    pairs
}

/// Marks the first record of each pair the store had not seen.
pub fn mark_new_addresses(observations: &mut [Observation], new: &HashSet<(String, String)>) {
    let mut marked = HashSet::new();
    for observation in observations {
        if let Some(address) = &observation.client_address {
            let pair = (observation.grant_id.clone(), address.clone());
            if new.contains(&pair) && marked.insert(pair) {
                observation.new_address = true;
            }
        }
    }
}

/// The firings the batch makes, given every counter's value after it; at most one per
/// firing id, at the earliest record that crossed.
pub fn crossings(
    rules: &Rules,
    observations: &[Observation],
    contributions: &[BTreeMap<CounterKey, u64>],
    after: &HashMap<CounterKey, u64>,
) -> Vec<Firing> {
    let mut firings: BTreeMap<String, Firing> = BTreeMap::new();
    for rule in &rules.rules {
        for check in checks(rule) {
            // This check's counters, each with the batch's increments in log order.
            let mut walks: BTreeMap<CounterKey, Vec<(usize, u64)>> = BTreeMap::new();
            for (index, observation) in observations.iter().enumerate() {
                let Some(key) = check_key(&check, observation) else {
                    continue;
                };
                if let Some(by) = contributions[index].get(&key) {
                    walks.entry(key).or_default().push((index, *by));
                }
            }
            for (key, steps) in walks {
                let Some(&value) = after.get(&key) else {
                    continue;
                };
                // Every record of one grant carries the same limits (they are the grant's),
                // so the first step's threshold is the counter's.
                let Some(&(first, _)) = steps.first() else {
                    continue;
                };
                let Some((fires_at, limit)) = check.threshold(&observations[first]) else {
                    continue;
                };
                let batch: u64 = steps.iter().map(|(_, by)| *by).sum();
                let mut count = value.saturating_sub(batch);
                let already = count >= fires_at;
                for (position, (index, by)) in steps.iter().enumerate() {
                    count = count.saturating_add(*by);
                    if count < fires_at || (already && position > 0) {
                        continue;
                    }
                    let firing = firing(rule, &check, limit, &key, &observations[*index], count);
                    let keep = firings.get(&firing.firing_id).is_none_or(|earlier| {
                        firing.evidence_leaf_index < earlier.evidence_leaf_index
                    });
                    if keep {
                        firings.insert(firing.firing_id.clone(), firing);
                    }
                    break;
                }
            }
        }
    }
    let mut firings: Vec<Firing> = firings.into_values().collect();
    firings.sort_by(|a, b| (a.evidence_leaf_index, &a.rule).cmp(&(b.evidence_leaf_index, &b.rule)));
    firings
}

/// The id of `rule`'s firing for `key` (its window included).
pub fn firing_id(rule: &str, key: &CounterKey) -> String {
    let mut hasher = Sha256::new();
    for part in [
        rule,
        key.scope,
        &key.key,
        &key.window_seconds.to_string(),
        &key.window_start.to_string(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("gf-{hex}")
}

fn firing(
    rule: &Rule,
    check: &Check,
    limit: u64,
    key: &CounterKey,
    evidence: &Observation,
    count: u64,
) -> Firing {
    let windowed = key.window_seconds > 0;
    let window = || {
        format!(
            "the {} from {}",
            humantime::format_duration(std::time::Duration::from_secs(key.window_seconds)),
            format_time(key.window_start.saturating_mul(1_000_000_000))
        )
    };
    let detail = match (&rule.kind, check.measure) {
        (RuleKind::Budget { .. }, "requests") => {
            format!("{count} allowed requests reached the budget of {limit}")
        }
        (RuleKind::Budget { .. }, _) => {
            format!("{count} model tokens reached the budget of {limit}")
        }
        (RuleKind::Rate { .. }, _) => format!(
            "{count} allowed requests in {}, more than the ceiling of {limit} a minute",
            window()
        ),
        (RuleKind::Probing { .. }, _) => format!(
            "{count} refusals for scope or route (insufficient_scope, no_route) for {} {} in {}",
            key.scope,
            key.key,
            window()
        ),
        (RuleKind::TokenSpread { .. }, _) => {
            format!("used from {count} distinct client addresses, more than {limit}")
        }
        (RuleKind::BreakGlass { .. }, _) => format!("break-glass grant used in {}", window()),
        (RuleKind::RevokedUse { .. }, _) if windowed => {
            format!("{count} attempts with the revoked grant in {}", window())
        }
        (RuleKind::RevokedUse { .. }, _) => format!("{count} attempts with the revoked grant"),
    };
    let counted = match check.measure {
        "requests" => "requests",
        "tokens" => "tokens",
        "probing" => "refusals",
        "addresses" => "addresses",
        "break_glass" => "uses",
        _ => "attempts",
    };
    Firing {
        firing_id: firing_id(&rule.name, key),
        rule: rule.name.clone(),
        kind: rule.kind.name(),
        action: rule.action,
        grant_id: evidence.grant_id.clone(),
        subject: evidence.subject.clone(),
        counted_by: key.scope,
        window_seconds: windowed.then_some(key.window_seconds),
        window_start: windowed.then_some(key.window_start),
        counts: BTreeMap::from([(counted.to_owned(), count), ("limit".to_owned(), limit)]),
        evidence_leaf_index: evidence.leaf_index,
        time_unix_nano: evidence.time_unix_nano,
        detail,
    }
}

/// The whole computation in memory: the totals a store would hold, for a replay of an
/// export and for tests. The store (`store`) runs the same steps against the database.
#[derive(Debug, Default)]
pub struct Tally {
    addresses: HashSet<(String, String)>,
    counters: HashMap<CounterKey, u64>,
    fired: HashSet<String>,
}

impl Tally {
    /// Applies a batch in log order; returns the firings it makes for the first time.
    pub fn apply(&mut self, rules: &Rules, mut observations: Vec<Observation>) -> Vec<Firing> {
        let new: HashSet<(String, String)> = address_pairs(&observations)
            .into_iter()
            .filter(|pair| self.addresses.insert(pair.clone()))
            .collect();
        mark_new_addresses(&mut observations, &new);
        let contributions = contributions(rules, &observations);
        let mut after = HashMap::new();
        for (key, by) in deltas(&contributions) {
            let value = self.counters.entry(key.clone()).or_insert(0);
            *value = value.saturating_add(by);
            after.insert(key, *value);
        }
        crossings(rules, &observations, &contributions, &after)
            .into_iter()
            .filter(|firing| self.fired.insert(firing.firing_id.clone()))
            .collect()
    }

    /// A counter's value.
    pub fn value(&self, key: &CounterKey) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }

    /// A grant's whole-life total of `measure`.
    pub fn total(&self, grant: &str, measure: &str) -> u64 {
        self.value(&CounterKey::total(grant, measure))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const T0: u64 = 1_767_225_600_000_000_000;

    fn rules(text: &str) -> Rules {
        Rules::parse(Path::new("rules.toml"), text).unwrap()
    }

    fn seen(leaf: u64, grant: &str, allowed: bool, reason: &str) -> Observation {
        Observation {
            leaf_index: leaf,
            time_unix_nano: T0 + leaf * 1_000_000_000,
            grant_id: grant.into(),
            subject: Some("alice".into()),
            allowed,
            reason: reason.into(),
            tokens: 0,
            client_address: Some("10.0.0.1".into()),
            break_glass: false,
            new_address: false,
            limit_requests: None,
            limit_tokens: None,
        }
    }

    fn fired(firings: &[Firing]) -> Vec<(String, u64, BTreeMap<String, u64>)> {
        firings
            .iter()
            .map(|f| (f.rule.clone(), f.evidence_leaf_index, f.counts.clone()))
            .collect()
    }

    #[test]
    fn a_budget_fires_once_at_the_record_that_reaches_it_whatever_the_batching() {
        let rules =
            rules("[[rule]]\nname = \"b\"\nkind = \"budget\"\nrequests = 3\naction = \"revoke\"\n");
        let records: Vec<Observation> = (0..6).map(|i| seen(i, "g", true, "granted")).collect();
        let mut one_batch = Tally::default();
        let all = one_batch.apply(&rules, records.clone());
        let mut one_by_one = Tally::default();
        let single: Vec<Firing> = records
            .into_iter()
            .flat_map(|r| one_by_one.apply(&rules, vec![r]))
            .collect();
        assert_eq!(all, single);
        assert_eq!(
            fired(&all),
            vec![(
                "b".into(),
                2,
                BTreeMap::from([("limit".into(), 3), ("requests".into(), 3)])
            )]
        );
        assert_eq!(one_batch.total("g", "requests"), 6);
    }

    #[test]
    fn a_grants_own_limits_come_before_the_rules_default() {
        let rules = rules(
            "[[rule]]\nname = \"b\"\nkind = \"budget\"\nrequests = 100\naction = \"revoke\"\n",
        );
        let limited = |leaf, grant: &str, requests, tokens| Observation {
            limit_requests: requests,
            limit_tokens: tokens,
            tokens: 40,
            ..seen(leaf, grant, true, "granted")
        };
        let mut batch = Vec::new();
        for leaf in 0..5 {
            // Its own request limit of 4: fires at the fourth, not at the rule's 100.
            batch.push(limited(leaf, "own-requests", Some(4), None));
            // Only a token limit (100): fires on tokens at the third (120 tokens).
            batch.push(limited(10 + leaf, "own-tokens", None, Some(100)));
            // No limits: the rule's default of 100 requests, far away.
            batch.push(limited(20 + leaf, "default", None, None));
        }
        let firings = Tally::default().apply(&rules, batch);
        assert_eq!(
            fired(&firings),
            vec![
                (
                    "b".into(),
                    3,
                    BTreeMap::from([("limit".into(), 4), ("requests".into(), 4)])
                ),
                (
                    "b".into(),
                    12,
                    BTreeMap::from([("limit".into(), 100), ("tokens".into(), 120)])
                ),
            ]
        );
        assert_eq!(
            firings[1].detail,
            "120 model tokens reached the budget of 100"
        );
    }

    #[test]
    fn a_budget_rule_without_numbers_watches_only_grants_with_limits() {
        let rules = rules("[[rule]]\nname = \"b\"\nkind = \"budget\"\naction = \"revoke\"\n");
        let batch: Vec<Observation> = (0..50).map(|i| seen(i, "g", true, "granted")).collect();
        assert!(Tally::default().apply(&rules, batch).is_empty());
    }

    #[test]
    fn a_rate_fires_per_window_only_above_the_ceiling() {
        let rules = rules(
            "[[rule]]\nname = \"r\"\nkind = \"rate\"\nrequests_per_minute = 2\naction = \"alert\"\n",
        );
        let mut tally = Tally::default();
        // Three in the first minute (fires at the third), two in the next (does not).
        let mut batch: Vec<Observation> = (0..3).map(|i| seen(i, "g", true, "granted")).collect();
        batch.extend((60..62).map(|i| seen(i, "g", true, "granted")));
        let firings = tally.apply(&rules, batch);
        assert_eq!(
            fired(&firings),
            vec![(
                "r".into(),
                2,
                BTreeMap::from([("limit".into(), 2), ("requests".into(), 3)])
            )]
        );
        assert_eq!(firings[0].window_seconds, Some(60));
        assert_eq!(firings[0].window_start, Some(T0 / 1_000_000_000));
        assert_eq!(
            firings[0].detail,
            "3 allowed requests in the 1m from 2026-01-01T00:00:00.000000000Z, more than the ceiling of 2 a minute"
        );
    }

    #[test]
    fn probing_counts_scope_and_route_refusals_only() {
        let rules = rules(
            "[[rule]]\nname = \"p\"\nkind = \"probing\"\nrefusals = 2\nwithin = \"1m\"\naction = \"alert+revoke\"\n",
        );
        let mut tally = Tally::default();
        let firings = tally.apply(
            &rules,
            vec![
                seen(0, "g", false, "insufficient_scope"),
                seen(1, "g", false, "expired"),
                seen(2, "g", true, "granted"),
                seen(3, "g", false, "no_route"),
            ],
        );
        assert_eq!(
            fired(&firings),
            vec![(
                "p".into(),
                3,
                BTreeMap::from([("limit".into(), 2), ("refusals".into(), 2)])
            )]
        );
        assert_eq!(tally.total("g", "refused:expired"), 1);
        assert_eq!(tally.total("g", "denied"), 3);
        // Once per window: more refusals in the same minute do not fire again.
        assert!(tally
            .apply(&rules, vec![seen(4, "g", false, "no_route")])
            .is_empty());
    }

    #[test]
    fn token_spread_counts_each_address_once() {
        let rules = rules(
            "[[rule]]\nname = \"s\"\nkind = \"token_spread\"\naddresses = 2\naction = \"alert\"\n",
        );
        let mut tally = Tally::default();
        let mut records = Vec::new();
        for (leaf, address) in ["a", "b", "a", "b", "c"].iter().enumerate() {
            let mut record = seen(leaf as u64, "g", true, "granted");
            record.client_address = Some((*address).into());
            records.push(record);
        }
        let firings = tally.apply(&rules, records);
        assert_eq!(
            fired(&firings),
            vec![(
                "s".into(),
                4,
                BTreeMap::from([("addresses".into(), 3), ("limit".into(), 2)])
            )]
        );
    }

    #[test]
    fn break_glass_and_revoked_use() {
        let rules = rules(
            "[[rule]]\nname = \"bg\"\nkind = \"break_glass\"\naction = \"alert\"\n\n\
             [[rule]]\nname = \"ru\"\nkind = \"revoked_use\"\nattempts = 2\naction = \"alert\"\n",
        );
        let mut tally = Tally::default();
        let mut glass = seen(0, "g", true, "granted");
        glass.break_glass = true;
        let firings = tally.apply(
            &rules,
            vec![
                glass,
                seen(1, "h", false, "revoked"),
                seen(2, "h", false, "revoked"),
            ],
        );
        assert_eq!(
            fired(&firings),
            vec![
                (
                    "bg".into(),
                    0,
                    BTreeMap::from([("limit".into(), 1), ("uses".into(), 1)])
                ),
                (
                    "ru".into(),
                    2,
                    BTreeMap::from([("attempts".into(), 2), ("limit".into(), 2)])
                ),
            ]
        );
    }

    #[test]
    fn firing_ids_depend_on_rule_key_and_window_only() {
        let key = CounterKey::total("g-1", "requests");
        assert_eq!(firing_id("budget", &key), firing_id("budget", &key.clone()));
        assert_ne!(firing_id("budget", &key), firing_id("budget2", &key));
        assert_eq!(firing_id("budget", &key).len(), 3 + 32);
    }
}
