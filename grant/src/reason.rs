//! Why a request was allowed or denied, and — in this one place — what each reason means on
//! the wire: HTTP status, the RFC 6750 `WWW-Authenticate` challenge, and the JSON body.
//!
//! Reason codes are stable identifiers: they appear in deny bodies, audit records, metrics
//! and conformance vectors, so renaming one is a breaking change.

use std::fmt;

/// The reason behind a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    // --- allowed ---
    /// A valid grant covers the required scope.
    Granted,
    /// The route is public: no token needed.
    PublicRoute,
    /// No route matched and the policy lets any valid grant through.
    AuthenticatedUnmatched,
    // --- the request itself (400 / 413 / 415) ---
    /// More than one token, or more than one credential header.
    DuplicateToken,
    /// A path Envoy should have normalised (dot segments, `//`, encoded `/`, `\`, `%2e`).
    AmbiguousPath,
    /// The route needs the body's `model` and there is none.
    ModelMissing,
    /// `model` is not a string.
    ModelNotString,
    /// `model` appears more than once.
    ModelDuplicated,
    /// `model` has characters outside the scope grammar.
    ModelInvalid,
    /// The body is not a JSON object (or not UTF-8 JSON at all).
    BodyNotJson,
    /// The body is larger than the configured maximum.
    BodyTooLarge,
    /// The route needs a JSON body and the content type is something else.
    UnsupportedMediaType,
    // --- the token (401) ---
    /// No token at all.
    MissingToken,
    /// Longer than the configured maximum.
    TokenTooLarge,
    /// Not three base64url segments holding a JSON header and payload.
    MalformedToken,
    /// `typ` is not `at+jwt`.
    WrongTokenType,
    /// `alg` is not EdDSA or ES256 (`none`, HMAC, RSA, …).
    UnsupportedAlgorithm,
    /// A header parameter jitgate refuses (`crit`, `jku`, `jwk`, `x5u`, `x5c`, `cty`).
    UnsupportedHeader,
    /// No `kid` in the header.
    MissingKeyId,
    /// `kid` names no trusted key.
    UnknownKey,
    /// `alg` does not match the algorithm of the key `kid` names.
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The claims are not valid grant claims (missing, repeated or ill-typed claims; bad
    /// scope grammar).
    InvalidClaims,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    WrongAudience,
    /// The grant was revoked.
    Revoked,
    // --- authorization (403) ---
    /// No route matches and unmatched requests are denied.
    NoRoute,
    /// The grant does not cover the scope the route requires.
    InsufficientScope,
    /// The grant's budget (`limits.requests` or `limits.tokens`) is used up at this gate.
    BudgetExhausted,
    // --- the gate cannot decide safely (503) ---
    /// Verification keys are not loaded yet.
    KeysUnavailable,
    /// The audit buffer is full and the policy is to refuse rather than lose records.
    AuditUnavailable,
    /// The revocation feed has not been read recently enough to trust a grant.
    RevocationUnavailable,
    /// The grant has limits and the gate cannot count its usage right now.
    BudgetUnavailable,
}

/// Every reason, in declaration order.
pub const ALL_REASONS: [Reason; 35] = [
    Reason::Granted,
    Reason::PublicRoute,
    Reason::AuthenticatedUnmatched,
    Reason::DuplicateToken,
    Reason::AmbiguousPath,
    Reason::ModelMissing,
    Reason::ModelNotString,
    Reason::ModelDuplicated,
    Reason::ModelInvalid,
    Reason::BodyNotJson,
    Reason::BodyTooLarge,
    Reason::UnsupportedMediaType,
    Reason::MissingToken,
    Reason::TokenTooLarge,
    Reason::MalformedToken,
    Reason::WrongTokenType,
    Reason::UnsupportedAlgorithm,
    Reason::UnsupportedHeader,
    Reason::MissingKeyId,
    Reason::UnknownKey,
    Reason::AlgorithmMismatch,
    Reason::BadSignature,
    Reason::InvalidClaims,
    Reason::Expired,
    Reason::NotYetValid,
    Reason::WrongIssuer,
    Reason::WrongAudience,
    Reason::Revoked,
    Reason::NoRoute,
    Reason::InsufficientScope,
    Reason::BudgetExhausted,
    Reason::KeysUnavailable,
    Reason::AuditUnavailable,
    Reason::RevocationUnavailable,
    Reason::BudgetUnavailable,
];

