//! The authorization matrix: every endpoint that reads or changes one request or grant ×
//! every role × the caller's own request or someone else's. `api.rs` holds the endpoint ×
//! role table on one requester's requests and skips the cells that change state; here every
//! cell runs on a fresh request, so the state-changing ones are checked too, and every
//! refusal is checked to have changed nothing.
//!
//! Roles (demo identities): the requester kind (alice, ml-eng), a reviewer of training and
//! inference requests (bob, ml-leads), an admin who also reviews (root), a service account
//! (ci-bot, ml-eng), a person who reviews none of these (dana, data-stewards), the guard
//! (guard, jitgate-guards), and nobody. "Someone else's" is always erin's (ml-eng), whom none
//! of them is.
//!
//! Separation of duties: the guard may revoke any grant, post alerts and report usage, and
//! nothing else — not even read a request; nobody else may post alerts or report usage.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::Method;
use common::{ask, TestIssuer, SMALL_MODEL, TRAINING};
use jitgate_issuer::rate_limit::{RateLimit, RateLimits};
use serde_json::{json, Value};

/// What a cell acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A pending training request (one ml-leads approval needed).
    Pending,
    /// An active, auto-approved inference grant.
    Grant,
}

/// What a successful call changes about its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Nothing.
    None,
    /// Its state, to this one (and its history).
    State(&'static str),
    /// Its history only (an alert).
    History,
    /// Its usage only.
    Usage,
}

/// One endpoint.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    method: &'static str,
    /// `{id}` is replaced by the target's id.
    path: &'static str,
    target: Target,
    /// What a successful call changes.
    effect: Effect,
}

const ENDPOINTS: [Endpoint; 10] = [
    Endpoint {
        method: "GET",
        path: "/v1/requests/{id}",
        target: Target::Pending,
        effect: Effect::None,
    },
    Endpoint {
        method: "POST",
        path: "/v1/requests/{id}/approve",
        target: Target::Pending,
        effect: Effect::State("active"),
    },
    Endpoint {
        method: "POST",
        path: "/v1/requests/{id}/deny",
        target: Target::Pending,
        effect: Effect::State("denied"),
    },
    Endpoint {
        method: "POST",
        path: "/v1/requests/{id}/cancel",
        target: Target::Pending,
        effect: Effect::State("cancelled"),
    },
    Endpoint {
        method: "GET",
        path: "/v1/requests/{id}",
        target: Target::Grant,
        effect: Effect::None,
    },
    Endpoint {
        method: "POST",
        path: "/v1/grants/{id}/token",
        target: Target::Grant,
        effect: Effect::None,
    },
    Endpoint {
        method: "POST",
        path: "/v1/grants/{id}/revoke",
        target: Target::Grant,
        effect: Effect::State("revoked"),
    },
    Endpoint {
        method: "POST",
        path: "/v1/requests/{id}/cancel",
        target: Target::Grant,
        effect: Effect::None,
    },
    Endpoint {
        method: "POST",
        path: "/v1/alerts",
        target: Target::Grant,
        effect: Effect::History,
    },
    Endpoint {
        method: "PUT",
        path: "/v1/grants/{id}/usage",
        target: Target::Grant,
        effect: Effect::Usage,
    },
];

/// The roles, in the column order of [`EXPECTED`]. `dana` and nobody have no "own".
const ROLES: [Option<&str>; 7] = [
    None,
    Some("alice"),
    Some("bob"),
    Some("root"),
    Some("ci-bot"),
    Some("dana"),
    Some("guard"),
];

/// Per endpoint (rows as in [`ENDPOINTS`]) and role (columns as in [`ROLES`]): the status on
/// the caller's own target, then on erin's. 0: not applicable (no own requests).
///
/// Why, in short: strangers get 404 (nothing is visible to them, not even existence);
/// reviewers see and review others' requests but never their own (403 `self_review`), and
/// never cancel, mint for or otherwise act as the requester (403); only the requester cancels
/// and mints; requester, reviewers and admins revoke; an active grant cannot be cancelled
/// (409), only revoked. The guard has no requests of its own; it revokes any grant, posts
/// alerts and reports usage, and gets 403 for everything else — it does not even learn
/// whether a request exists. Alerts and usage are the guard's alone (403 for everyone).
#[rustfmt::skip]
const EXPECTED: [[(u16, u16); 7]; 10] = [
    //  nobody      alice       bob         root        ci-bot      dana      guard
    [(0, 401), (200, 404), (200, 200), (200, 200), (200, 404), (0, 404), (0, 403)], // show pending
    [(0, 401), (403, 404), (403, 200), (403, 200), (403, 404), (0, 404), (0, 403)], // approve
    [(0, 401), (403, 404), (403, 200), (403, 200), (403, 404), (0, 404), (0, 403)], // deny
    [(0, 401), (200, 404), (200, 403), (200, 403), (200, 404), (0, 404), (0, 403)], // cancel pending
    [(0, 401), (200, 404), (200, 200), (200, 200), (200, 404), (0, 404), (0, 403)], // show grant
    [(0, 401), (200, 404), (200, 403), (200, 403), (200, 404), (0, 404), (0, 403)], // mint a token
    [(0, 401), (200, 404), (200, 200), (200, 200), (200, 404), (0, 404), (0, 200)], // revoke
    [(0, 401), (409, 404), (409, 403), (409, 403), (409, 404), (0, 404), (0, 403)], // cancel a grant
    [(0, 401), (403, 403), (403, 403), (403, 403), (403, 403), (0, 403), (0, 201)], // post an alert
    [(0, 401), (403, 403), (403, 403), (403, 403), (403, 403), (0, 403), (0, 200)], // report usage
];

