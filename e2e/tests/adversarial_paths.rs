//! Path tricks against prefix routes, through a real Envoy with the built filter: dot
//! segments (plain and percent-encoded), encoded slashes and backslashes, double slashes,
//! case, trailing dots, path parameters, and query and fragment games. Each target must end in
//! the one route rule the upstream will also see — never a public rule covering a protected
//! path, never one dataset's grant reaching another — and a refused request must not reach
//! the upstream at all.
//!
//! Who answers is part of the specification: Envoy (`normalize_path`, `merge_slashes`,
//! `path_with_escaped_slashes_action: REJECT_REQUEST`) before the filter, and the filter's own
//! `ambiguous_path` check as the second line for what Envoy passes through.
//!
//! What Envoy 1.40 was seen to do, pinned here so an upgrade that changes it fails loudly:
//! it decodes `%2e` before removing dot segments, turns `\` into `/`, treats a segment
//! `..;x` / `.;x` as a dot segment (dropping the parameter), refuses `#`, `%00`, `%2F` and
//! `%5C` with 400, and leaves `%3B`, `%3F`, `%23` encoded (literal characters of one
//! segment). A request with no token that matches no public rule is 401 `missing_token`,
//! not 403: the token is asked for before the route is named.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod adversarial;

use adversarial::{assert_upstream_clean, plain_stack, verdict};
use jitgate_e2e::tokens::grant_token;
use jitgate_e2e::RawRequest;

