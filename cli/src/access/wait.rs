//! `--wait` on `jitgate request` and `jitgate status ID`: block until a request is decided,
//! telling the person (on stderr) what changed while they wait, and let the exit status say
//! how it ended, so a script can run `jitgate request … --wait && jitgate token …`.
//!
//! Why polling: the issuer pushes news to reviewers' channels (webhooks, Slack), not to the
//! requester's terminal, and one `GET /v1/requests/{id}` every few seconds is cheap. The
//! first look is after a second (a reviewer sitting next to you is quick), then the pause
//! doubles up to five seconds, and drops back to one second after each change (a second
//! approval often follows the first).
//!
//! A line is printed only when something changes: the first sight of the pending request,
//! each review, the end, losing and regaining contact with the issuer. A wait that cannot
//! reach the issuer keeps trying until `--timeout`; one the issuer refuses (unknown
//! credential, not allowed, no such request) ends at once with the issuer's message.
//!
//! How a wait ends (see `Outcome` for the exit statuses): granted (`active`), denied, ended
//! without a grant or after one (`cancelled`, `expired`, `revoked`), or still pending when
//! `--timeout` ran out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use jitgate_issuer::requests::duration::{format_duration, format_remaining, parse_duration};
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use super::client::Client;
use super::Outcome;

/// The pause before the second look, and after each change.
const FIRST_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest pause between two looks.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How long one look may take beyond the deadline: the look at the deadline still gets an
/// answer, but a hung issuer cannot hold a `--timeout 30s` wait for the client's 30 s.
const POLL_GRACE: Duration = Duration::from_secs(5);

/// `--wait [--timeout DURATION]`, shared by `jitgate request` and `jitgate status ID`.
#[derive(Debug, Clone, Args)]
pub struct WaitOptions {
    /// Block until the request is decided, showing progress on stderr. Exit status: 0
    /// granted, 1 error, 2 usage error, 3 denied, 4 cancelled/expired/revoked, 5 still
    /// pending at --timeout.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before giving up with exit status 5: 30s, 10m, 1h.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15m",
        requires = "wait",
        value_parser = parse_timeout
    )]
    pub timeout: Duration,
}

/// `--timeout`: the same spellings as `--for` (`30s`, `10m`, `1h30m`, or seconds).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds = parse_duration(text)?;
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

/// Where a wait left the request: its last view, and what the exit status should say.
#[derive(Debug)]
pub struct Waited {
    /// The request as the issuer last showed it.
    pub request: Value,
    /// How the wait ended.
    pub outcome: Outcome,
}

/// Watches request `id` until it leaves `pending` or `timeout` runs out. `first` is a view
/// of the request already in hand (the answer to `POST /v1/requests`), saving a look. `id`
/// must already be safe in a URL path.
pub async fn until_decided(
    client: &Client,
    id: &str,
    first: Option<Value>,
    timeout: Duration,
) -> Result<Waited, String> {
    let deadline = Instant::now() + timeout;
    let path = format!("/v1/requests/{id}");
    let mut in_hand = first;
    let mut last_seen: Option<Value> = None;
    // The message of the last failed look while the issuer is out of reach.
    let mut out_of_reach: Option<String> = None;
    let mut pause = FIRST_POLL_INTERVAL;
    loop {
        let seen = match in_hand.take() {
            Some(view) => Some(view),
            None => match look(client, &path, deadline).await {
                Ok(view) => {
                    if out_of_reach.take().is_some() {
                        eprintln!("in contact with the issuer again");
                    }
                    Some(view)
                }
                Err(Failure::Transient(message)) => {
                    if out_of_reach.is_none() {
                        eprintln!(
                            "{}; still waiting, trying again every few seconds",
                            without_error_prefix(first_line(&message))
                        );
                    }
                    out_of_reach = Some(message);
                    None
                }
                Err(Failure::Final(message)) => return Err(message),
            },
        };
        if let Some(view) = seen {
            let lines = changes(last_seen.as_ref(), &view, unix_now());
            for line in &lines {
                eprintln!("{line}");
            }
            if let Some(outcome) = verdict(&view, id)? {
                return Ok(Waited {
                    request: view,
                    outcome,
                });
            }
            if !lines.is_empty() {
                pause = FIRST_POLL_INTERVAL;
            }
            last_seen = Some(view);
        }
        let now = Instant::now();
        if now >= deadline {
            return gave_up(id, timeout, last_seen, out_of_reach);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_POLL_INTERVAL);
    }
}

/// The end of a wait that ran out of time: still pending (exit 5) if the last look said so,
/// an error if the issuer was out of reach at the end (nobody knows where the request is).
fn gave_up(
    id: &str,
    timeout: Duration,
    last_seen: Option<Value>,
    out_of_reach: Option<String>,
) -> Result<Waited, String> {
    let waited = format_duration(i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX));
    match (last_seen, out_of_reach) {
        (Some(request), None) => {
            eprintln!(
                "{id} is still pending after {waited}; wait again with: jitgate status {id} --wait"
            );
            Ok(Waited {
                request,
                outcome: Outcome::StillPending,
            })
        }
        (_, Some(message)) => Err(format!(
            "{message}\nGave up waiting after {waited} without reaching the issuer; see where {id} stands with: jitgate status {id}"
        )),
        (None, None) => Err(format!(
            "error: gave up waiting after {waited} without a look at {id}; see where it stands with: jitgate status {id}"
        )),
    }
}