async fn fresh_target(issuer: &TestIssuer, owner: &str, target: Target) -> String {
    let scope = match target {
        Target::Pending => TRAINING,
        Target::Grant => SMALL_MODEL,
    };
    let created = issuer.request(owner, ask(&[scope], "2h", "matrix")).await;
    let expected_state = match target {
        Target::Pending => "pending",
        Target::Grant => "active",
    };
    assert_eq!(created["state"], expected_state, "{owner}: {created}");
    created["id"].as_str().unwrap().to_owned()
}

/// The target as its owner sees it: state, number of history steps, usage.
async fn snapshot(issuer: &TestIssuer, owner: &str, id: &str) -> (Value, usize, Value) {
    let shown = issuer.get(&format!("/v1/requests/{id}"), Some(owner)).await;
    (
        shown.body["state"].clone(),
        shown.body["history"].as_array().map_or(0, Vec::len),
        shown.body["usage"].clone(),
    )
}

/// The `error` code a refusal must carry: a reviewer acting on their own request is told it is
/// self-review, whatever their role; every other 403 is a plain `forbidden`.
fn refusal_code(status: u16, own: bool, path: &str) -> Option<&'static str> {
    let reviewing = path.ends_with("/approve") || path.ends_with("/deny");
    match status {
        401 => Some("unauthenticated"),
        403 if own && reviewing => Some("self_review"),
        403 => Some("forbidden"),
        404 => Some("not_found"),
        409 => Some("conflict"),
        _ => None,
    }
}

fn body_for(path: &str, id: &str) -> Option<Value> {
    match path.rsplit('/').next() {
        Some("deny") => Some(json!({"comment": "matrix"})),
        Some("approve" | "cancel" | "revoke") => Some(json!({})),
        Some("alerts") => Some(json!({
            "grant_id": id, "subject": "erin", "rule": "matrix", "action": "alert",
            "window_seconds": null, "counts": {"uses": 1}, "detail": "matrix",
            "fired_at": "2026-01-01T00:00:00Z", "firing_id": format!("gf-{id}")
        })),
        Some("usage") => Some(json!({
            "requests": 1, "tokens": 2, "denied": 3, "as_of": "2026-01-01T00:00:00Z"
        })),
        _ => None,
    }
}

#[tokio::test]
async fn every_endpoint_role_and_ownership_answers_as_specified_and_refusals_change_nothing() {
    // The matrix creates dozens of requests as one identity with the clock standing still:
    // rate limits are tested on their own (`rate_limits.rs`).
    let unlimited = RateLimit {
        burst: 0,
        per_hour: 0,
    };
    let issuer = TestIssuer::sqlite_with_rate_limits(RateLimits {
        create_request: unlimited,
        mint_token: unlimited,
        revoke: unlimited,
    })
    .await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for (endpoint, row) in ENDPOINTS.iter().zip(EXPECTED) {
        for (role, (own_status, others_status)) in ROLES.iter().zip(row) {
            for (owner, status) in [(*role, own_status), (Some("erin"), others_status)] {
                let Some(owner) = owner else { continue };
                if status == 0 {
                    continue;
                }
                cells += 1;
                let id = fresh_target(&issuer, owner, endpoint.target).await;
                let before = snapshot(&issuer, owner, &id).await;
                let path = endpoint.path.replace("{id}", &id);
                let method = Method::from_bytes(endpoint.method.as_bytes()).unwrap();
                let answer = issuer
                    .call(method, &path, *role, body_for(&path, &id))
                    .await;
                let after = snapshot(&issuer, owner, &id).await;
                let whose = if owner == "erin" { "erin's" } else { "own" };
                let cell = format!(
                    "{} {} as {role:?} on {whose}",
                    endpoint.method, endpoint.path
                );
                if answer.status.as_u16() != status {
                    failures.push(format!(
                        "{cell}: expected {status}, got {}: {}",
                        answer.status, answer.text
                    ));
                    continue;
                }
                let succeeded = (200..300).contains(&status);
                let effect = if succeeded {
                    endpoint.effect
                } else {
                    Effect::None
                };
                let (state, steps, usage) = &before;
                let as_expected = match effect {
                    Effect::None => after == before,
                    // An approval records two steps (approved, then active).
                    Effect::State(to) => after.0 == to && after.1 > *steps && after.2 == *usage,
                    Effect::History => after == (state.clone(), steps + 1, usage.clone()),
                    Effect::Usage => {
                        after
                            == (
                                state.clone(),
                                *steps,
                                json!({"requests": 1, "tokens": 2, "denied": 3, "as_of": "2026-01-01T00:00:00.000000000Z"}),
                            )
                    }
                };
                if !as_expected {
                    failures.push(format!("{cell} ({effect:?}): {before:?} -> {after:?}"));
                }
                if !succeeded && answer.body.get("token").is_some() {
                    failures.push(format!("{cell}: a refusal carried a token"));
                }
                let code = refusal_code(status, owner != "erin", endpoint.path);
                if answer.body["error"].as_str() != code {
                    failures.push(format!(
                        "{cell}: error {:?}, expected {code:?}",
                        answer.body["error"]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, 10 * 11, "every applicable cell ran");
}
