//! What the issuer refuses, to whom, and exactly how.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{ask, TestIssuer, SMALL_MODEL, TRAINING};

pub async fn self_review_is_refused_for_every_role(issuer: &TestIssuer) {
    // bob is an ML lead, root an ML lead and admin, ci-bot a service account, alice a plain
    // engineer: none of them may approve or deny their own request.
    for who in ["alice", "bob", "root", "ci-bot"] {
        let created = issuer.request(who, ask(&[TRAINING], "2h", "r")).await;
        let id = created["id"].as_str().unwrap().to_owned();
        for verb in ["approve", "deny"] {
            let answer = issuer
                .post(
                    &format!("/v1/requests/{id}/{verb}"),
                    Some(who),
                    json!({"comment": "lgtm"}),
                )
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{who} {verb}");
            assert_eq!(
                answer.body,
                json!({"error": "self_review", "message": "you cannot review your own request, whatever your role"}),
                "{who} {verb}"
            );
        }
        let shown = issuer.get(&format!("/v1/requests/{id}"), Some(who)).await;
        assert_eq!(shown.body["state"], "pending", "{who}");
        assert_eq!(shown.body["reviews"], json!([]), "{who}");
    }
    // Nor does bob's own request show up in his review queue.
    let queue = issuer
        .get("/v1/requests?view=reviewable", Some("bob"))
        .await;
    let requesters: Vec<&str> = queue.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request["requester"].as_str().unwrap())
        .collect();
    assert!(!requesters.contains(&"bob"), "{requesters:?}");
    assert!(requesters.contains(&"alice"), "{requesters:?}");
}