/// Why a look failed: worth another try, or the end of the wait.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The issuer was out of reach, slow, or failed on its side (5xx).
    Transient(String),
    /// The issuer refused (401, 403, 404, …): asking again will not change its mind.
    Final(String),
}

/// One `GET /v1/requests/{id}`, given until the deadline plus `POLL_GRACE` to answer.
async fn look(client: &Client, path: &str, deadline: Instant) -> Result<Value, Failure> {
    let limit = deadline.saturating_duration_since(Instant::now()) + POLL_GRACE;
    match tokio::time::timeout(limit, client.call(Method::GET, path, None)).await {
        Ok(Ok(view)) => Ok(view),
        Ok(Err(message)) if is_transient(&message) => Err(Failure::Transient(message)),
        Ok(Err(message)) => Err(Failure::Final(message)),
        Err(_) => Err(Failure::Transient(format!(
            "error: the issuer did not answer within {}",
            format_duration(i64::try_from(limit.as_secs()).unwrap_or(i64::MAX))
        ))),
    }
}

/// Whether a failed call is worth repeating. `Client::call` hands back a message ready to
/// print, not the HTTP status, so this goes by the beginnings of its messages: no connection
/// or no answer in time, a connection that broke mid-answer, and the issuer's own 5xx
/// (`internal_error`, whose public message is fixed). Anything else (401, 403, 404, and a
/// proxy's 5xx, whose text we cannot tell from a refusal) ends the wait. The unit tests pin
/// the first against `Client::call` itself.
fn is_transient(message: &str) -> bool {
    const TRANSIENT_BEGINNINGS: [&str; 3] = [
        "error: cannot reach the issuer at ",
        "error: reading the issuer's answer: ",
        "error: the issuer failed; ",
    ];
    TRANSIENT_BEGINNINGS
        .iter()
        .any(|beginning| message.starts_with(beginning))
}

/// What the exit status should say about a request in this state; `None` while pending.
fn verdict(request: &Value, id: &str) -> Result<Option<Outcome>, String> {
    match request["state"].as_str() {
        Some("pending") => Ok(None),
        // `approved` is the moment of the decision; the stored state is `active` at once.
        Some("active" | "approved") => Ok(Some(Outcome::Done)),
        Some("denied") => Ok(Some(Outcome::Denied)),
        Some("cancelled" | "expired" | "revoked") => Ok(Some(Outcome::Ended)),
        Some(state) => Err(format!(
            "error: the issuer says {id} is {state:?}, a state this jitgate does not know; see `jitgate status {id}` and update jitgate"
        )),
        None => Err(format!(
            "error: the issuer's answer about {id} has no state; see `jitgate status {id} --json`"
        )),
    }
}

