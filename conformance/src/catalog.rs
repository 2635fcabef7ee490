//! The catalog: every conformance vector, written as code so that tokens are made, not
//! pasted. `cargo xtask vectors` turns it into `testdata/vectors/*.json`.
//!
//! Expected statuses are written out by hand here (not derived from the reason table), so
//! the vectors also pin the status mapping.

use serde_json::{json, Map, Value};

use crate::recipe::{Mutation, Presentation, Recipe, Times};
use crate::testkeys::TestKey;
use crate::vector::{Expectation, GateState, UsedSoFar, Vector, VectorRequest};

/// The fixed decision time of the vector files: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;
/// The policy every vector is decided under.
pub const POLICY_JSON: &str = include_str!("../../testdata/policy.json");
/// The issuer the policy trusts.
pub const ISSUER: &str = "https://issuer.jitgate.test";
/// The audience the policy accepts.
pub const AUDIENCE: &str = "jitgate-gateway";
/// The model most vectors ask for.
pub const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
/// The leeway in the policy.
const LEEWAY: i64 = 30;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The claims of an ordinary grant.
pub fn standard_claims(name: &str) -> Map<String, Value> {
    object(json!({
        "iss": ISSUER,
        "sub": "alice@example.com",
        "aud": AUDIENCE,
        "jti": format!("jti-{name}"),
        "scope": format!("inference:{MODEL} training:llama-3-8b dataset:claims-2024:read"),
        "grant_id": format!("grant-{name}"),
        "approvers": ["bob@example.com"],
    }))
}

/// Issued a minute ago, valid for five more minutes.
pub const STANDARD_TIMES: Times = Times {
    iat: Some(-60),
    nbf: None,
    exp: Some(300),
};

struct Case {
    vector: Vector,
}

fn case(name: &str, description: &str) -> Case {
    let recipe = Recipe::honest(TestKey::Ed25519, standard_claims(name), STANDARD_TIMES);
    Case {
        vector: Vector {
            name: name.to_owned(),
            description: description.to_owned(),
            now: NOW,
            request: VectorRequest {
                method: "POST".into(),
                path: "/v1/chat/completions".into(),
                authorization: Vec::new(),
                content_type: Some("application/json".into()),
                body: Some(
                    json!({"model": MODEL, "messages": [{"role": "user", "content": "hello"}]})
                        .to_string(),
                ),
            },
            revoked: Vec::new(),
            usage: Default::default(),
            gate: GateState::default(),
            recipe: Some(recipe),
            expect: Expectation {
                outcome: String::new(),
                reason: String::new(),
                status: 0,
                required_scope: None,
                grant_id: None,
            },
        },
    }
}

