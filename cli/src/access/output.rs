//! Text output for people: short, with the next step spelled out, and a grant's use against
//! its budget wherever the grant is shown ("requests 12/20, tokens 3400/10000").

use std::fmt::Write;

use jitgate_issuer::requests::duration::format_duration;
use jitgate_issuer::service::next_step::rfc3339;
use serde_json::Value;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn scopes(value: &Value) -> String {
    value["scopes"]
        .as_array()
        .map(|scopes| {
            scopes
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The measures a grant can be limited on, as the API names them.
const MEASURES: [&str; 2] = ["requests", "tokens"];

/// `100 requests, 100000 tokens`; `None` when the grant has no limits.
fn budget(request: &Value) -> Option<String> {
    let parts: Vec<String> = MEASURES
        .iter()
        .filter_map(|measure| {
            let limit = request["limits"][*measure].as_u64()?;
            Some(format!("{limit} {measure}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `requests 12/20, tokens 3400/10000`: the guard's last count against each limit (`?` when
/// no count has been reported yet); `None` when there is neither a limit nor a count.
fn used(request: &Value) -> Option<String> {
    let usage = &request["usage"];
    let parts: Vec<String> = MEASURES
        .iter()
        .filter_map(|measure| {
            let count = usage[*measure].as_u64();
            let limit = request["limits"][*measure].as_u64();
            match (count, limit) {
                (Some(count), Some(limit)) => Some(format!("{measure} {count}/{limit}")),
                (Some(count), None) => Some(format!("{measure} {count}")),
                (None, Some(limit)) => Some(format!("{measure} ?/{limit}")),
                (None, None) => None,
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// An RFC 3339 time to the second (the guard writes nanoseconds).
fn to_the_second(time: &str) -> String {
    match time.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => time.to_owned(),
    }
}

/// After `jitgate request`.
pub fn created(request: &Value) -> String {
    let id = text(request, "id");
    let mut out = String::new();
    match text(request, "state") {
        "active" => {
            let _ = writeln!(
                out,
                "Granted: {id} ({}) was approved by policy.",
                scopes(request)
            );
            let _ = writeln!(out, "{}", text(request, "next_step"));
        }
        state => {
            let _ = writeln!(out, "Requested: {id} ({}) is {state}.", scopes(request));
            let _ = writeln!(out, "{}", text(request, "next_step"));
            let _ = writeln!(out, "Check on it with: jitgate status {id}");
        }
    }
    if let Some(budget) = budget(request) {
        let _ = writeln!(out, "Budget: {budget} (tokens of this grant carry it).");
    }
    out
}

/// After `jitgate approve` / `deny`.
pub fn reviewed(request: &Value, verb: &str) -> String {
    let id = text(request, "id");
    let state = text(request, "state");
    let done = if verb == "approve" {
        "Approved"
    } else {
        "Denied"
    };
    match state {
        "pending" => format!(
            "{done} {id}. Still pending: {}\n",
            text(request, "next_step")
        ),
        _ => format!("{done} {id}. It is now {state}.\n"),
    }
}

/// `jitgate status <id>`.
pub fn detail(request: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", text(request, "id"), text(request, "state"));
    let _ = writeln!(out, "  requester:  {}", text(request, "requester"));
    let _ = writeln!(out, "  scopes:     {}", scopes(request));
    let _ = writeln!(
        out,
        "  duration:   {}{}",
        format_duration(request["duration_seconds"].as_i64().unwrap_or(0)),
        if request["break_glass"].as_bool() == Some(true) {
            "  (BREAK-GLASS)"
        } else {
            ""
        }
    );
    if let Some(budget) = budget(request) {
        let _ = writeln!(out, "  budget:     {budget}");
    }
    if let Some(used) = used(request).filter(|_| request["usage"].is_object()) {
        let _ = writeln!(
            out,
            "  used:       {used}, {} refused (as of {})",
            request["usage"]["denied"].as_u64().unwrap_or(0),
            to_the_second(text(&request["usage"], "as_of"))
        );
    }
    let _ = writeln!(out, "  reason:     {}", text(request, "reason"));
    if let Some(ticket) = request["ticket"].as_str() {
        let _ = writeln!(out, "  ticket:     {ticket}");
    }
    if let Some(end) = request["window_end"].as_i64() {
        let _ = writeln!(out, "  window end: {}", rfc3339(end));
    }
    let _ = writeln!(out, "  next:       {}", text(request, "next_step"));
    let _ = writeln!(out, "  history:");
    for step in request["history"].as_array().into_iter().flatten() {
        let at = rfc3339(step["at"].as_i64().unwrap_or(0));
        let (from, arrow, to) = if text(step, "event") == "alert" {
            ("alert", "  ", "")
        } else {
            (step["from"].as_str().unwrap_or("-"), "->", text(step, "to"))
        };
        let _ = writeln!(
            out,
            "    {at}  {from:>9} {arrow} {to:<9} by {}: {}",
            text(step, "actor"),
            text(step, "reason")
        );
    }
    out
}

/// `jitgate grants`: each grant with its use against its budget.
pub fn grants(grants: &[Value], empty: &str) -> String {
    if grants.is_empty() {
        return empty.to_owned();
    }
    let usage: Vec<String> = grants
        .iter()
        .map(|grant| used(grant).unwrap_or_else(|| "-".to_owned()))
        .collect();
    let width = usage.iter().map(String::len).max().unwrap_or(0).max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28}  {:<10}  {:<width$}  SCOPES",
        "ID", "REQUESTER", "USAGE"
    );
    for (grant, usage) in grants.iter().zip(usage) {
        let _ = writeln!(
            out,
            "{:<28}  {:<10}  {usage:<width$}  {}",
            text(grant, "id"),
            text(grant, "requester"),
            scopes(grant)
        );
    }
    out
}

/// `jitgate alerts`.
pub fn alerts(alerts: &[Value]) -> String {
    if alerts.is_empty() {
        return "No alerts.\n".to_owned();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20}  {:<28}  {:<10}  {:<12}  DETAIL",
        "FIRED", "GRANT", "RULE", "ACTION"
    );
    for alert in alerts {
        let _ = writeln!(
            out,
            "{:<20}  {:<28}  {:<10}  {:<12}  {}",
            to_the_second(text(alert, "fired_at")),
            text(alert, "grant_id"),
            text(alert, "rule"),
            text(alert, "action"),
            text(alert, "detail")
        );
    }
    out
}

/// A list of requests.
pub fn table(requests: &[Value], empty: &str) -> String {
    if requests.is_empty() {
        return empty.to_owned();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28}  {:<9}  {:<10}  SCOPES",
        "ID", "STATE", "REQUESTER"
    );
    for request in requests {
        let _ = writeln!(
            out,
            "{:<28}  {:<9}  {:<10}  {}",
            text(request, "id"),
            text(request, "state"),
            text(request, "requester"),
            scopes(request)
        );
    }
    out
}