/// The RFC 6750 §3.1 error codes (plus `access_denied` and `temporarily_unavailable` for
/// the two non-Bearer cases, as OAuth 2.0 names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400.
    InvalidRequest,
    /// 401 with a token.
    InvalidToken,
    /// 403, the token lacks a scope.
    InsufficientScope,
    /// 403, nothing could have allowed this request.
    AccessDenied,
    /// 503.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl Reason {
    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::PublicRoute => "public_route",
            Reason::AuthenticatedUnmatched => "authenticated_unmatched",
            Reason::DuplicateToken => "duplicate_token",
            Reason::AmbiguousPath => "ambiguous_path",
            Reason::ModelMissing => "model_missing",
            Reason::ModelNotString => "model_not_string",
            Reason::ModelDuplicated => "model_duplicated",
            Reason::ModelInvalid => "model_invalid",
            Reason::BodyNotJson => "body_not_json",
            Reason::BodyTooLarge => "body_too_large",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::MissingToken => "missing_token",
            Reason::TokenTooLarge => "token_too_large",
            Reason::MalformedToken => "malformed_token",
            Reason::WrongTokenType => "wrong_token_type",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::UnsupportedHeader => "unsupported_header",
            Reason::MissingKeyId => "missing_key_id",
            Reason::UnknownKey => "unknown_key",
            Reason::AlgorithmMismatch => "algorithm_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::InvalidClaims => "invalid_claims",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::Revoked => "revoked",
            Reason::NoRoute => "no_route",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::BudgetExhausted => "budget_exhausted",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::AuditUnavailable => "audit_unavailable",
            Reason::RevocationUnavailable => "revocation_unavailable",
            Reason::BudgetUnavailable => "budget_unavailable",
        }
    }

    /// The reason with this code.
    pub fn from_code(code: &str) -> Option<Reason> {
        ALL_REASONS.into_iter().find(|reason| reason.code() == code)
    }

    /// Whether this reason lets the request through.
    pub fn allows(self) -> bool {
        matches!(
            self,
            Reason::Granted | Reason::PublicRoute | Reason::AuthenticatedUnmatched
        )
    }

    /// The HTTP status of the deny response (200 for the allowing reasons).
    pub fn status(self) -> u16 {
        match self.error_code() {
            None if self.allows() => 200,
            None => 401,
            Some(ErrorCode::InvalidToken) => 401,
            Some(ErrorCode::InsufficientScope | ErrorCode::AccessDenied) => 403,
            Some(ErrorCode::TemporarilyUnavailable) => 503,
            Some(ErrorCode::InvalidRequest) => match self {
                Reason::BodyTooLarge => 413,
                Reason::UnsupportedMediaType => 415,
                _ => 400,
            },
        }
    }

    /// The OAuth error code; `None` for allowing reasons and for a missing token, where RFC
    /// 6750 §3.1 says the challenge carries no error.
    pub fn error_code(self) -> Option<ErrorCode> {
        Some(match self {
            Reason::Granted
            | Reason::PublicRoute
            | Reason::AuthenticatedUnmatched
            | Reason::MissingToken => return None,
            Reason::DuplicateToken
            | Reason::AmbiguousPath
            | Reason::ModelMissing
            | Reason::ModelNotString
            | Reason::ModelDuplicated
            | Reason::ModelInvalid
            | Reason::BodyNotJson
            | Reason::BodyTooLarge
            | Reason::UnsupportedMediaType => ErrorCode::InvalidRequest,
            Reason::TokenTooLarge
            | Reason::MalformedToken
            | Reason::WrongTokenType
            | Reason::UnsupportedAlgorithm
            | Reason::UnsupportedHeader
            | Reason::MissingKeyId
            | Reason::UnknownKey
            | Reason::AlgorithmMismatch
            | Reason::BadSignature
            | Reason::InvalidClaims
            | Reason::Expired
            | Reason::NotYetValid
            | Reason::WrongIssuer
            | Reason::WrongAudience
            | Reason::Revoked => ErrorCode::InvalidToken,
            // 403 and not 429: a budget used up does not come back by retrying, and the
            // OpenAI SDKs retry 408, 409, 429 and 5xx by default (docs/filter-config.md).
            Reason::NoRoute | Reason::BudgetExhausted => ErrorCode::AccessDenied,
            Reason::InsufficientScope => ErrorCode::InsufficientScope,
            Reason::KeysUnavailable
            | Reason::AuditUnavailable
            | Reason::RevocationUnavailable
            | Reason::BudgetUnavailable => ErrorCode::TemporarilyUnavailable,
        })
    }

    /// One sentence for the client: what went wrong and what to do. Never contains the
    /// token or anything from it.
    pub fn description(self) -> &'static str {
        match self {
            Reason::Granted => "the grant covers this request",
            Reason::PublicRoute => "this route is public",
            Reason::AuthenticatedUnmatched => "any valid grant may use this route",
            Reason::DuplicateToken => "send exactly one grant token in one header",
            Reason::AmbiguousPath => "the request path is not in normal form",
            Reason::ModelMissing => "the JSON body must name a \"model\"",
            Reason::ModelNotString => "\"model\" must be a string",
            Reason::ModelDuplicated => {
                "\"model\" must appear exactly once, in lowercase (no key may differ only in case)"
            }
            Reason::ModelInvalid => "the model name has characters a scope cannot hold",
            Reason::BodyNotJson => "the body must be a JSON object",
            Reason::BodyTooLarge => "the body is larger than this gateway accepts",
            Reason::UnsupportedMediaType => {
                "send the body as application/json, uncompressed (no content-encoding): the \
                 gateway checks the model in the body as sent"
            }
            Reason::MissingToken => {
                "a grant token is required; request access with `jitgate request`"
            }
            Reason::TokenTooLarge => "the token is larger than this gateway accepts",
            Reason::MalformedToken => "the token is not a well-formed JWS",
            Reason::WrongTokenType => "the token is not a grant token (typ must be at+jwt)",
            Reason::UnsupportedAlgorithm => "the token's algorithm is not accepted",
            Reason::UnsupportedHeader => "the token's header has a parameter that is not accepted",
            Reason::MissingKeyId => "the token names no signing key",
            Reason::UnknownKey => "the token was signed by a key this gateway does not trust",
            Reason::AlgorithmMismatch => "the token's algorithm does not match its key",
            Reason::BadSignature => "the token's signature is invalid",
            Reason::InvalidClaims => "the token's claims are not valid grant claims",
            Reason::Expired => "the token has expired; get a fresh one with `jitgate token`",
            Reason::NotYetValid => {
                "the token is not valid yet (issued for a time ahead of this gateway's clock); \
                 check the clocks, or use it once its time has come"
            }
            Reason::WrongIssuer => "the token comes from an issuer this gateway does not trust",
            Reason::WrongAudience => "the token is not meant for this gateway",
            Reason::Revoked => "the grant was revoked",
            Reason::NoRoute => "no route allows this request",
            Reason::InsufficientScope => {
                "the grant does not cover this request; request the scope named in WWW-Authenticate"
            }
            Reason::KeysUnavailable => {
                "the gateway has not loaded its verification keys yet; retry shortly"
            }
            Reason::AuditUnavailable => {
                "the gateway cannot record audit events right now; retry shortly"
            }
            Reason::RevocationUnavailable => {
                "the gateway cannot confirm the grant is unrevoked right now; retry shortly"
            }
            Reason::BudgetExhausted => {
                "the grant's budget (requests or model tokens) is used up; retrying will not help: \
                 request a new grant or a larger budget with `jitgate request`"
            }
            Reason::BudgetUnavailable => {
                "the gateway cannot count this grant's budget right now; retry shortly"
            }
        }
    }

    /// The full deny response for this reason.
    pub fn deny_response(
        self,
        realm: &str,
        required_scope: Option<&str>,
        request_id: &str,
    ) -> DenyResponse {
        DenyResponse::new(self, realm, required_scope, request_id)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A complete deny response: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers, lowercase names.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body: `{"error": {"message", "type", "code", "param"}, "reason", "request_id"}`
    /// (and `"scope"` for `insufficient_scope`): the error object OpenAI's SDKs parse, and
    /// jitgate's own fields beside it.
    pub body: String,
}

