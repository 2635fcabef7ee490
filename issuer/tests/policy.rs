//! The approval policy: loading and validation errors (file, line, column), annotations (the
//! budget ones too), reload that keeps the old policy on error, and what the example policy
//! decides.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use axum::http::{Method, StatusCode};
use jitgate_grant::{GrantedScope, Limits};
use jitgate_issuer::identity::{Subject, SubjectKind};
use jitgate_issuer::policy::{
    AccessFacts, PolicyEngine, PolicySource, BUILTIN_SCHEMA, EXAMPLE_POLICY,
};

fn load(text: &str) -> Result<PolicyEngine, String> {
    PolicyEngine::from_text(text, BUILTIN_SCHEMA).map_err(|error| error.to_string())
}

const PERMIT: &str = "permit (principal, action == Jitgate::Action::\"request\", resource)";

#[test]
fn the_example_policy_validates() {
    let engine = load(EXAMPLE_POLICY).unwrap();
    assert_eq!(engine.current().summary().policies, 14);
}

#[test]
fn syntax_errors_point_at_line_and_column() {
    let error =
        load("// a comment\npermit (principal, action, resource)\nwhen { resource.kind == };\n")
            .unwrap_err();
    assert_eq!(error, "policy.cedar:3:25: unexpected token `}`");
}

#[test]
fn schema_violations_point_at_line_and_column() {
    let error = load(&format!("{PERMIT}\nwhen {{ resource.size > 3 }};\n")).unwrap_err();
    assert_eq!(
        error,
        "policy.cedar:2:8: for policy `policy0`, attribute `size` on entity type `Jitgate::Scope` not found (did you mean `kind`?)"
    );
    let error =
        load("permit (principal, action == Jitgate::Action::\"fly\", resource);").unwrap_err();
    assert_eq!(
        error,
        "policy.cedar:1:30: for policy `policy0`, unrecognized action `Jitgate::Action::\"fly\"` (did you mean `Jitgate::Action::\"review\"`?)"
    );
}

#[test]
fn annotations_are_checked_at_load_and_errors_point_at_them() {
    let cases = [
        ("@approval(\"2\")", "policy.cedar:1:1: policy policy0: unknown annotation @approval (known: @id, @approvals, @max_duration, @reviewers, @message, @description, @max_requests, @max_tokens, @default_requests, @default_tokens, @require_limits, @notify)"),
        ("@id(\"p\") @approvals(\"0\")", "policy.cedar:1:10: policy p: @approvals(\"0\") must be a whole number from 1 to 10"),
        ("@id(\"p\") @approvals(\"two\")", "policy.cedar:1:10: policy p: @approvals(\"two\") must be a whole number from 1 to 10"),
        ("@id(\"p\") @max_duration(\"a while\")", "policy.cedar:1:10: policy p: @max_duration(\"a while\"): \"a while\" is not a duration (expected number at 0); write e.g. 2h, 90m or 3600"),
        ("@id(\"p\")\n@max_requests(\"lots\")", "policy.cedar:2:1: policy p: @max_requests(\"lots\") must be a whole number from 1 to 9223372036854775807"),
        ("@id(\"p\")\n@max_tokens(\"0\")", "policy.cedar:2:1: policy p: @max_tokens(\"0\") must be a whole number from 1 to 9223372036854775807"),
        ("@id(\"p\")\n@default_tokens(\"-5\")", "policy.cedar:2:1: policy p: @default_tokens(\"-5\") must be a whole number from 1 to 9223372036854775807"),
        ("@id(\"p\") @max_requests(\"10\")\n  @default_requests(\"20\")", "policy.cedar:2:3: policy p: @default_requests(\"20\") is more than @max_requests(\"10\")"),
        ("@id(\"p\") @require_limits(\"tokens\") @default_tokens(\"20\")", "policy.cedar:1:36: policy p: @default_tokens contradicts @require_limits(\"tokens\"): a required limit is asked for, never defaulted"),
        ("@id(\"p\") @require_limits(\"requests,budget\")", "policy.cedar:1:10: policy p: @require_limits(\"requests,budget\"): \"budget\" is not a limit; write requests, tokens or \"requests,tokens\""),
        ("@id(\"p\") @notify(\"ml-leads, ML Leads\")", "policy.cedar:1:10: policy p: @notify: \"ML Leads\" is not a channel name (1 to 64 of a-z, 0-9, '-', '_')"),
        ("@id(\"p\") @require_limits(\"\")", "policy.cedar:1:10: policy p: @require_limits(\"\"): \"\" is not a limit; write requests, tokens or \"requests,tokens\""),
    ];
    for (annotations, expected) in cases {
        let error = load(&format!("{annotations}\n{PERMIT};")).unwrap_err();
        assert_eq!(error, expected);
    }
    // Every problem of a file, in file order, each at its own line.
    let text = format!(
        "// budgets\n{PERMIT};\n@id(\"b\") @max_tokens(\"x\")\n{PERMIT};\n\n@id(\"c\")\n@approvals(\"99\")\n{PERMIT};\n"
    );
    assert_eq!(
        load(&text).unwrap_err(),
        "policy.cedar:3:10: policy b: @max_tokens(\"x\") must be a whole number from 1 to 9223372036854775807\n\
         policy.cedar:7:1: policy c: @approvals(\"99\") must be a whole number from 1 to 10"
    );
}

