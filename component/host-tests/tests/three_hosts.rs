//! Three hosts, one answer: every conformance vector through the policy component in
//! wasmtime, the native core (`conformance::runner`) and the filter's proxy-wasm glue (with
//! its fake host), compared per vector with each other and with the vector's expectation.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_component_host_tests::{
    component_path, glue, Decision, Gate, GateError, GrantUsage, ModelFact, Outcome, PolicyHost,
    RequestFacts, TokenInput,
};
use jitgate_conformance::bundle::{FILES, JWKS};
use jitgate_conformance::catalog::POLICY_JSON;
use jitgate_conformance::{run_vector, Expectation, Vector};
use jitgate_grant::{KeySet, Policy};
use std::sync::OnceLock;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The component, compiled once for all tests; each test gets its own instance.
fn load() -> PolicyHost {
    static COMPILED: OnceLock<(Engine, Component)> = OnceLock::new();
    let (engine, component) = COMPILED.get_or_init(|| {
        let path = component_path();
        let engine = Engine::default();
        let component = Component::from_file(&engine, &path).unwrap_or_else(|error| {
            panic!(
                "cannot load the policy component at {}: {error:#} \
                 (run `cargo xtask build`, or set JITGATE_COMPONENT_WASM)",
                path.display()
            )
        });
        (engine, component)
    });
    PolicyHost::instantiate(engine, component).unwrap()
}

fn gate_for(vector: &Vector, policy_json: &str) -> Gate {
    Gate {
        policy_json: policy_json.to_owned(),
        jwks_json: vector.gate.keys_loaded.then(|| JWKS.to_owned()),
        revoked_grant_ids: vector
            .gate
            .revocation_current
            .then(|| vector.revoked.clone()),
        now: vector.now,
        audit_full: vector.gate.audit_full,
        grant_usage: vector.gate.budget_current.then(|| {
            vector
                .usage
                .iter()
                .map(|(grant_id, used)| GrantUsage {
                    grant_id: grant_id.clone(),
                    requests: used.requests,
                    tokens: used.tokens,
                })
                .collect()
        }),
    }
}

/// The component's decision for `vector`, with the token and the model read by the
/// component's own `extract-bearer` and `read-model`, as the filter reads them.
fn component_decision(host: &mut PolicyHost, vector: &Vector, policy: &Policy) -> Decision {
    let token = host
        .extract_bearer(&vector.request.authorization, "Bearer ")
        .unwrap();
    let model = match &vector.request.body {
        None => ModelFact::Unread,
        Some(body) => {
            let max = u64::try_from(policy.max_body_bytes).unwrap();
            match host
                .read_model(vector.request.content_type.as_deref(), body.as_bytes(), max)
                .unwrap()
            {
                Ok(model) => ModelFact::Named(model),
                Err(reason) => ModelFact::Unusable(reason),
            }
        }
    };
    let request = RequestFacts {
        method: vector.request.method.clone(),
        path: vector.request.path.clone(),
        model,
    };
    host.decide(&gate_for(vector, POLICY_JSON), &request, &token)
        .unwrap()
        .unwrap_or_else(|error| panic!("{}: the gate was refused: {error:?}", vector.name))
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::NeedModel => "need_model",
    }
}

fn as_expectation(decision: &Decision) -> Expectation {
    Expectation {
        outcome: outcome_name(decision.outcome).to_owned(),
        reason: decision.reason_code.clone(),
        status: decision.status,
        required_scope: decision.required_scope.clone(),
        grant_id: decision.grant.as_ref().map(|grant| grant.grant_id.clone()),
    }
}