impl DenyResponse {
    /// Builds the response for `reason`.
    pub fn new(
        reason: Reason,
        realm: &str,
        required_scope: Option<&str>,
        request_id: &str,
    ) -> DenyResponse {
        let status = reason.status();
        let code = reason.error_code();
        let mut headers = vec![("content-type", "application/json".to_owned())];
        match code {
            None
            | Some(
                ErrorCode::InvalidRequest | ErrorCode::InvalidToken | ErrorCode::InsufficientScope,
            ) => {
                let mut challenge = format!("Bearer realm=\"{}\"", quoted_string_safe(realm));
                if let Some(code) = code {
                    challenge.push_str(&format!(
                        ", error=\"{}\", error_description=\"{}\"",
                        code.as_str(),
                        reason.description().replace('"', "'")
                    ));
                }
                if let (Some(ErrorCode::InsufficientScope), Some(scope)) = (code, required_scope) {
                    // Scopes never hold quotes or backslashes (see `scope`), so no escaping.
                    challenge.push_str(&format!(", scope=\"{scope}\""));
                }
                headers.push(("www-authenticate", challenge));
            }
            Some(ErrorCode::TemporarilyUnavailable) => {
                headers.push(("retry-after", "1".to_owned()))
            }
            Some(ErrorCode::AccessDenied) => {}
        }
        let scope = match (code, required_scope) {
            (Some(ErrorCode::InsufficientScope), Some(scope)) => Some(scope),
            _ => None,
        };
        // The error object the OpenAI SDKs read: they show `error.message` (and nothing else)
        // in the exception's text, and expose `type`, `code` and `param`. `type` is the
        // RFC 6750 error — a missing token is not an invalid one, and §3.1 gives it no code,
        // so it says plainly that authentication is needed; `code` is the gate's reason.
        let message = match scope {
            Some(scope) => format!(
                "the grant does not cover this request, which needs {scope}; request it with \
                 `jitgate request --scope {scope} --for 1h --reason \"…\"`"
            ),
            None => reason.description().to_owned(),
        };
        let mut body = serde_json::json!({
            "error": {
                "message": message,
                "type": code.map_or("unauthorized", ErrorCode::as_str),
                "code": reason.code(),
                "param": null,
            },
            "reason": reason.code(),
            "request_id": request_id,
        });
        if let Some(scope) = scope {
            body["scope"] = serde_json::Value::String(scope.to_owned());
        }
        DenyResponse {
            status,
            headers,
            body: body.to_string(),
        }
    }