impl Case {
    fn recipe(mut self, change: impl FnOnce(&mut Recipe)) -> Case {
        if let Some(recipe) = &mut self.vector.recipe {
            change(recipe);
        }
        self
    }
    fn key(self, key: TestKey) -> Case {
        self.recipe(|r| r.key = key)
    }
    fn claim(self, name: &str, value: Value) -> Case {
        self.recipe(|r| {
            r.claims.insert(name.into(), value);
        })
    }
    fn without_claim(self, name: &str) -> Case {
        self.recipe(|r| {
            r.claims.remove(name);
        })
    }
    fn header(self, name: &str, value: Value) -> Case {
        self.recipe(|r| {
            r.header.insert(name.into(), value);
        })
    }
    fn without_header(self, name: &str) -> Case {
        self.recipe(|r| {
            r.header.remove(name);
        })
    }
    fn times(self, times: Times) -> Case {
        self.recipe(|r| r.times = times)
    }
    fn mutation(self, mutation: Mutation) -> Case {
        self.recipe(|r| r.mutation = mutation)
    }
    fn presentation(self, presentation: Presentation) -> Case {
        self.recipe(|r| r.presentation = presentation)
    }
    fn no_token(mut self) -> Case {
        self.vector.recipe = None;
        self
    }
    fn authorization(mut self, values: &[&str]) -> Case {
        self.vector.recipe = None;
        self.vector.request.authorization = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }
    fn request(mut self, method: &str, path: &str) -> Case {
        self.vector.request.method = method.into();
        self.vector.request.path = path.into();
        if method == "GET" {
            self.vector.request.body = None;
            self.vector.request.content_type = None;
        }
        self
    }
    fn body(mut self, body: Option<&str>) -> Case {
        self.vector.request.body = body.map(str::to_owned);
        self
    }
    fn model(self, model: &str) -> Case {
        let body = json!({"model": model, "messages": []}).to_string();
        self.body(Some(&body))
    }
    fn content_type(mut self, content_type: Option<&str>) -> Case {
        self.vector.request.content_type = content_type.map(str::to_owned);
        self
    }
    fn revoked(mut self, grant_id: &str) -> Case {
        self.vector.revoked.push(grant_id.into());
        self
    }
    fn gate(mut self, keys_loaded: bool, audit_full: bool) -> Case {
        self.vector.gate = GateState {
            keys_loaded,
            audit_full,
            ..GateState::default()
        };
        self
    }
    fn stale_revocations(mut self) -> Case {
        self.vector.gate.revocation_current = false;
        self
    }
    fn expect(mut self, outcome: &str, reason: &str, status: u16) -> Vector {
        self.vector.expect.outcome = outcome.into();
        self.vector.expect.reason = reason.into();
        self.vector.expect.status = status;
        // Reasons decided after the token verified carry the grant.
        let after_verification = [
            "granted",
            "revoked",
            "revocation_unavailable",
            "no_route",
            "insufficient_scope",
            "model_missing",
            "model_not_string",
            "model_duplicated",
            "model_invalid",
            "body_not_json",
            "body_too_large",
            "unsupported_media_type",
            "budget_exhausted",
            "budget_unavailable",
        ];
        if self.vector.recipe.is_some() && after_verification.contains(&reason) {
            self.vector.expect.grant_id = Some(format!("grant-{}", self.vector.name));
        }
        // Reasons decided after the scope check carry the required scope.
        let after_scope = [
            "granted",
            "insufficient_scope",
            "budget_exhausted",
            "budget_unavailable",
        ];
        if after_scope.contains(&reason) && outcome != "need_model" {
            let model = self
                .vector
                .request
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|b| b["model"].as_str().map(str::to_owned));
            let path = self
                .vector
                .request
                .path
                .split('?')
                .next()
                .unwrap_or_default();
            self.vector.expect.required_scope = match path {
                "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/responses" => {
                    model.map(|m| format!("inference:{m}"))
                }
                "/v1/fine_tuning/jobs" if self.vector.request.method == "POST" => {
                    model.map(|m| format!("training:{m}"))
                }
                path if path.starts_with("/v1/fine_tuning/jobs") => {
                    Some("training:jobs:read".into())
                }
                path if path.starts_with("/v1/datasets/claims-2024") => {
                    Some("dataset:claims-2024:read".into())
                }
                _ => None,
            };
        }
        self.vector
    }
}

fn allow(case: Case) -> Vector {
    case.expect("allow", "granted", 200)
}

/// Every vector, in a stable order.
pub fn vectors() -> Vec<Vector> {
    let mut all = valid_tokens();
    all.extend(malformed_tokens());
    all.extend(signature_attacks());
    all.extend(claim_problems());
    all.extend(time_checks());
    all.extend(scope_and_routes());
    all.extend(request_problems());
    all.extend(gate_state());
    all.extend(budgets());
    all
}

