//! The client commands: each builds one API call, then prints the answer for a person (or
//! the JSON with `--json`). `request` and `status ID` can also `--wait` for the decision
//! (the waiting itself is in `wait`).

use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{Client, ClientOptions};
use super::output;
use super::wait::{self, WaitOptions};
use super::{Outcome, OutputOptions};

/// `jitgate request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// A scope, e.g. inference:meta-llama/Llama-3.1-8B-Instruct (repeat for several).
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
    /// How long: 30m, 2h, 1h30m, or seconds.
    #[arg(long = "for", value_name = "DURATION")]
    duration: String,
    /// Why you need it (reviewers read this).
    #[arg(long, default_value = "")]
    reason: String,
    /// normal, high or emergency (break-glass).
    #[arg(long)]
    urgency: Option<String>,
    /// A ticket reference.
    #[arg(long)]
    ticket: Option<String>,
    /// A project name.
    #[arg(long)]
    project: Option<String>,
    /// The most requests the grant may serve (the policy may cap, default or require it).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// The most model tokens (input plus output) the grant may use.
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
    #[command(flatten)]
    wait: WaitOptions,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

/// `jitgate status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A request id; without it, your recent requests.
    #[arg(required_if_eq("wait", "true"))]
    id: Option<String>,
    /// List the pending requests you may review instead of your own.
    #[arg(long, conflicts_with = "id")]
    reviewable: bool,
    #[command(flatten)]
    wait: WaitOptions,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

/// `jitgate approve` / `jitgate deny`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The request id.
    id: String,
    /// Your comment (required to deny).
    #[arg(long, short = 'm', default_value = "")]
    comment: String,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

/// `jitgate cancel` / `jitgate revoke`.
#[derive(Debug, Args)]
pub struct EndArgs {
    /// The request (grant) id.
    id: String,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

/// `jitgate token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The grant id.
    id: String,
    /// Print a shell line that exports the token (for the OpenAI SDKs: OPENAI_API_KEY).
    #[arg(long)]
    export: bool,
    /// The variable `--export` sets.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    var: String,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

/// `jitgate grants`.
#[derive(Debug, Args)]
pub struct GrantsArgs {
    /// Everyone's active grants (admins).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

/// `jitgate alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Only this grant's alerts.
    #[arg(long = "grant", value_name = "ID")]
    grant: Option<String>,
    /// Only alerts fired at or after this time (RFC 3339, e.g. 2026-11-24T09:00:00Z).
    #[arg(long)]
    since: Option<String>,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

fn print_json(value: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|error| error.to_string())?;
    println!("{text}");
    Ok(())
}

/// `jitgate request`.
pub async fn request(args: RequestArgs) -> Result<Outcome, String> {
    let client = Client::from_options(&args.client).await?;
    let mut body = json!({"scopes": args.scopes, "duration": args.duration, "reason": args.reason});
    for (field, value) in [
        ("urgency", args.urgency),
        ("ticket", args.ticket),
        ("project", args.project),
    ] {
        if let Some(value) = value {
            body[field] = Value::String(value);
        }
    }
    if args.max_requests.is_some() || args.max_tokens.is_some() {
        let mut limits = serde_json::Map::new();
        for (field, value) in [("requests", args.max_requests), ("tokens", args.max_tokens)] {
            if let Some(value) = value {
                limits.insert(field.to_owned(), Value::from(value));
            }
        }
        body["limits"] = Value::Object(limits);
    }
    let created = client
        .call(Method::POST, "/v1/requests", Some(body))
        .await?;
    if args.wait.wait {
        let id = created["id"]
            .as_str()
            .ok_or("error: the issuer's answer has no request id")?;
        let id = segment(id)?.to_owned();
        let waited = wait::until_decided(&client, &id, Some(created), args.wait.timeout).await?;
        return show_waited(&waited, &args.output);
    }
    if args.output.json {
        print_json(&created)?;
    } else {
        print!("{}", output::created(&created));
    }
    Ok(Outcome::Done)
}

/// `jitgate status`.
pub async fn status(args: StatusArgs) -> Result<Outcome, String> {
    let client = Client::from_options(&args.client).await?;
    if args.wait.wait {
        // clap requires the id with --wait; this only guards against that rule being lost.
        let id = args
            .id
            .as_deref()
            .ok_or("error: --wait needs a request id: jitgate status ID --wait")?;
        let waited = wait::until_decided(&client, segment(id)?, None, args.wait.timeout).await?;
        return show_waited(&waited, &args.output);
    }
    let answer = match (&args.id, args.reviewable) {
        (Some(id), _) => {
            client
                .call(Method::GET, &format!("/v1/requests/{}", segment(id)?), None)
                .await?
        }
        (None, true) => {
            client
                .call(Method::GET, "/v1/requests?view=reviewable", None)
                .await?
        }
        (None, false) => {
            client
                .call(Method::GET, "/v1/requests?limit=20", None)
                .await?
        }
    };
    if args.output.json {
        print_json(&answer)?;
        return Ok(Outcome::Done);
    }
    if args.id.is_some() {
        print!("{}", output::detail(&answer));
    } else {
        let empty = if args.reviewable {
            "Nothing is waiting for your review.\n"
        } else {
            "You have no requests. Ask with: jitgate request --scope <kind:resource> --for 2h --reason \"…\"\n"
        };
        print!(
            "{}",
            output::table(
                answer["requests"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
                empty
            )
        );
    }
    Ok(Outcome::Done)
}

/// After `--wait`: the request as `jitgate status ID` shows it (or its JSON), wherever the
/// wait left it; the outcome becomes the exit status.
fn show_waited(waited: &wait::Waited, options: &OutputOptions) -> Result<Outcome, String> {
    if options.json {
        print_json(&waited.request)?;
    } else {
        print!("{}", output::detail(&waited.request));
    }
    Ok(waited.outcome)
}

/// `jitgate approve` / `jitgate deny`.
pub async fn review(args: ReviewArgs, verb: &str) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    let path = format!("/v1/requests/{}/{verb}", segment(&args.id)?);
    let answer = client
        .call(Method::POST, &path, Some(json!({"comment": args.comment})))
        .await?;
    if args.output.json {
        return print_json(&answer);
    }
    print!("{}", output::reviewed(&answer, verb));
    Ok(())
}

/// `jitgate cancel` / `jitgate revoke`.
pub async fn end(args: EndArgs, verb: &str) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    let path = match verb {
        "revoke" => format!("/v1/grants/{}/revoke", segment(&args.id)?),
        _ => format!("/v1/requests/{}/cancel", segment(&args.id)?),
    };
    let answer = client
        .call(Method::POST, &path, Some(json!({"reason": args.reason})))
        .await?;
    if args.output.json {
        return print_json(&answer);
    }
    // The next step starts with the new state ("revoked; tokens of this grant are …").
    println!(
        "{}: {}",
        answer["id"].as_str().unwrap_or(&args.id),
        answer["next_step"].as_str().unwrap_or("")
    );
    Ok(())
}