fn with_limits(mut facts: AccessFacts, requests: Option<u64>, tokens: Option<u64>) -> AccessFacts {
    facts.limits = Some(Limits { requests, tokens });
    facts
}

#[test]
fn budget_annotations_cap_default_and_require_limits() {
    let text = format!(
        "@id(\"budgeted\") @max_requests(\"100\") @default_requests(\"10\") @max_tokens(\"5000\") @require_limits(\"tokens\")\n{PERMIT};\n"
    );
    let engine = load(&text).unwrap();
    let policy = engine.current();
    let base = facts("a", &[], &["training:x"], 3600);
    let error = |facts: &AccessFacts| policy.assess(facts).unwrap_err().to_string();
    assert_eq!(
        error(&base),
        "limits.tokens: policy requires a limit on tokens for scope training:x; ask for one"
    );
    assert_eq!(
        error(&with_limits(base.clone(), Some(101), Some(10))),
        "limits.requests: 101 is more than policy allows for scope training:x (at most 100)"
    );
    assert_eq!(
        error(&with_limits(base.clone(), Some(100), Some(5001))),
        "limits.tokens: 5001 is more than policy allows for scope training:x (at most 5000)"
    );
    let admitted = policy
        .assess(&with_limits(base.clone(), None, Some(5000)))
        .unwrap();
    assert_eq!(
        serde_json::to_value(admitted.scopes[0].budget).unwrap(),
        serde_json::json!({"requests": {"max": 100, "default": 10}, "tokens": {"max": 5000, "required": true}})
    );
}

#[test]
fn a_permit_over_its_budget_leaves_the_request_to_a_stricter_one() {
    // Like @max_duration: a request beyond the lenient permit's budget falls to the permit
    // that allows it, with its approvals.
    let text = format!(
        "@id(\"small\") @approvals(\"1\") @max_requests(\"100\")\n{PERMIT};\n\
         @id(\"large\") @approvals(\"2\") @max_requests(\"1000\")\n{PERMIT};\n"
    );
    let engine = load(&text).unwrap();
    let policy = engine.current();
    let base = facts("a", &[], &["training:x"], 3600);
    let small = policy
        .assess(&with_limits(base.clone(), Some(100), None))
        .unwrap();
    assert_eq!(small.approvals_required, 1);
    assert_eq!(small.scopes[0].permitted_by, vec!["small", "large"]);
    let large = policy
        .assess(&with_limits(base.clone(), Some(101), None))
        .unwrap();
    assert_eq!(large.approvals_required, 2);
    assert_eq!(large.scopes[0].permitted_by, vec!["large"]);
    assert_eq!(
        policy
            .assess(&with_limits(base, Some(1001), None))
            .unwrap_err()
            .to_string(),
        "limits.requests: 1001 is more than policy allows for scope training:x (at most 1000)"
    );
}