/// Who answers a path trick, and how.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Envoy refuses it before any filter runs (no deny body).
    Envoy(u16),
    /// The filter refuses it with this status and reason.
    Filter(u16, &'static str),
    /// Let through: the upstream receives it with this path (query included).
    Upstream(&'static str),
}
use Expect::{Envoy, Filter, Upstream};

/// Sent with no token: the only way in is a public rule (`GET /v1/models` prefix, `GET
/// /healthz`). Each tries to dress the protected dataset prefix up as a public path.
const ANONYMOUS: &[(&str, Expect)] = &[
    (
        "/v1/models/../datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models/./../datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models/%2e%2e/datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models/%2E%2E/datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models/.%2e/datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models/%252e%252e/datasets/claims-2024/rows",
        Filter(400, "ambiguous_path"),
    ),
    ("/v1/models%2F..%2Fdatasets/claims-2024/rows", Envoy(400)),
    ("/v1/models/..%2fdatasets/claims-2024/rows", Envoy(400)),
    ("/v1/models/..%5Cdatasets/claims-2024/rows", Envoy(400)),
    (
        "/v1/models\\..\\datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "//v1/models/../datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1//datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models;/../datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/models/..;/datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    (
        "/V1/MODELS/../datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    ("/v1/models./rows", Filter(401, "missing_token")),
    (
        "/v1/models../datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    ("/V1/models", Filter(401, "missing_token")),
    ("/v1/Models", Filter(401, "missing_token")),
    ("/v1/models-admin", Filter(401, "missing_token")),
    (
        "/healthz/../v1/datasets/claims-2024/rows",
        Filter(401, "missing_token"),
    ),
    ("/healthz/", Filter(401, "missing_token")),
    (
        "/v1/datasets/claims-2024/rows?/v1/models",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/datasets/claims-2024/rows?x=/../../v1/models",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/datasets/claims-2024/rows%3F/v1/models",
        Filter(401, "missing_token"),
    ),
    (
        "/v1/datasets/claims-2024/rows%23/v1/models",
        Filter(401, "missing_token"),
    ),
    ("/v1/datasets/claims-2024/rows#/../../models", Envoy(400)),
    ("/v1/datasets/claims-2024%00/rows", Envoy(400)),
    (
        "/v1/models?x=/../datasets/claims-2024/rows",
        Upstream("/v1/models?x=/../datasets/claims-2024/rows"),
    ),
    ("/v1/models#/../datasets/claims-2024/rows", Envoy(400)),
    ("/v1/models/x/../", Upstream("/v1/models/")),
    ("/v1/datasets/../models", Upstream("/v1/models")),
];

/// Sent with a grant for `dataset:claims-2024:read` only: each tries to reach another
/// dataset, or a route the grant does not cover, through the granted prefix.
const GRANTED_ONE_DATASET: &[(&str, Expect)] = &[
    (
        "/v1/datasets/claims-2024/rows",
        Upstream("/v1/datasets/claims-2024/rows"),
    ),
    (
        "/v1/datasets/claims-2024/../claims-2025/rows",
        Filter(403, "no_route"),
    ),
    (
        "/v1/datasets/claims-2024/%2e%2e/claims-2025/rows",
        Filter(403, "no_route"),
    ),
    ("/v1/datasets/claims-2024/..%2Fclaims-2025/rows", Envoy(400)),
    (
        "/v1/datasets/claims-2024-evil/rows",
        Filter(403, "no_route"),
    ),
    ("/v1/datasets/claims-2024./rows", Filter(403, "no_route")),
    ("/v1/datasets/CLAIMS-2024/rows", Filter(403, "no_route")),
    (
        "/v1/datasets/claims-2024/../../fine_tuning/jobs",
        Filter(403, "insufficient_scope"),
    ),
    (
        "/v1/datasets/claims-2024//rows",
        Upstream("/v1/datasets/claims-2024/rows"),
    ),
    (
        "/v1/datasets/claims-2024/./rows/.",
        Upstream("/v1/datasets/claims-2024/rows/"),
    ),
    (
        "/v1/datasets/claims-2024\\rows",
        Upstream("/v1/datasets/claims-2024/rows"),
    ),
    (
        "/v1/datasets/claims-2024/..;/claims-2025/rows",
        Filter(403, "no_route"),
    ),
    (
        "/v1/datasets/claims-2024/.;x/rows",
        Upstream("/v1/datasets/claims-2024/rows"),
    ),
    (
        "/v1/datasets/claims-2024/..%3B/claims-2025/rows",
        Upstream("/v1/datasets/claims-2024/..%3B/claims-2025/rows"),
    ),
    (
        "/v1/datasets/claims-2024/rows?../../claims-2025",
        Upstream("/v1/datasets/claims-2024/rows?../../claims-2025"),
    ),
    (
        "/v1/datasets/claims-2024/%63laims",
        Upstream("/v1/datasets/claims-2024/claims"),
    ),
    (
        "/v1/datasets/%63laims-2024/rows",
        Upstream("/v1/datasets/claims-2024/rows"),
    ),
];

#[test]
fn path_tricks_end_in_the_rule_the_upstream_sees_or_are_refused() {
    let stack = plain_stack();
    let token = grant_token("paths", "dataset:claims-2024:read");
    let authorization = format!("Bearer {token}");
    let mut failures = Vec::new();
    let cases = ANONYMOUS.iter().map(|case| (case, None)).chain(
        GRANTED_ONE_DATASET
            .iter()
            .map(|case| (case, Some(authorization.as_str()))),
    );
    for ((target, expect), authorization) in cases {
        stack.upstream.clear_requests();
        let headers: Vec<(&str, &str)> = authorization
            .map(|value| ("authorization", value))
            .into_iter()
            .collect();
        let response = stack
            .envoy
            .raw(RawRequest {
                method: "GET",
                target,
                headers: &headers,
                body: b"",
            })
            .expect("Envoy answers");
        let (status, reason) = verdict(&response);
        let received: Vec<String> = stack
            .upstream
            .requests()
            .into_iter()
            .map(|request| request.target)
            .collect();
        let as_expected = match *expect {
            Envoy(code) => status == code && reason.is_none() && received.is_empty(),
            Filter(code, why) => {
                status == code && reason.as_deref() == Some(why) && received.is_empty()
            }
            Upstream(path) => status == 200 && received == [path],
        };
        if !as_expected {
            failures.push(format!(
                "{target} (token: {}): expected {expect:?}, got {status} {reason:?}, upstream saw {received:?}",
                authorization.is_some()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_upstream_clean(
        &stack.upstream,
        &[&token],
        &["alice@example.com", "grant-paths"],
    );
}

#[test]
fn methods_are_matched_exactly() {
    let stack = plain_stack();
    let token = grant_token("methods", "inference:* training:* dataset:claims-2024:read");
    let authorization = format!("Bearer {token}");
    let headers = [("authorization", authorization.as_str())];
    // HEAD answers carry no body, so no reason to read.
    for (method, target, expect) in [
        ("HEAD", "/v1/models", (403, None)),
        ("POST", "/v1/models", (403, Some("no_route"))),
        (
            "OPTIONS",
            "/v1/datasets/claims-2024/rows",
            (403, Some("no_route")),
        ),
        ("get", "/v1/models", (400, None)),
        ("GET", "/v1/chat/completions", (403, Some("no_route"))),
    ] {
        let response = stack
            .envoy
            .raw(RawRequest {
                method,
                target,
                headers: &headers,
                body: b"",
            })
            .unwrap();
        let (status, reason) = verdict(&response);
        assert_eq!(
            (status, reason.as_deref()),
            expect,
            "{method} {target}: {}",
            response.text()
        );
    }
    assert!(
        stack.upstream.requests().is_empty(),
        "nothing was let through"
    );
    assert_upstream_clean(&stack.upstream, &[&token], &[]);
}