/// `jitgate token`.
pub async fn token(args: TokenArgs) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    let path = format!("/v1/grants/{}/token", segment(&args.id)?);
    let answer = client.call(Method::POST, &path, None).await?;
    if args.output.json {
        return print_json(&answer);
    }
    let token = answer["token"]
        .as_str()
        .ok_or("error: the issuer's answer has no token")?;
    if args.export {
        let valid_name = !args.var.is_empty()
            && args
                .var
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !args.var.starts_with(|c: char| c.is_ascii_digit());
        if !valid_name {
            return Err(format!(
                "error: --var {:?} is not a shell variable name",
                args.var
            ));
        }
        // A JWS compact token is base64url and dots only: nothing a shell would interpret.
        println!("export {}={token}", args.var);
    } else {
        println!("{token}");
    }
    Ok(())
}

/// `jitgate grants`.
pub async fn grants(args: GrantsArgs) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    let path = if args.all {
        "/v1/grants?view=all"
    } else {
        "/v1/grants"
    };
    let answer = client.call(Method::GET, path, None).await?;
    if args.output.json {
        return print_json(&answer);
    }
    print!(
        "{}",
        output::grants(
            answer["grants"].as_array().map(Vec::as_slice).unwrap_or(&[]),
            "No active grants. Ask with: jitgate request --scope <kind:resource> --for 2h --reason \"…\"\n"
        )
    );
    Ok(())
}

/// `jitgate alerts`.
pub async fn alerts(args: AlertsArgs) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    let mut query = Vec::new();
    if let Some(grant) = &args.grant {
        query.push(format!("grant_id={}", segment(grant)?));
    }
    if let Some(since) = &args.since {
        // RFC 3339 needs no escaping in a query; anything else is a typo the issuer names.
        if since.is_empty()
            || !since
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, 'T' | 'Z' | ':' | '.' | '-'))
        {
            return Err(format!(
                "error: --since {since:?} is not an RFC 3339 UTC time like 2026-11-24T09:00:00Z"
            ));
        }
        query.push(format!("since={since}"));
    }
    let path = if query.is_empty() {
        "/v1/alerts".to_owned()
    } else {
        format!("/v1/alerts?{}", query.join("&"))
    };
    let answer = client.call(Method::GET, &path, None).await?;
    if args.output.json {
        return print_json(&answer);
    }
    print!(
        "{}",
        output::alerts(
            answer["alerts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
        )
    );
    Ok(())
}

/// An id safe to put in a URL path (ids are `req_` + hex; anything else is a typo).
fn segment(id: &str) -> Result<&str, String> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(id)
    } else {
        Err(format!(
            "error: {id:?} is not a request id (they look like req_0123456789abcdef01234567)"
        ))
    }
}
