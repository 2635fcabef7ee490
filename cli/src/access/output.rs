//! Text output for people: short, with the next step spelled out.

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
        let _ = writeln!(
            out,
            "    {}  {:>9} -> {:<9} by {}: {}",
            rfc3339(step["at"].as_i64().unwrap_or(0)),
            step["from"].as_str().unwrap_or("-"),
            text(step, "to"),
            text(step, "actor"),
            text(step, "reason")
        );
    }
    out
}

/// A list of requests or grants.
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
