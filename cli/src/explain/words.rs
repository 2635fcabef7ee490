//! The decision in plain words: what was decided, which check decided it, what the route
//! needs and the token grants, and what to do next. Never prints the token; the grant's
//! facts come from its verified claims only.

use std::fmt::Write;

use jitgate_grant::{Decision, Outcome, Reason, UnixTime};

/// Which of the gate's checks a reason comes from, in the order `decide` runs them.
pub fn check_name(reason: Reason) -> &'static str {
    match reason {
        Reason::AuditUnavailable => "the gate's audit buffer",
        Reason::AmbiguousPath => "path normal form",
        Reason::PublicRoute => "route (public)",
        Reason::MissingToken | Reason::DuplicateToken => "token presence",
        Reason::KeysUnavailable => "verification keys loaded",
        Reason::TokenTooLarge
        | Reason::MalformedToken
        | Reason::WrongTokenType
        | Reason::UnsupportedAlgorithm
        | Reason::UnsupportedHeader
        | Reason::MissingKeyId
        | Reason::UnknownKey
        | Reason::AlgorithmMismatch
        | Reason::BadSignature
        | Reason::InvalidClaims => "token signature and claims",
        Reason::Expired | Reason::NotYetValid => "token validity window",
        Reason::WrongIssuer | Reason::WrongAudience => "token issuer and audience",
        Reason::Revoked | Reason::RevocationUnavailable => "revocation",
        Reason::NoRoute | Reason::AuthenticatedUnmatched => "route",
        Reason::ModelMissing
        | Reason::ModelNotString
        | Reason::ModelDuplicated
        | Reason::ModelInvalid
        | Reason::BodyNotJson
        | Reason::BodyTooLarge
        | Reason::UnsupportedMediaType => "the body's model",
        Reason::Granted | Reason::InsufficientScope => "scope",
        Reason::BudgetExhausted | Reason::BudgetUnavailable => "budget",
    }
}

/// The check that decided and what it found, in words.
pub fn finding(decision: &Decision) -> (&'static str, &'static str) {
    if decision.outcome == Outcome::NeedModel {
        return (
            "the body's model",
            "the route's scope names the body's model, and no body was given",
        );
    }
    (check_name(decision.reason), decision.reason.description())
}

/// What to do next, as one sentence (with a command where one helps).
pub fn next_step(decision: &Decision) -> String {
    let scope = decision.required_scope.as_deref();
    match (decision.outcome, decision.reason, scope) {
        (Outcome::NeedModel, _, _) => "the required scope depends on the body's \"model\": \
             pass --model or --body-file to finish the decision"
            .to_owned(),
        (Outcome::Allow, _, _) => "nothing: the gate lets this request through".to_owned(),
        (_, Reason::InsufficientScope | Reason::MissingToken, Some(scope)) => format!(
            "ask for the scope: jitgate request --scope {scope} --for 1h --reason \"…\", \
             then jitgate token"
        ),
        (_, Reason::MissingToken, None) => {
            "send a grant token: jitgate request --scope <kind:resource> --for 1h \
             --reason \"…\", then jitgate token"
                .to_owned()
        }
        (_, Reason::Expired, _) => {
            "get a fresh token for the grant with jitgate token, or request access again".to_owned()
        }
        (_, Reason::Revoked, _) => {
            "the grant was revoked: request access again with jitgate request".to_owned()
        }
        (_, Reason::BudgetExhausted, _) => "the grant's budget is used up and retrying will \
             not help: request a new grant, or a larger budget, with jitgate request"
            .to_owned(),
        (_, reason, _) => reason.description().to_owned(),
    }
}

/// The whole explanation, several lines ending in a newline.
pub fn render(decision: &Decision, method: &str, path: &str, now: UnixTime) -> String {
    let mut text = String::new();
    let verdict = match decision.outcome {
        Outcome::Allow => "ALLOW",
        Outcome::Deny => "DENY",
        Outcome::NeedModel => "UNDECIDED",
    };
    let status = match decision.outcome {
        Outcome::Deny => decision.reason.status(),
        Outcome::Allow | Outcome::NeedModel => 200,
    };
    // Writing to a String cannot fail.
    let _ = writeln!(text, "{verdict} {status} {}", decision.reason.code());
    let route = decision
        .route
        .as_deref()
        .map_or_else(|| "no route".to_owned(), |name| format!("route \"{name}\""));
    let _ = writeln!(text, "  request   {method} {path} ({route})");
    if let Some(model) = &decision.model {
        let _ = writeln!(text, "  model     {model}");
    }
    let (check, found) = finding(decision);
    let _ = writeln!(text, "  check     {check}: {found}");
    if let Some(scope) = &decision.required_scope {
        let _ = writeln!(text, "  needs     {scope}");
    }
    match &decision.grant {
        None => {
            let _ = writeln!(text, "  token     no verified grant");
        }
        Some(grant) => {
            let claims = &grant.claims;
            let _ = writeln!(
                text,
                "  grant     {} for {}{}",
                claims.grant_id,
                claims.sub,
                if claims.break_glass {
                    " (break-glass)"
                } else {
                    ""
                }
            );
            if !claims.approvers.is_empty() {
                let _ = writeln!(text, "  approved  by {}", claims.approvers.join(", "));
            }
            let scopes: Vec<&str> = grant.scopes.iter().map(|scope| scope.as_str()).collect();
            let _ = writeln!(text, "  grants    {}", scopes.join(" "));
            let _ = writeln!(
                text,
                "  expires   {} ({})",
                rfc3339(claims.exp),
                relative(claims.exp - now.seconds())
            );
        }
    }
    let _ = writeln!(text, "  next      {}", next_step(decision));
    text
}

/// A Unix time as RFC 3339 UTC, or the raw number when out of range.
pub fn rfc3339(seconds: i64) -> String {
    u64::try_from(seconds)
        .ok()
        .and_then(|seconds| {
            std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
        })
        .map_or_else(
            || seconds.to_string(),
            |time| humantime::format_rfc3339_seconds(time).to_string(),
        )
}

fn relative(seconds: i64) -> String {
    let span = humantime::format_duration(std::time::Duration::from_secs(seconds.unsigned_abs()));
    if seconds > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}