    /// The value of a header, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Keeps a configured realm inside an RFC 7230 quoted-string.
fn quoted_string_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for reason in ALL_REASONS {
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
        }
        let mut codes: Vec<_> = ALL_REASONS.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL_REASONS.len());
    }

    #[test]
    fn missing_token_challenge_has_no_error() {
        let response = Reason::MissingToken.deny_response("jitgate", None, "r1");
        assert_eq!(response.status, 401);
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer realm=\"jitgate\"")
        );
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["reason"], "missing_token");
        assert_eq!(body["error"]["type"], "unauthorized");
        assert_eq!(
            body["error"]["message"],
            "a grant token is required; request access with `jitgate request`"
        );
        assert_eq!(body["request_id"], "r1");
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let response =
            Reason::InsufficientScope.deny_response("jitgate", Some("inference:gpt-4o"), "r2");
        assert_eq!(response.status, 403);
        let challenge = response.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("Bearer realm=\"jitgate\", error=\"insufficient_scope\""));
        assert!(challenge.ends_with(", scope=\"inference:gpt-4o\""));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"]["type"], "insufficient_scope");
        assert_eq!(body["error"]["code"], "insufficient_scope");
        assert_eq!(
            body["error"]["message"],
            "the grant does not cover this request, which needs inference:gpt-4o; request it \
             with `jitgate request --scope inference:gpt-4o --for 1h --reason \"…\"`"
        );
        assert_eq!(body["scope"], "inference:gpt-4o");
    }

    #[test]
    fn statuses_follow_the_error_codes() {
        assert_eq!(Reason::Expired.status(), 401);
        assert_eq!(Reason::Revoked.status(), 401);
        assert_eq!(Reason::DuplicateToken.status(), 400);
        assert_eq!(Reason::BodyTooLarge.status(), 413);
        assert_eq!(Reason::UnsupportedMediaType.status(), 415);
        assert_eq!(Reason::NoRoute.status(), 403);
        assert_eq!(Reason::BudgetExhausted.status(), 403);
        assert_eq!(Reason::BudgetUnavailable.status(), 503);
        assert_eq!(Reason::KeysUnavailable.status(), 503);
        let unavailable = Reason::KeysUnavailable.deny_response("r", None, "x");
        assert_eq!(unavailable.header("www-authenticate"), None);
        assert_eq!(unavailable.header("retry-after"), Some("1"));
        let denied = Reason::NoRoute.deny_response("r", None, "x");
        assert_eq!(denied.header("www-authenticate"), None);
    }

    #[test]
    fn a_used_up_budget_is_a_403_no_client_retries() {
        let response = Reason::BudgetExhausted.deny_response("jitgate", None, "r3");
        assert_eq!(response.status, 403);
        assert_eq!(
            response.headers,
            vec![("content-type", "application/json".to_owned())],
            "no challenge (a new token for the same grant would not help), no Retry-After"
        );
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": {
                    "message": "the grant's budget (requests or model tokens) is used up; \
                        retrying will not help: request a new grant or a larger budget with \
                        `jitgate request`",
                    "type": "access_denied",
                    "code": "budget_exhausted",
                    "param": null,
                },
                "reason": "budget_exhausted",
                "request_id": "r3",
            })
        );
        let uncounted = Reason::BudgetUnavailable.deny_response("jitgate", None, "r4");
        assert_eq!(uncounted.status, 503);
        assert_eq!(uncounted.header("retry-after"), Some("1"));
    }

    #[test]
    fn realm_cannot_break_out_of_its_quotes() {
        let response = Reason::Expired.deny_response("a\"b\\c", None, "x");
        assert!(response
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"abc\""));
    }
}