#[test]
fn the_component_the_core_and_the_filter_answer_every_vector_alike() {
    let policy = Policy::from_json(POLICY_JSON).unwrap();
    let keys = KeySet::from_jwks_json(JWKS).unwrap();
    let mut host = load();
    let mut failures = Vec::new();
    for (file, text) in FILES {
        let vector: Vector = serde_json::from_str(text).unwrap();
        let native = run_vector(&vector, &policy, &keys).unwrap().decision;
        let component_decision = component_decision(&mut host, &vector, &policy);
        let component = as_expectation(&component_decision);
        let filter = glue::answer(&vector);
        let reason_code = host.reason_code(component_decision.reason).unwrap();
        let filter_agrees = (
            filter.outcome.as_str(),
            filter.reason.as_str(),
            filter.status,
        ) == (
            vector.expect.outcome.as_str(),
            vector.expect.reason.as_str(),
            vector.expect.status,
        );
        if native != vector.expect
            || component != vector.expect
            || !filter_agrees
            || reason_code != component.reason
        {
            failures.push(format!(
                "{file}: expected {:?}\n  native    {native:?}\n  component {component:?} \
                 (reason-code {reason_code})\n  filter    {filter:?}",
                vector.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        FILES.len(),
        failures.join("\n")
    );
    assert_eq!(
        FILES.len(),
        jitgate_conformance::bundle::vector_files_on_disk().unwrap(),
        "every vector in testdata/vectors is bundled"
    );
}

#[test]
fn an_allowed_decision_carries_the_grant_facts_of_the_token() {
    let text = FILES
        .iter()
        .find(|(file, _)| file.ends_with("eddsa-valid-chat.json"))
        .unwrap()
        .1;
    let vector: Vector = serde_json::from_str(text).unwrap();
    let policy = Policy::from_json(POLICY_JSON).unwrap();
    let mut host = load();
    let decision = component_decision(&mut host, &vector, &policy);
    let grant = decision.grant.expect("the token verified");
    let now = vector.now;
    assert_eq!(decision.outcome, Outcome::Allow);
    assert_eq!(decision.route.as_deref(), Some("chat"));
    assert_eq!(
        decision.model.as_deref(),
        Some("meta-llama/Llama-3.1-8B-Instruct")
    );
    assert_eq!(grant.subject, "alice@example.com");
    assert_eq!(grant.grant_id, "grant-eddsa-valid-chat");
    assert_eq!(grant.token_id, "jti-eddsa-valid-chat");
    assert_eq!(grant.issuer, "https://issuer.jitgate.test");
    assert_eq!(grant.audiences, ["jitgate-gateway"]);
    assert_eq!(grant.approvers, ["bob@example.com"]);
    assert_eq!(
        grant.scopes,
        [
            "inference:meta-llama/Llama-3.1-8B-Instruct",
            "training:llama-3-8b",
            "dataset:claims-2024:read"
        ]
    );
    assert_eq!((grant.issued_at, grant.expires_at), (now - 60, now + 300));
    assert_eq!(grant.not_before, None);
    assert!(!grant.break_glass);
    assert!(grant.token_digest.starts_with("sha256:"));
    assert_eq!(grant.token_digest.len(), 71);
}

fn any_vector() -> Vector {
    serde_json::from_str(FILES[0].1).unwrap()
}

fn missing_token_request() -> (RequestFacts, TokenInput) {
    let request = RequestFacts {
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        model: ModelFact::Unread,
    };
    (request, TokenInput::Missing)
}

#[test]
fn an_invalid_policy_is_refused_naming_its_field() {
    let mut host = load();
    let (request, token) = missing_token_request();
    let policy = POLICY_JSON.replacen("\"audiences\"", "\"audience\"", 1);
    let refused = host
        .decide(&gate_for(&any_vector(), &policy), &request, &token)
        .unwrap()
        .unwrap_err();
    let GateError::Policy(problem) = refused else {
        panic!("expected a policy error, got {refused:?}");
    };
    assert_eq!(problem.field, "policy");
    assert!(
        problem.problem.contains("unknown field `audience`"),
        "{}",
        problem.problem
    );
}

#[test]
fn an_invalid_key_set_is_refused() {
    let mut host = load();
    let (request, token) = missing_token_request();
    let mut gate = gate_for(&any_vector(), POLICY_JSON);
    gate.jwks_json = Some("{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}".into());
    let refused = host.decide(&gate, &request, &token).unwrap().unwrap_err();
    assert!(
        matches!(&refused, GateError::Jwks(message) if !message.is_empty()),
        "{refused:?}"
    );
}

#[test]
fn the_wit_reason_enum_lists_every_core_reason_in_order() {
    let wit = include_str!("../../../wit/jitgate.wit");
    let body = wit
        .split_once("enum reason {")
        .unwrap()
        .1
        .split_once('}')
        .unwrap()
        .0;
    let cases: Vec<String> = body
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| line.trim_end_matches(',').replace('-', "_"))
        .collect();
    let codes: Vec<&str> = jitgate_grant::reason::ALL_REASONS
        .iter()
        .map(|reason| reason.code())
        .collect();
    assert_eq!(cases, codes);
}
