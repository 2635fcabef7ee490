//! Budgets set by the policy: limits capped, defaulted and required by the example policy's
//! `oncall-production-on-a-budget` permit, shown before approval, carried in tokens, and
//! refused (400 naming the field, nothing stored) when they ask for more than policy allows.

use axum::http::{Method, StatusCode};
use jitgate_grant::Limits;
use serde_json::{json, Value};

use crate::common::{TestIssuer, ISSUER_URL, SMALL_MODEL};

const PROD: &str = "inference:prod/llama-70b";

fn prod(limits: Value) -> Value {
    json!({"scopes": [PROD], "duration": "1h", "reason": "latency regression", "limits": limits})
}

async fn claims_of(issuer: &TestIssuer, who: &str, id: &str) -> jitgate_grant::GrantClaims {
    let minted = issuer
        .call(
            Method::POST,
            &format!("/v1/grants/{id}/token"),
            Some(who),
            None,
        )
        .await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text);
    let jwks = issuer.get("/.well-known/jwks.json", None).await;
    let keys = jitgate_grant::KeySet::from_jwks_json(&jwks.text).unwrap();
    let rules = jitgate_grant::TokenRules {
        issuer: ISSUER_URL.into(),
        audiences: vec!["jitgate-gateway".into()],
        leeway_seconds: 0,
        max_token_bytes: jitgate_grant::TokenRules::DEFAULT_MAX_TOKEN_BYTES,
    };
    jitgate_grant::verify_token(
        minted.body["token"].as_str().unwrap(),
        &keys,
        &rules,
        jitgate_grant::UnixTime(issuer.state.now()),
    )
    .unwrap()
    .claims
}

pub async fn policy_budgets_are_applied_shown_and_carried_in_tokens(issuer: &TestIssuer) {
    // erin states a request budget (required) and omits the token budget (defaulted).
    let created = issuer.request("erin", prod(json!({"requests": 100}))).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["state"], "pending");
    assert_eq!(
        created["limits"],
        json!({"requests": 100, "tokens": 100000})
    );
    assert_eq!(created["usage"], Value::Null);
    assert_eq!(
        created["assessment"]["scopes"][0],
        json!({
            "scope": PROD,
            "permitted_by": ["oncall-production-on-a-budget"],
            "auto_approved_by": [],
            "approvals": 1,
            "reviewers": ["sre-leads"],
            "budget": {
                "requests": {"max": 500, "required": true},
                "tokens": {"max": 500000, "default": 100000}
            }
        })
    );
    // The reviewer sees the limits before approving.
    let seen = issuer
        .get(&format!("/v1/requests/{id}"), Some("frank"))
        .await;
    assert_eq!(
        seen.body["limits"],
        json!({"requests": 100, "tokens": 100000})
    );
    let approved = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("frank"),
            json!({}),
        )
        .await;
    assert_eq!(approved.body["state"], "active", "{}", approved.text);
    let claims = claims_of(issuer, "erin", &id).await;
    assert_eq!(
        claims.limits,
        Some(Limits {
            requests: Some(100),
            tokens: Some(100000)
        })
    );

    // At the caps exactly: admitted as asked.
    let at_caps = issuer
        .request("erin", prod(json!({"requests": 500, "tokens": 500000})))
        .await;
    assert_eq!(
        at_caps["limits"],
        json!({"requests": 500, "tokens": 500000})
    );

    // A permit without budget annotations adds nothing: asked limits pass through, and none
    // asked means none.
    let asked = issuer
        .request(
            "alice",
            json!({"scopes": [SMALL_MODEL], "duration": "1h", "reason": "r", "limits": {"requests": 20}}),
        )
        .await;
    assert_eq!(asked["limits"], json!({"requests": 20}));
    let claims = claims_of(issuer, "alice", asked["id"].as_str().unwrap()).await;
    assert_eq!(
        claims.limits,
        Some(Limits {
            requests: Some(20),
            tokens: None
        })
    );
    let none = issuer
        .request(
            "alice",
            json!({"scopes": [SMALL_MODEL], "duration": "1h", "reason": "r"}),
        )
        .await;
    assert_eq!(none["limits"], Value::Null);
}

pub async fn limits_beyond_policy_are_refused_naming_the_field_and_nothing_is_stored(
    issuer: &TestIssuer,
) {
    let cases = [
        (
            json!({"scopes": [PROD], "duration": "1h", "reason": "r"}),
            "limits.requests: policy requires a limit on requests for scope inference:prod/llama-70b; ask for one",
        ),
        (
            prod(json!({"tokens": 1000})),
            "limits.requests: policy requires a limit on requests for scope inference:prod/llama-70b; ask for one",
        ),
        (
            prod(json!({"requests": 501})),
            "limits.requests: 501 is more than policy allows for scope inference:prod/llama-70b (at most 500)",
        ),
        (
            prod(json!({"requests": 10, "tokens": 500001})),
            "limits.tokens: 500001 is more than policy allows for scope inference:prod/llama-70b (at most 500000)",
        ),
        (
            prod(json!({"requests": 0})),
            "limits.requests: a limit of 0 would make the grant useless; omit it instead",
        ),
        (
            prod(json!({"requests": 10, "tokens": 0})),
            "limits.tokens: a limit of 0 would make the grant useless; omit it instead",
        ),
    ];
    for (body, message) in cases {
        let answer = issuer
            .post("/v1/requests", Some("erin"), body.clone())
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            answer.body,
            json!({"error": "invalid_request", "message": message}),
            "{body}"
        );
    }
    let all = issuer.get("/v1/requests?view=all", Some("root")).await;
    assert_eq!(all.body, json!({"requests": []}), "nothing was stored");
    let stored: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM transitions")
            .fetch_one(issuer.state.store.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    };
    assert_eq!(stored, 0, "no history either");
}