/// The progress lines between two views of a request (`before` is `None` for the first).
fn changes(before: Option<&Value>, now: &Value, unix_now: i64) -> Vec<String> {
    let state = now["state"].as_str().unwrap_or("");
    let Some(before) = before else {
        // The first view: say what we wait for; a decided request speaks for itself in the
        // final output.
        return if state == "pending" {
            vec![waiting_for(now, unix_now)]
        } else {
            Vec::new()
        };
    };
    let reviews = now["reviews"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let already_reported = before["reviews"].as_array().map_or(0, Vec::len);
    let required = now["approvals_required"].as_u64().unwrap_or(0);
    let mut lines = Vec::new();
    for (index, review) in reviews.iter().enumerate().skip(already_reported) {
        let reviewer = review["reviewer"].as_str().unwrap_or("?");
        match review["decision"].as_str() {
            Some("approve") => {
                let approvals = reviews[..=index]
                    .iter()
                    .filter(|review| review["decision"] == "approve")
                    .count();
                lines.push(format!(
                    "approved by {reviewer} ({approvals} of {required})"
                ));
            }
            Some("deny") => lines.push(with_reason(
                &format!("denied by {reviewer}"),
                review["comment"].as_str().unwrap_or(""),
            )),
            _ => {}
        }
    }
    let ended_without_review = matches!(state, "cancelled" | "expired" | "revoked")
        && before["state"].as_str() != Some(state);
    if ended_without_review {
        lines.push(ending(now, state));
    }
    lines
}

/// `req_…: waiting for 1 more approval from group ml-leads (expires in 1d) …`
fn waiting_for(request: &Value, unix_now: i64) -> String {
    let missing = request["approvals_missing"].as_u64().unwrap_or(0);
    let plural = if missing == 1 { "" } else { "s" };
    let groups: Vec<&str> = request["assessment"]["reviewers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let from = match groups.as_slice() {
        [] => "a reviewer".to_owned(),
        [group] => format!("group {group}"),
        groups => format!("groups {}", groups.join(", ")),
    };
    let left = request["pending_until"].as_i64().unwrap_or(unix_now) - unix_now;
    format!(
        "{}: waiting for {missing} more approval{plural} from {from} (expires in {}) …",
        request["id"].as_str().unwrap_or("?"),
        format_remaining(left)
    )
}

/// `cancelled by alice: not needed`, from the history step into `state`.
fn ending(request: &Value, state: &str) -> String {
    let step = request["history"]
        .as_array()
        .and_then(|history| history.iter().rev().find(|step| step["to"] == state));
    match step {
        Some(step) => with_reason(
            &format!("{state} by {}", step["actor"].as_str().unwrap_or("?")),
            step["reason"].as_str().unwrap_or(""),
        ),
        None => state.to_owned(),
    }
}

/// `what: reason`, leaving out a reason that only repeats it (the issuer's defaults say
/// "cancelled by the requester", "revoked by bob").
fn with_reason(what: &str, reason: &str) -> String {
    let state = what.split(' ').next().unwrap_or(what);
    if reason.is_empty() || reason.starts_with(state) {
        what.to_owned()
    } else {
        format!("{what}: {reason}")
    }
}

/// A failure we are about to retry is news, not (yet) an error.
fn without_error_prefix(message: &str) -> &str {
    message.strip_prefix("error: ").unwrap_or(message)
}

/// The first line of a message (the client's messages add a hint on a second).
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::client::ClientOptions;
    use super::*;

    fn pending(reviews: Value) -> Value {
        json!({
            "id": "req_1", "state": "pending", "approvals_required": 2, "approvals_missing": 2,
            "assessment": {"reviewers": ["sre-leads"]}, "pending_until": 1_000 + 86_340,
            "reviews": reviews, "history": [],
        })
    }

    #[test]
    fn the_first_view_says_what_we_wait_for() {
        assert_eq!(
            changes(None, &pending(json!([])), 1_000),
            ["req_1: waiting for 2 more approvals from group sre-leads (expires in 23h59m) …"]
        );
    }

    #[test]
    fn each_review_is_reported_once() {
        let first = pending(json!([]));
        let one = pending(json!([{"reviewer": "frank", "decision": "approve", "comment": ""}]));
        assert_eq!(
            changes(Some(&first), &one, 1_000),
            ["approved by frank (1 of 2)"]
        );
        assert!(changes(Some(&one), &one, 1_005).is_empty());
        let mut denied = pending(json!([
            {"reviewer": "frank", "decision": "approve", "comment": ""},
            {"reviewer": "carol", "decision": "deny", "comment": "not on a Friday"},
        ]));
        denied["state"] = json!("denied");
        assert_eq!(
            changes(Some(&one), &denied, 1_010),
            ["denied by carol: not on a Friday"]
        );
        assert_eq!(verdict(&denied, "req_1"), Ok(Some(Outcome::Denied)));
    }

    #[test]
    fn an_end_without_a_review_names_who_and_why() {
        let mut cancelled = pending(json!([]));
        cancelled["state"] = json!("cancelled");
        cancelled["history"] = json!([{"from": "pending", "to": "cancelled", "actor": "alice",
            "reason": "cancelled by the requester"}]);
        assert_eq!(
            changes(Some(&pending(json!([]))), &cancelled, 1_000),
            ["cancelled by alice"]
        );
        assert_eq!(verdict(&cancelled, "req_1"), Ok(Some(Outcome::Ended)));
    }

    #[test]
    fn unknown_states_are_an_error_not_a_guess() {
        let odd = json!({"state": "paused"});
        assert!(verdict(&odd, "req_1").is_err());
        assert_eq!(
            verdict(&json!({"state": "active"}), "req_1"),
            Ok(Some(Outcome::Done))
        );
    }

    #[test]
    fn timeouts_take_the_duration_spellings_of_for() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_timeout("90"), Ok(Duration::from_secs(90)));
        assert!(parse_timeout("soon").is_err());
    }

    /// The wording `is_transient` goes by, checked against the client itself.
    #[tokio::test]
    async fn an_issuer_out_of_reach_is_transient_and_a_refusal_is_not() {
        // An empty config file of our own: the one in $HOME is none of this test's business.
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), "{}").unwrap();
        let options = ClientOptions {
            // Port 1 on loopback: nothing listens there, the connection is refused at once.
            server: Some("http://127.0.0.1:1".to_owned()),
            token: Some("jgt_test".to_owned()),
            config: Some(config.path().to_owned()),
        };
        let client = Client::from_options(&options).await.unwrap();
        let message = client
            .call(Method::GET, "/v1/requests/req_1", None)
            .await
            .unwrap_err();
        assert!(is_transient(&message), "{message}");
        assert!(is_transient(
            "error: the issuer failed; the error is in its log"
        ));
        assert!(!is_transient(
            "error: request req_1 not found\nCheck the id"
        ));
    }
}