fn valid_tokens() -> Vec<Vector> {
    vec![
        allow(case(
            "eddsa-valid-chat",
            "An Ed25519-signed grant for the requested model is allowed.",
        )),
        allow(
            case(
                "es256-valid-chat",
                "An ES256-signed grant for the requested model is allowed.",
            )
            .key(TestKey::P256),
        ),
        allow(
            case(
                "lowercase-bearer-scheme",
                "The auth scheme is case-insensitive (RFC 7235).",
            )
            .presentation(Presentation::LowercaseScheme),
        ),
        allow(
            case(
                "audience-array-containing-ours",
                "aud may be an array; one match suffices.",
            )
            .claim("aud", json!(["other-gateway", AUDIENCE])),
        ),
        allow(
            case(
                "typ-full-media-type",
                "typ may be the full media type application/at+jwt.",
            )
            .header("typ", json!("application/at+jwt")),
        ),
        allow(
            case(
                "completions-route",
                "The legacy completions route is scoped by model too.",
            )
            .request("POST", "/v1/completions"),
        ),
        allow(
            case("embeddings-route", "Embeddings are scoped by model.")
                .request("POST", "/v1/embeddings"),
        ),
        allow(
            case("responses-route", "The responses API is scoped by model.")
                .request("POST", "/v1/responses"),
        ),
        allow(
            case(
                "fine-tuning-job",
                "Creating a fine-tuning job needs training:{model}.",
            )
            .request("POST", "/v1/fine_tuning/jobs")
            .model("llama-3-8b"),
        ),
        allow(
            case(
                "fine-tuning-read-with-wildcard",
                "A training:* grant covers reading jobs.",
            )
            .request("GET", "/v1/fine_tuning/jobs/ft-123")
            .claim("scope", json!("training:*")),
        ),
        allow(
            case(
                "dataset-read",
                "A dataset scope with a colon in the resource.",
            )
            .request("GET", "/v1/datasets/claims-2024/rows?limit=10"),
        ),
        allow(
            case(
                "query-string-ignored-for-routing",
                "The query string is not part of the routed path.",
            )
            .request("POST", "/v1/chat/completions?api-version=2024-10-21")
            .model(MODEL),
        ),
        allow(
            case(
                "wildcard-covers-suffix",
                "inference:meta-llama/* covers any meta-llama model.",
            )
            .claim("scope", json!("inference:meta-llama/*")),
        ),
        allow(
            case(
                "unknown-claims-ignored",
                "Claims jitgate does not know are ignored (RFC 7519 §4).",
            )
            .claim("tenant", json!("acme"))
            .claim("client_id", json!("agent-7")),
        ),
    ]
}

fn malformed_tokens() -> Vec<Vector> {
    vec![
        case(
            "missing-token",
            "No Authorization header: 401 without an error code (RFC 6750 §3.1).",
        )
        .no_token()
        .expect("deny", "missing_token", 401),
        case(
            "basic-scheme-is-not-a-token",
            "Another auth scheme carries no grant token.",
        )
        .presentation(Presentation::BasicScheme)
        .expect("deny", "missing_token", 401),
        case(
            "two-authorization-headers",
            "Two Authorization headers are refused, not chosen between.",
        )
        .presentation(Presentation::TwoHeaders)
        .expect("deny", "duplicate_token", 400),
        case(
            "merged-authorization-headers",
            "Two credentials joined by a comma, as proxies merge repeated headers.",
        )
        .authorization(&[
            "Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA,Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA",
        ])
        .expect("deny", "duplicate_token", 400),
        case(
            "token-in-header-and-query",
            "A header token beside an access_token query parameter is two tokens (RFC 6750 §2.3): refused, so the query copy never reaches the upstream.",
        )
        .request("POST", "/v1/chat/completions?access_token=a-second-token")
        .expect("deny", "duplicate_token", 400),
        case("not-a-jws", "Garbage after Bearer.")
            .authorization(&["Bearer not-a-token"])
            .expect("deny", "malformed_token", 401),
        case("two-segments", "A JWS needs three segments.")
            .authorization(&["Bearer eyJhbGciOiJFZERTQSJ9.e30"])
            .expect("deny", "malformed_token", 401),
        case("extra-segment", "A fourth segment (JWE-like) is refused.")
            .mutation(Mutation::ExtraSegment)
            .expect("deny", "malformed_token", 401),
        case(
            "strip-signature",
            "An honest header with the signature removed.",
        )
        .mutation(Mutation::StripSignature)
        .expect("deny", "malformed_token", 401),
        case("inner-whitespace", "Whitespace inside the token.")
            .mutation(Mutation::InnerSpace)
            .expect("deny", "malformed_token", 401),
        case(
            "double-space-after-scheme",
            "Bearer followed by two spaces leaves a space in the token.",
        )
        .presentation(Presentation::DoubleSpace)
        .expect("deny", "malformed_token", 401),
        case("padded-base64", "Padding is not base64url as JWS uses it.")
            .mutation(Mutation::PaddedSignature)
            .expect("deny", "malformed_token", 401),
        case(
            "oversized-token",
            "Longer than max_token_bytes: refused before decoding.",
        )
        .mutation(Mutation::PadTo { bytes: 5000 })
        .expect("deny", "token_too_large", 401),
        case(
            "header-not-json",
            "The header segment decodes to something that is not JSON.",
        )
        .authorization(&["Bearer bm90IGpzb24.e30.AAAA"])
        .expect("deny", "malformed_token", 401),
    ]
}