pub async fn strangers_see_nothing(issuer: &TestIssuer) {
    let created = issuer.request("alice", ask(&[TRAINING], "2h", "r")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/requests/{id}");
    for (who, status) in [
        ("alice", 200),
        ("bob", 200),
        ("root", 200),
        ("dana", 404),
        ("ci-bot", 404),
    ] {
        let answer = issuer.get(&path, Some(who)).await;
        assert_eq!(answer.status.as_u16(), status, "{who}");
    }
    let dana = issuer.get(&path, Some("dana")).await;
    assert_eq!(
        dana.body,
        json!({"error": "not_found", "message": format!("request {id} not found")})
    );
    let dana_approves = issuer
        .post(&format!("{path}/approve"), Some("dana"), json!({}))
        .await;
    assert_eq!(dana_approves.status, StatusCode::NOT_FOUND);

    let anonymous = issuer.get(&path, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers["www-authenticate"],
        "Bearer realm=\"jitgate\""
    );
    assert_eq!(
        anonymous.body,
        json!({"error": "unauthenticated", "message": "send `Authorization: Bearer <API token or OIDC ID token>`"})
    );
    let unknown = issuer.get(&path, Some("mallory")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.body,
        json!({"error": "unauthenticated", "message": "unknown API token"})
    );
    let no_oidc = issuer
        .send(
            axum::http::Request::get(&path)
                .header("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(no_oidc.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        no_oidc.body["message"],
        "not an API token (jgt_…), and no OIDC provider is configured"
    );

    // Listing: your own by default; everything only for admins.
    let mine = issuer.get("/v1/requests", Some("dana")).await;
    assert_eq!(mine.body, json!({"requests": []}));
    let all = issuer.get("/v1/requests?view=all", Some("dana")).await;
    assert_eq!(all.status, StatusCode::FORBIDDEN);
    assert_eq!(
        all.body,
        json!({"error": "forbidden", "message": "view=all is for admins"})
    );
    let admin_all = issuer
        .get("/v1/requests?view=all&state=pending", Some("root"))
        .await;
    assert_eq!(admin_all.body["requests"][0]["id"], id.as_str());
    let grants_all = issuer.get("/v1/grants?view=all", Some("alice")).await;
    assert_eq!(grants_all.status, StatusCode::FORBIDDEN);

    // Admin calls.
    for path in [
        "/v1/admin/keys/rotate",
        "/v1/admin/keys/reload",
        "/v1/admin/policy/reload",
    ] {
        let answer = issuer.call(Method::POST, path, Some("bob"), None).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            answer.body,
            json!({"error": "forbidden", "message": "this is an admin call"})
        );
        let answer = issuer.call(Method::POST, path, None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

pub async fn only_the_grantee_gets_tokens(issuer: &TestIssuer) {
    let created = issuer
        .request("alice", ask(&[SMALL_MODEL], "1h", "r"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/grants/{id}/token");
    let bob = issuer.call(Method::POST, &path, Some("bob"), None).await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN);
    assert_eq!(
        bob.body,
        json!({"error": "forbidden", "message": "only alice can get tokens of this grant"})
    );
    let root = issuer.call(Method::POST, &path, Some("root"), None).await;
    assert_eq!(root.status, StatusCode::FORBIDDEN);
    let dana = issuer.call(Method::POST, &path, Some("dana"), None).await;
    assert_eq!(dana.status, StatusCode::NOT_FOUND);
    let nobody = issuer.call(Method::POST, &path, None, None).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    let missing = issuer
        .call(
            Method::POST,
            "/v1/grants/req_000000000000000000000000/token",
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

pub async fn policy_refusals_are_precise(issuer: &TestIssuer) {
    let cases = [
        (
            "dana",
            ask(&[SMALL_MODEL], "1h", "r"),
            403,
            json!({"error": "policy_denied", "message": format!("no policy lets you request scope {SMALL_MODEL}")}),
        ),
        (
            "alice",
            ask(&["dataset:claims-2024:read"], "1h", "r"),
            403,
            json!({"error": "policy_denied", "message": "scope dataset:claims-2024:read: dataset access must cite a ticket (--ticket) [datasets-need-a-ticket]"}),
        ),
        (
            "alice",
            ask(&[TRAINING], "2d", "r"),
            400,
            json!({"error": "invalid_request", "message": format!("duration: 2d is longer than policy allows for scope {TRAINING} (at most 1d)")}),
        ),
        (
            "alice",
            ask(&["inference:*"], "1h", "r"),
            403,
            json!({"error": "policy_denied", "message": "scope inference:*: wildcard scopes (ending in *) are for jitgate admins only [wildcards-are-for-admins]"}),
        ),
        (
            "alice",
            ask(&["inference:prod/llama-70b"], "1h", "r"),
            403,
            json!({"error": "policy_denied", "message": "no policy lets you request scope inference:prod/llama-70b"}),
        ),
        (
            "ci-bot",
            json!({"scopes": ["inference:prod/llama-70b"], "duration": "1h", "reason": "r", "urgency": "emergency"}),
            403,
            json!({"error": "policy_denied", "message": "scope inference:prod/llama-70b: service accounts cannot request break-glass access [no-break-glass-for-services]"}),
        ),
        (
            "alice",
            json!({"scopes": [SMALL_MODEL], "duration": "1h", "reason": "  "}),
            403,
            json!({"error": "policy_denied", "message": format!("scope {SMALL_MODEL}: say why you need access (--reason) [a-reason-is-required]")}),
        ),
    ];
    for (who, body, status, expected) in cases {
        let answer = issuer.post("/v1/requests", Some(who), body.clone()).await;
        assert_eq!(answer.status.as_u16(), status, "{who} {body}");
        assert_eq!(answer.body, expected, "{who} {body}");
    }
    // Nothing was stored.
    let all = issuer.get("/v1/requests?view=all", Some("root")).await;
    assert_eq!(all.body, json!({"requests": []}));
    // A dataset with a ticket goes to the data stewards.
    let dataset = issuer
        .request("alice", json!({"scopes": ["dataset:claims-2024:read"], "duration": "1h", "reason": "audit", "ticket": "DATA-12"}))
        .await;
    assert_eq!(dataset["approvals_required"], 1);
    assert_eq!(dataset["assessment"]["reviewers"], json!(["data-stewards"]));
    assert_eq!(dataset["ticket"], "DATA-12");
}

pub async fn validation_refusals_name_the_field(issuer: &TestIssuer) {
    let cases = [
        (json!({"scopes": [], "duration": "1h"}), "scopes: name at least one scope"),
        (
            json!({"scopes": ["inference"], "duration": "1h"}),
            "scopes[0]: scope \"inference\" is invalid at position 9: expected `kind:resource`, found no ':'",
        ),
        (json!({"scopes": [SMALL_MODEL], "duration": "soon"}), "duration: \"soon\" is not a duration (expected number at 0); write e.g. 2h, 90m or 3600"),
        (json!({"scopes": [SMALL_MODEL], "duration": "8d"}), "duration: 8d is longer than this issuer allows (at most 7d)"),
        (json!({"scopes": [SMALL_MODEL], "duration": "1h", "urgency": "asap"}), "urgency: \"asap\" is not one of normal, high, emergency"),
    ];
    for (body, message) in cases {
        let answer = issuer
            .post("/v1/requests", Some("alice"), body.clone())
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            answer.body,
            json!({"error": "invalid_request", "message": message}),
            "{body}"
        );
    }
    let not_json = issuer
        .send(
            axum::http::Request::post("/v1/requests")
                .header("authorization", "Bearer jgt_demo_alice")
                .body(axum::body::Body::from("scopes=x"))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        not_json.body["message"],
        "body: expected value at line 1 column 1"
    );
    let bad_state = issuer.get("/v1/requests?state=open", Some("alice")).await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_state.body["message"],
        "state: \"open\" is not one of pending, active, denied, expired, cancelled, revoked"
    );
    let bad_view = issuer
        .get("/v1/requests?view=everything", Some("alice"))
        .await;
    assert_eq!(
        bad_view.body["message"],
        "view: \"everything\" is not one of mine, reviewable, all"
    );
    let unknown_param = issuer.get("/v1/requests?colour=red", Some("alice")).await;
    assert_eq!(unknown_param.status, StatusCode::BAD_REQUEST);
}

pub async fn feed_requires_the_data_plane_credential(issuer: &TestIssuer) {
    let send = |authorization: Option<&'static str>, query: &'static str| {
        let mut request = axum::http::Request::get(format!("/v1/revocations{query}"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        issuer.send(request.body(axum::body::Body::empty()).unwrap())
    };
    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("Bearer jgt_demo_root"),
        Some("Basic dGVzdA=="),
    ] {
        let answer = send(authorization, "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            answer.headers["www-authenticate"],
            "Bearer realm=\"jitgate\""
        );
        assert_eq!(
            answer.body,
            json!({"error": "invalid_token", "message": "a valid data-plane credential is required"})
        );
    }
    for cursor in ["abc", "-1", "x.-1", "99999999999999999999"] {
        let answer = issuer.feed(Some(cursor)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{cursor}");
        assert_eq!(
            answer.body["message"],
            format!("after: {cursor:?} is not a cursor from this feed; omit `after` to start from the beginning")
        );
    }
}

pub async fn double_reviews_and_late_reviews_conflict(issuer: &TestIssuer) {
    let created = issuer
        .request(
            "erin",
            json!({"scopes": ["inference:prod/llama-70b"], "duration": "1h", "reason": "SEV2", "urgency": "emergency"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let first = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("frank"),
            json!({}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let twice = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("frank"),
            json!({}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(
        twice.body,
        json!({"error": "conflict", "message": format!("you already reviewed request {id}")})
    );
    let shown = issuer
        .get(&format!("/v1/requests/{id}"), Some("erin"))
        .await;
    assert_eq!(shown.body["approvals_missing"], 1);
    let unknown_field = issuer
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some("carol"),
            json!({"comments": "typo"}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown_field.body["message"],
        "body: unknown field `comments`, expected `comment` at line 1 column 11"
    );
}