#[test]
fn a_duration_too_long_for_every_permit_is_reported_before_limits() {
    let text = format!("@max_duration(\"1h\") @max_requests(\"5\")\n{PERMIT};\n");
    let engine = load(&text).unwrap();
    let long = with_limits(facts("a", &[], &["training:x"], 7200), Some(50), None);
    assert_eq!(
        engine.current().assess(&long).unwrap_err().to_string(),
        "duration: 2h is longer than policy allows for scope training:x (at most 1h)"
    );
}

fn facts(requester: &str, groups: &[&str], scopes: &[&str], duration: i64) -> AccessFacts {
    AccessFacts {
        requester: requester.into(),
        requester_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        requester_kind: SubjectKind::Person,
        scopes: scopes
            .iter()
            .map(|s| GrantedScope::parse(s).unwrap())
            .collect(),
        duration_seconds: duration,
        urgency: "normal".into(),
        break_glass: false,
        project: String::new(),
        has_ticket: false,
        reason: "r".into(),
        limits: None,
    }
}

#[test]
fn a_request_needs_what_its_strictest_scope_needs() {
    let engine = load(EXAMPLE_POLICY).unwrap();
    let policy = engine.current();
    let small = "inference:meta-llama/Llama-3.1-8B-Instruct";
    let alone = policy
        .assess(&facts("alice", &["ml-eng"], &[small], 3600))
        .unwrap();
    assert_eq!(alone.approvals_required, 0);
    let mixed = policy
        .assess(&facts(
            "alice",
            &["ml-eng"],
            &[small, "training:llama-3-8b"],
            3600,
        ))
        .unwrap();
    assert_eq!(mixed.approvals_required, 1);
    assert_eq!(mixed.reviewers, vec!["ml-leads".to_owned()]);
    assert_eq!(
        mixed.scopes[0].auto_approved_by,
        vec!["auto-small-inference".to_owned()]
    );
    assert_eq!(
        mixed.scopes[1].permitted_by,
        vec!["ml-eng-training".to_owned()]
    );
    // Longer than four hours is not auto-approved, but one lead may still agree (8h max).
    let long = policy
        .assess(&facts("alice", &["ml-eng"], &[small], 5 * 3600))
        .unwrap();
    assert_eq!(long.approvals_required, 1);
}

#[test]
fn the_permit_needing_fewest_approvals_wins() {
    let text = format!(
        "@id(\"strict\") @approvals(\"3\") @reviewers(\"security\")\n{PERMIT};\n\
         @id(\"lenient\") @approvals(\"1\") @max_duration(\"1h\") @reviewers(\"leads\")\n{PERMIT} when {{ principal in Jitgate::Group::\"eng\" }};\n"
    );
    let engine = load(&text).unwrap();
    let policy = engine.current();
    let short = policy
        .assess(&facts("a", &["eng"], &["training:x"], 3600))
        .unwrap();
    assert_eq!(
        (short.approvals_required, short.reviewers.clone()),
        (1, vec!["leads".to_owned()])
    );
    // Past the lenient permit's one hour, only the strict one admits it.
    let long = policy
        .assess(&facts("a", &["eng"], &["training:x"], 7200))
        .unwrap();
    assert_eq!(
        (long.approvals_required, long.reviewers.clone()),
        (3, vec!["security".to_owned()])
    );
}