fn signature_attacks() -> Vec<Vector> {
    vec![
        case("alg-none", "alg: none with no signature.").header("alg", json!("none")).mutation(Mutation::Unsigned).expect("deny", "unsupported_algorithm", 401),
        case("alg-none-mixed-case", "alg: NoNe, as some libraries once accepted.").header("alg", json!("NoNe")).mutation(Mutation::Unsigned).expect("deny", "unsupported_algorithm", 401),
        case("hs256-with-public-key", "HS256 keyed with the trusted public key's bytes (algorithm confusion).").header("alg", json!("HS256")).mutation(Mutation::HmacWithPublicKey).expect("deny", "unsupported_algorithm", 401),
        case("rs256-not-accepted", "RSA is not an accepted algorithm.").header("alg", json!("RS256")).expect("deny", "unsupported_algorithm", 401),
        case("alg-claims-es256-for-ed25519-key", "The header's alg must match the key kid names.").header("alg", json!("ES256")).expect("deny", "algorithm_mismatch", 401),
        case("alg-claims-eddsa-for-p256-key", "EdDSA header naming the P-256 key.").key(TestKey::P256).header("alg", json!("EdDSA")).expect("deny", "algorithm_mismatch", 401),
        case("unknown-kid", "Signed by a key nobody trusts, naming it honestly.").key(TestKey::Attacker).expect("deny", "unknown_key", 401),
        case("missing-kid", "No kid: the key cannot be chosen, and is not guessed.").without_header("kid").expect("deny", "missing_key_id", 401),
        case("attacker-key-with-trusted-kid", "Signed by an untrusted key but naming the trusted kid.").key(TestKey::Attacker).header("kid", json!(TestKey::Ed25519.signing_key().key_id())).expect("deny", "bad_signature", 401),
        case("payload-tampered", "Scope widened after signing.").mutation(Mutation::TamperPayload { replacement: object(json!({"scope": "inference:*"})) }).expect("deny", "bad_signature", 401),
        case("header-tampered", "A header member added after signing.").mutation(Mutation::TamperHeader).expect("deny", "bad_signature", 401),
        case("es256-wrong-signature-length", "An ES256 signature that is not 64 raw bytes (e.g. DER).").key(TestKey::P256).mutation(Mutation::LongSignature).expect("deny", "bad_signature", 401),
        case("es256-high-s", "An honest ES256 token with s replaced by n − s: ECDSA accepts both, so only low-S is accepted, or every token would have a second text (a second cache entry, a second digest).").key(TestKey::P256).mutation(Mutation::HighS).expect("deny", "bad_signature", 401),
        case("typ-jwt", "typ JWT is an ID-token-like JWT, not an access token.").header("typ", json!("JWT")).expect("deny", "wrong_token_type", 401),
        case("typ-missing", "RFC 9068 access tokens must say typ at+jwt.").without_header("typ").expect("deny", "wrong_token_type", 401),
        case("jku-header", "A token may not point at its own key set.").header("jku", json!("https://attacker.test/jwks.json")).expect("deny", "unsupported_header", 401),
        case("embedded-jwk-header", "A token may not carry its own key.").header("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})).expect("deny", "unsupported_header", 401),
        case("crit-header", "Critical extensions jitgate does not understand.").header("crit", json!(["exp"])).expect("deny", "unsupported_header", 401),
    ]
}

fn claim_problems() -> Vec<Vector> {
    vec![
        case("wrong-issuer", "iss is not the trusted issuer.")
            .claim("iss", json!("https://evil.test"))
            .expect("deny", "wrong_issuer", 401),
        case(
            "issuer-trailing-slash",
            "Issuers compare exactly: a trailing slash is another issuer.",
        )
        .claim("iss", json!(format!("{ISSUER}/")))
        .expect("deny", "wrong_issuer", 401),
        case("wrong-audience-string", "aud names another gateway.")
            .claim("aud", json!("other-gateway"))
            .expect("deny", "wrong_audience", 401),
        case("wrong-audience-array", "aud array without this gateway.")
            .claim("aud", json!(["a", "b"]))
            .expect("deny", "wrong_audience", 401),
        case(
            "audience-empty-array",
            "An empty aud array is not a valid claim.",
        )
        .claim("aud", json!([]))
        .expect("deny", "invalid_claims", 401),
        case("missing-exp", "exp is required.")
            .times(Times {
                iat: Some(-60),
                nbf: None,
                exp: None,
            })
            .expect("deny", "invalid_claims", 401),
        case("missing-iat", "iat is required.")
            .times(Times {
                iat: None,
                nbf: None,
                exp: Some(300),
            })
            .expect("deny", "invalid_claims", 401),
        case(
            "missing-grant-id",
            "grant_id is the revocation key and required.",
        )
        .without_claim("grant_id")
        .expect("deny", "invalid_claims", 401),
        case("fractional-exp", "NumericDate must be a whole number here.")
            .mutation(Mutation::RawClaim {
                claim: "exp".into(),
                raw: format!("{}.5", NOW + 300),
            })
            .expect("deny", "invalid_claims", 401),
        case("string-exp", "exp as a string is not a NumericDate.")
            .mutation(Mutation::RawClaim {
                claim: "exp".into(),
                raw: format!("\"{}\"", NOW + 300),
            })
            .expect("deny", "invalid_claims", 401),
        case(
            "duplicate-exp",
            "A repeated exp: first-wins and last-wins parsers would disagree.",
        )
        .mutation(Mutation::DuplicateTime {
            claim: "exp".into(),
            offset: 86_400,
        })
        .expect("deny", "invalid_claims", 401),
        case("duplicate-scope", "A repeated scope claim.")
            .mutation(Mutation::DuplicateClaim {
                claim: "scope".into(),
                raw: "\"inference:*\"".into(),
            })
            .expect("deny", "invalid_claims", 401),
        case(
            "scope-with-bad-grammar",
            "A granted scope that does not parse poisons the token.",
        )
        .claim("scope", json!("inference:llama inference:a b"))
        .expect("deny", "invalid_claims", 401),
        case(
            "scope-confusable-unicode",
            "A Cyrillic letter in a granted scope.",
        )
        .claim("scope", json!("inference:ll\u{430}ma"))
        .expect("deny", "invalid_claims", 401),
        case(
            "mid-scope-wildcard",
            "A wildcard is only allowed at the end of a granted scope.",
        )
        .claim("scope", json!("inference:*/Llama"))
        .expect("deny", "invalid_claims", 401),
        case("empty-subject", "sub must name someone.")
            .claim("sub", json!(""))
            .expect("deny", "invalid_claims", 401),
        case(
            "revoked-grant",
            "The grant was revoked after the token was minted.",
        )
        .revoked("grant-revoked-grant")
        .expect("deny", "revoked", 401),
    ]
}

fn time_checks() -> Vec<Vector> {
    let times = |iat: i64, nbf: Option<i64>, exp: i64| Times {
        iat: Some(iat),
        nbf,
        exp: Some(exp),
    };
    vec![
        case("expired", "Expired an hour ago.")
            .times(times(-7200, None, -3600))
            .expect("deny", "expired", 401),
        case(
            "expired-one-second-past-leeway",
            "exp + leeway is the first refused second.",
        )
        .times(times(-600, None, -LEEWAY))
        .expect("deny", "expired", 401),
        allow(
            case(
                "expired-within-leeway",
                "One second before exp + leeway is still accepted.",
            )
            .times(times(-600, None, -LEEWAY + 1)),
        ),
        case("nbf-in-future", "Not valid until after the leeway.")
            .times(times(-60, Some(LEEWAY + 1), 600))
            .expect("deny", "not_yet_valid", 401),
        allow(
            case(
                "nbf-at-leeway-edge",
                "nbf exactly now + leeway is accepted.",
            )
            .times(times(-60, Some(LEEWAY), 600)),
        ),
        case("iat-in-future", "Issued in the future beyond the leeway.")
            .times(times(LEEWAY + 60, None, 600))
            .expect("deny", "not_yet_valid", 401),
        case("inverted-window", "exp before iat is not a window.")
            .times(times(-60, None, -120))
            .expect("deny", "invalid_claims", 401),
    ]
}

fn scope_and_routes() -> Vec<Vector> {
    vec![
        case(
            "model-outside-grant",
            "A model the grant does not name: 403 with the scope needed.",
        )
        .model("gpt-4o")
        .expect("deny", "insufficient_scope", 403),
        case(
            "prefix-is-not-a-wildcard",
            "inference:llama does not cover inference:llama-evil.",
        )
        .claim("scope", json!("inference:llama"))
        .model("llama-evil")
        .expect("deny", "insufficient_scope", 403),
        allow(
            case(
                "wildcard-covers-prefix-model",
                "inference:llama* covers llama-evil: wildcards mean what they say.",
            )
            .claim("scope", json!("inference:llama*"))
            .model("llama-evil"),
        ),
        case("case-sensitive-model", "Scope matching is case-sensitive.")
            .model("META-LLAMA/Llama-3.1-8B-Instruct")
            .expect("deny", "insufficient_scope", 403),
        case(
            "wildcard-in-requested-model",
            "A model name cannot carry a wildcard into the required scope.",
        )
        .claim("scope", json!("inference:*"))
        .model("llama*")
        .expect("deny", "model_invalid", 400),
        case(
            "confusable-model-name",
            "A Cyrillic letter in the model name.",
        )
        .model("meta-ll\u{430}ma/Llama-3.1-8B-Instruct")
        .expect("deny", "model_invalid", 400),
        case(
            "model-with-space-and-second-scope",
            "A model name cannot smuggle a second scope.",
        )
        .model("x inference:*")
        .expect("deny", "model_invalid", 400),
        case(
            "training-scope-does-not-cover-inference",
            "Scopes of one kind do not cover another.",
        )
        .claim("scope", json!("training:*"))
        .expect("deny", "insufficient_scope", 403),
        case("no-route", "A valid grant on a path no rule covers.")
            .request("GET", "/admin/keys")
            .expect("deny", "no_route", 403),
        case(
            "no-route-without-token",
            "Without a token, an unrouted path is still 401: nothing leaks to strangers.",
        )
        .request("GET", "/admin/keys")
        .no_token()
        .expect("deny", "missing_token", 401),
        case(
            "method-not-routed",
            "DELETE on a route that only allows POST.",
        )
        .request("DELETE", "/v1/chat/completions")
        .expect("deny", "no_route", 403),
        case(
            "segment-prefix-trick",
            "A prefix rule does not match a longer segment.",
        )
        .request("GET", "/v1/datasets/claims-2024-secret/rows")
        .expect("deny", "no_route", 403),
        case("public-route-without-token", "Listing models is public.")
            .request("GET", "/v1/models")
            .no_token()
            .expect("allow", "public_route", 200),
        case(
            "public-route-ignores-bad-token",
            "Public routes do not look at tokens.",
        )
        .request("GET", "/v1/models/gpt-4o")
        .authorization(&["Bearer garbage"])
        .expect("allow", "public_route", 200),
    ]
}

fn request_problems() -> Vec<Vector> {
    vec![
        case(
            "dot-segments-in-path",
            "A path Envoy should have normalised.",
        )
        .request("GET", "/v1/datasets/claims-2024/../../admin")
        .expect("deny", "ambiguous_path", 400),
        case(
            "encoded-slash-in-path",
            "Percent-encoded slashes are ambiguous.",
        )
        .request("GET", "/v1/datasets%2Fclaims-2024")
        .expect("deny", "ambiguous_path", 400),
        case("double-slash-in-path", "Merged slashes are Envoy's job.")
            .request("POST", "//v1/chat/completions")
            .expect("deny", "ambiguous_path", 400),
        case(
            "body-not-read-yet",
            "The token passes; the scope waits for the body.",
        )
        .body(None)
        .expect("need_model", "granted", 200),
        case("model-missing", "The body names no model.")
            .body(Some(r#"{"messages":[]}"#))
            .expect("deny", "model_missing", 400),
        case("model-not-string", "model must be a string.")
            .body(Some(r#"{"model":["a","b"]}"#))
            .expect("deny", "model_not_string", 400),
        case(
            "model-duplicated",
            "Two model keys: the gate and the server might read different ones.",
        )
        .body(Some(&format!(
            r#"{{"model":"{MODEL}","messages":[],"model":"gpt-4o"}}"#
        )))
        .expect("deny", "model_duplicated", 400),
        case(
            "model-duplicated-by-escape",
            "The same key spelled with a unicode escape.",
        )
        .body(Some(&format!(
            r#"{{"model":"{MODEL}","mod\u0065l":"gpt-4o"}}"#
        )))
        .expect("deny", "model_duplicated", 400),
        case(
            "model-duplicated-by-case",
            "A key that differs from model only in case: Go's encoding/json and ASP.NET read it as \
             model, the last one winning.",
        )
        .body(Some(&format!(
            r#"{{"model":"{MODEL}","messages":[],"Model":"gpt-4o"}}"#
        )))
        .expect("deny", "model_duplicated", 400),
        case(
            "model-case-variant-alone",
            "Only a case variant of model: a case-insensitive server would serve it.",
        )
        .body(Some(r#"{"MODEL":"gpt-4o","messages":[]}"#))
        .expect("deny", "model_duplicated", 400),
        case("body-not-json", "A body that is not JSON.")
            .body(Some("model=gpt-4o"))
            .expect("deny", "body_not_json", 400),
        case("body-deeply-nested", "Nesting deeper than 127 levels.")
            .body(Some(&format!(
                r#"{{"model":"{MODEL}","x":{}{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            )))
            .expect("deny", "body_not_json", 400),
        allow(
            case(
                "model-after-large-prefix",
                "model after 60 KB of other members is still found.",
            )
            .body(Some(&format!(
                r#"{{"messages":[{{"role":"user","content":"{}"}}],"model":"{MODEL}"}}"#,
                "x".repeat(60_000)
            ))),
        ),
        case("body-over-limit", "A body over max_body_bytes.")
            .body(Some(&format!(
                r#"{{"model":"{MODEL}","x":"{}"}}"#,
                "x".repeat(70_000)
            )))
            .expect("deny", "body_too_large", 413),
        case(
            "wrong-content-type",
            "A model-scoped route needs a JSON body.",
        )
        .content_type(Some("text/plain"))
        .expect("deny", "unsupported_media_type", 415),
        case(
            "missing-content-type",
            "No content type on a model-scoped route.",
        )
        .content_type(None)
        .expect("deny", "unsupported_media_type", 415),
    ]
}

fn gate_state() -> Vec<Vector> {
    vec![
        case(
            "keys-not-loaded",
            "Before keys arrive a token cannot be judged: 503, never 401.",
        )
        .gate(false, false)
        .expect("deny", "keys_unavailable", 503),
        case(
            "keys-not-loaded-public-route",
            "Public routes need no keys.",
        )
        .gate(false, false)
        .request("GET", "/v1/models")
        .no_token()
        .expect("allow", "public_route", 200),
        case(
            "keys-not-loaded-no-token",
            "Without a token, missing keys do not matter: 401.",
        )
        .gate(false, false)
        .no_token()
        .expect("deny", "missing_token", 401),
        case(
            "audit-buffer-full",
            "With the deny overflow policy a full audit buffer refuses every request.",
        )
        .gate(true, true)
        .expect("deny", "audit_unavailable", 503),
        case(
            "revocation-feed-stale",
            "A valid grant cannot be shown unrevoked while the feed is stale: 503.",
        )
        .stale_revocations()
        .expect("deny", "revocation_unavailable", 503),
        case(
            "revocation-feed-stale-bad-token",
            "A bad token is still a bad token while the feed is stale: 401.",
        )
        .stale_revocations()
        .claim("iss", json!("https://evil.test"))
        .expect("deny", "wrong_issuer", 401),
    ]
}

// --- budgets: the grant's `limits` against what the gate has counted for it so far ---

impl Case {
    fn limits(self, limits: Value) -> Case {
        self.claim("limits", limits)
    }
    /// This vector's own grant (`grant-<name>`) has used so much.
    fn used(self, requests: u64, tokens: u64) -> Case {
        let grant_id = format!("grant-{}", self.vector.name);
        self.grant_used(&grant_id, requests, tokens)
    }
    fn grant_used(mut self, grant_id: &str, requests: u64, tokens: u64) -> Case {
        self.vector
            .usage
            .insert(grant_id.to_owned(), UsedSoFar { requests, tokens });
        self
    }
    fn budget_unavailable(mut self) -> Case {
        self.vector.gate.budget_current = false;
        self
    }
}

fn budgets() -> Vec<Vector> {
    vec![
        allow(
            case(
                "budget-requests-left",
                "A grant with one request of its budget left is allowed.",
            )
            .limits(json!({"requests": 20}))
            .used(19, 0),
        ),
        case(
            "budget-requests-exhausted",
            "A grant that has used all its requests is refused with 403, not 429: retrying \
             will not help.",
        )
        .limits(json!({"requests": 20}))
        .used(20, 0)
        .expect("deny", "budget_exhausted", 403),
        case(
            "budget-tokens-exhausted",
            "A grant that has used all its model tokens is refused, requests left or not.",
        )
        .limits(json!({"requests": 20, "tokens": 1000}))
        .used(3, 1000)
        .expect("deny", "budget_exhausted", 403),
        case(
            "budget-tokens-overshot",
            "Requests in flight at exhaustion may finish past the token limit; the next is \
             refused.",
        )
        .limits(json!({"tokens": 1000}))
        .used(3, 1040)
        .expect("deny", "budget_exhausted", 403),
        case(
            "budget-zero-requests",
            "A budget of zero requests admits nothing.",
        )
        .limits(json!({"requests": 0}))
        .expect("deny", "budget_exhausted", 403),
        case(
            "budget-exhausted-out-of-scope",
            "The budget is the last check: a request refused anyway says its own reason.",
        )
        .limits(json!({"requests": 1}))
        .used(1, 0)
        .model("gpt-4o")
        .expect("deny", "insufficient_scope", 403),
        case(
            "budget-exhausted-body-not-read",
            "The budget waits for the final decision: the body's model is read first.",
        )
        .limits(json!({"requests": 1}))
        .used(1, 0)
        .body(None)
        .expect("need_model", "granted", 200),
        allow(
            case(
                "budget-without-limits",
                "A grant whose token carries no limits is never held to a count.",
            )
            .used(5, 100_000),
        ),
        allow(
            case("budget-empty-limits", "`limits: {}` sets no limit.")
                .limits(json!({}))
                .used(5, 100_000),
        ),
        allow(
            case(
                "budget-counted-per-grant",
                "Another grant's usage does not count against this one.",
            )
            .limits(json!({"requests": 1}))
            .grant_used("grant-someone-else", 1, 0),
        ),
        case(
            "budget-unavailable",
            "A grant with limits cannot be admitted uncounted: 503 while the gate cannot count.",
        )
        .limits(json!({"requests": 20}))
        .budget_unavailable()
        .expect("deny", "budget_unavailable", 503),
        allow(
            case(
                "budget-unavailable-without-limits",
                "Grants without limits do not need the count.",
            )
            .budget_unavailable(),
        ),
    ]
}
