//! `jitgate explain`: the decision the gate would make for one request, and why, in plain
//! words (or JSON) — read from the same plugin configuration the filter loads and decided
//! by the same `jitgate_grant::decide`, so it agrees with the filter on every vector.
//!
//! Exit codes: 0 allow, 1 deny, 2 usage or configuration error (and "undecided" when the
//! route needs the body's model and none was given). It must never print the token.

mod inputs;
mod json;
mod scenario;
mod words;

#[cfg(test)]
mod vectors;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use jitgate_grant::budget::counted_limits;
use jitgate_grant::{GrantUsage, ModelFact, Outcome, RevokedGrants, TokenInput, UsageState};

pub use inputs::ExplainError;
pub use scenario::{decide_scenario, Scenario, ThisGrantUsed};

/// `jitgate explain` flags.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The grant token, or `-` to read it from stdin (a command line is visible to other
    /// local users: prefer --token-file or stdin). Without a token, explains an
    /// unauthenticated request.
    #[arg(long, conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the grant token, or `-` for stdin.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// HTTP method of the request.
    #[arg(long)]
    method: String,
    /// Request path, with any query string, as the client sends it.
    #[arg(long)]
    path: String,
    /// The model the JSON body names (for routes whose scope is `kind:{model}`).
    #[arg(long, conflicts_with = "body_file")]
    model: Option<String>,
    /// Read the model from this request body, exactly as the gate reads it.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Content type of --body-file.
    #[arg(long, default_value = "application/json", requires = "body_file")]
    content_type: String,
    /// The filter's plugin configuration JSON (e.g. envoy/plugin-config.example.json).
    #[arg(long)]
    config: PathBuf,
    /// The issuer's key set, a JWKS file or http(s) URL; needed when the configuration
    /// fetches keys (`keys.fetch`), and used instead of inline keys when given.
    #[arg(long)]
    jwks: Option<String>,
    /// A revoked grant id (repeat for several). The live revocation feed is not read.
    #[arg(long = "revoked", value_name = "GRANT_ID")]
    revoked: Vec<String>,
    /// Requests the token's grant has used so far at the gateway, for its budget (the
    /// gateway's live counts are not read).
    #[arg(long, value_name = "N", default_value_t = 0)]
    used_requests: u64,
    /// Model tokens the token's grant has used so far at the gateway.
    #[arg(long, value_name = "N", default_value_t = 0)]
    used_tokens: u64,
    /// Decide at this time (seconds since the epoch, or RFC 3339) instead of now.
    #[arg(long)]
    now: Option<String>,
    /// Print JSON for scripts instead of words.
    #[arg(long)]
    json: bool,
}

/// Runs `jitgate explain`.
pub async fn run(args: ExplainArgs) -> ExitCode {
    match explain(&args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("jitgate explain: {error}");
            ExitCode::from(2)
        }
    }
}

async fn explain(args: &ExplainArgs) -> Result<ExitCode, ExplainError> {
    let settings = inputs::read_config(&args.config)?;
    let keys = inputs::read_keys(&settings, args.jwks.as_deref()).await?;
    let token = inputs::read_token(args.token.as_deref(), args.token_file.as_deref())?;
    let now = inputs::read_now(args.now.as_deref())?;
    let body_model = inputs::read_body_model(
        args.model.as_deref(),
        args.body_file.as_deref(),
        &args.content_type,
        settings.policy.max_body_bytes,
    )?;
    let revoked: RevokedGrants = args.revoked.iter().cloned().collect();
    let used = GrantUsage {
        requests: args.used_requests,
        tokens: args.used_tokens,
    };
    let decision = decide_scenario(&Scenario {
        policy: &settings.policy,
        keys: Some(&keys),
        revoked: Some(&revoked),
        audit_full: false,
        usage: UsageState::Counted(&ThisGrantUsed(used)),
        method: &args.method,
        path: &args.path,
        model: match &body_model {
            None => ModelFact::Unread,
            Some(Ok(model)) => ModelFact::Named(model),
            Some(Err(reason)) => ModelFact::Unusable(*reason),
        },
        token: token
            .as_deref()
            .map_or(TokenInput::Missing, TokenInput::Present),
        now,
    });
    if args.json {
        println!("{}", json::render(&decision, &args.method, &args.path));
    } else {
        print!(
            "{}",
            words::render(&decision, &args.method, &args.path, now)
        );
        if decision.grant.is_some() {
            println!(
                "  revoked   checked against {} --revoked id(s) only; the live feed is not read",
                args.revoked.len()
            );
        }
        if let Some(limits) = decision.grant.as_deref().and_then(counted_limits) {
            let of = |used: u64, limit: Option<u64>| {
                limit.map_or_else(
                    || format!("{used} (no limit)"),
                    |max| format!("{used}/{max}"),
                )
            };
            println!(
                "  budget    requests {}, tokens {} as given by --used-requests/--used-tokens; \
                 the gateway's live counts are not read",
                of(used.requests, limits.requests),
                of(used.tokens, limits.tokens)
            );
        }
    }
    Ok(match decision.outcome {
        Outcome::Allow => ExitCode::SUCCESS,
        Outcome::Deny => ExitCode::FAILURE,
        Outcome::NeedModel => ExitCode::from(2),
    })
}