#[test]
fn reviewers_are_whoever_the_review_action_permits() {
    let engine = load(EXAMPLE_POLICY).unwrap();
    let policy = engine.current();
    let subject = |id: &str, groups: &[&str]| Subject {
        id: id.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        kind: SubjectKind::Person,
        admin: false,
        guard: false,
    };
    let training = facts("alice", &["ml-eng"], &["training:llama-3-8b"], 3600);
    assert!(policy
        .may_review(&subject("bob", &["ml-leads"]), &training)
        .is_ok());
    assert_eq!(
        policy
            .may_review(&subject("dana", &["data-stewards"]), &training)
            .unwrap_err()
            .to_string(),
        "policy does not let dana review scope training:llama-3-8b"
    );
    let dataset = facts(
        "alice",
        &["ml-eng"],
        &["dataset:claims-2024:read", "training:llama-3-8b"],
        3600,
    );
    // Every scope must be reviewable by the same person.
    assert!(policy
        .may_review(&subject("dana", &["data-stewards"]), &dataset)
        .is_err());
    assert!(policy
        .may_review(&subject("bob", &["ml-leads"]), &dataset)
        .is_err());
    assert!(policy
        .may_review(&subject("x", &["ml-leads", "data-stewards"]), &dataset)
        .is_ok());
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_bad_reload_keeps_the_old_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.cedar");
    write(&file, EXAMPLE_POLICY);
    let engine = PolicyEngine::from_files(PolicySource {
        policy: file.clone(),
        schema: None,
    })
    .unwrap();
    let before = engine.current().summary();
    write(
        &file,
        "permit (principal, action, resource) when { nonsense };",
    );
    let error = engine.reload().unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:1:", file.display())),
        "{error}"
    );
    assert_eq!(engine.current().summary(), before);
    write(&file, &format!("{PERMIT};"));
    let after = engine.reload().unwrap();
    assert_eq!(after.policies, 1);
    assert_ne!(after.sha256, before.sha256);
    assert_eq!(engine.current().summary(), after);
    std::fs::remove_file(&file).unwrap();
    let missing = engine.reload().unwrap_err().to_string();
    assert!(
        missing.starts_with(&format!("cannot read policy {}: ", file.display())),
        "{missing}"
    );
    assert_eq!(engine.current().summary(), after);
}

#[tokio::test]
async fn admins_reload_over_the_api_and_see_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.cedar");
    write(&file, EXAMPLE_POLICY);
    let engine = PolicyEngine::from_files(PolicySource {
        policy: file.clone(),
        schema: None,
    })
    .unwrap();
    let issuer = common::TestIssuer::sqlite_with_policy(engine).await;
    write(&file, &format!("{PERMIT}\nwhen {{ resource.size > 3 }};\n"));
    let refused = issuer
        .call(Method::POST, "/v1/admin/policy/reload", Some("root"), None)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["error"], "invalid_policy");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}:2:", file.display())),
        "{}",
        refused.text
    );
    // The example policy still decides.
    let still = issuer
        .request("alice", common::ask(&[common::SMALL_MODEL], "1h", "r"))
        .await;
    assert_eq!(still["state"], "active");
    write(
        &file,
        &format!("@approvals(\"2\")\n{PERMIT} when {{ context.reason != \"\" }};\n"),
    );
    let reloaded = issuer
        .call(Method::POST, "/v1/admin/policy/reload", Some("root"), None)
        .await;
    assert_eq!(reloaded.status, StatusCode::OK);
    assert_eq!(reloaded.body["reloaded"], true);
    assert_eq!(reloaded.body["policies"], 1);
    let now_two = issuer
        .request("alice", common::ask(&[common::SMALL_MODEL], "1h", "r"))
        .await;
    assert_eq!(now_two["approvals_required"], 2);
}

#[test]
fn notify_must_name_configured_channels_at_start_and_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.cedar");
    let channels: std::collections::BTreeSet<String> =
        ["ml-leads".to_owned(), "security".to_owned()].into();
    write(
        &file,
        &format!("@id(\"p\") @notify(\"ml-leads\")\n{PERMIT};"),
    );
    let source = PolicySource {
        policy: file.clone(),
        schema: None,
    };
    let engine = PolicyEngine::from_files(source.clone())
        .unwrap()
        .with_notify_channels(channels.clone())
        .unwrap();
    let before = engine.current().summary();
    write(
        &file,
        &format!("@id(\"p\") @notify(\"ml-leads,stewards\")\n{PERMIT};"),
    );
    let error = engine.reload().unwrap_err().to_string();
    assert_eq!(
        error,
        "policy p: @notify names channel \"stewards\", which the notifications file does not define (channels: ml-leads, security)"
    );
    assert_eq!(engine.current().summary(), before);
    // The same policy is refused at start.
    let refused = PolicyEngine::from_files(source)
        .unwrap()
        .with_notify_channels(channels)
        .unwrap_err();
    assert_eq!(refused.to_string(), error);
}
