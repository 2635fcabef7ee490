//! `jitgate audit tail`: follows the collector's decisions live (`GET /v1/tail`, server-sent
//! events) and prints one line per record as it is stored — a gateway decision, an issuer
//! event or a guard firing — until Ctrl-C. Exit 1 when the collector ends the stream (it
//! drops a client that falls too far behind, and says so), 2 when it cannot start.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use jitgate_collector::filter::format_time;
use jitgate_collector::guard::record::GuardRecord;
use jitgate_grant::audit::AuditRecord;
use serde_json::Value;

/// Flags of `jitgate audit tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The collector's base URL.
    #[arg(
        long,
        env = "JITGATE_COLLECTOR_URL",
        default_value = "http://127.0.0.1:4318"
    )]
    collector: String,
    /// A reviewer credential of the collector.
    #[arg(long, env = "JITGATE_AUDIT_CREDENTIAL", hide_env_values = true)]
    credential: String,
    /// Only this grant.
    #[arg(long)]
    grant: Option<String>,
    /// Only this subject (`enduser.id`).
    #[arg(long)]
    subject: Option<String>,
    /// Only allowed requests, only denied ones, or only guard firings.
    #[arg(long, value_enum)]
    decision: Option<Decision>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Decision {
    Allow,
    Deny,
    Guard,
}

/// Runs the tail.
pub async fn run(args: TailArgs) -> ExitCode {
    let interrupted = tokio::signal::ctrl_c();
    tokio::select! {
        code = follow(args) => code,
        _ = interrupted => ExitCode::SUCCESS,
    }
}

async fn follow(args: TailArgs) -> ExitCode {
    let url = format!("{}/v1/tail", args.collector.trim_end_matches('/'));
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(grant) = &args.grant {
        query.push(("grant", grant.clone()));
    }
    if let Some(subject) = &args.subject {
        query.push(("subject", subject.clone()));
    }
    if let Some(decision) = args.decision {
        let decision = match decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Guard => "guard",
        };
        query.push(("decision", decision.to_owned()));
    }
    let sent = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&args.credential)
        .header("accept", "text/event-stream")
        .query(&query)
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => {
            eprintln!("jitgate audit tail: cannot reach the collector at {url}: {error}");
            return ExitCode::from(2);
        }
    };
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(body);
        eprintln!("jitgate audit tail: the collector refused ({status}): {message}");
        return ExitCode::from(2);
    }
    eprintln!("following {url} (Ctrl-C to stop)");
    let mut events = EventReader::default();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                eprintln!("jitgate audit tail: the collector ended the stream");
                return ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("jitgate audit tail: the stream broke: {error}");
                return ExitCode::FAILURE;
            }
        };
        for event in events.push(&chunk) {
            match event.name.as_str() {
                "record" => println!("{}", describe(&event.data)),
                "dropped" => {
                    let message = serde_json::from_str::<Value>(&event.data)
                        .ok()
                        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or(event.data);
                    eprintln!("jitgate audit tail: the collector dropped this client: {message}");
                    return ExitCode::FAILURE;
                }
                _ => {}
            }
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SseEvent {
    name: String,
    data: String,
}

/// Splits a byte stream into server-sent events (`event:`/`data:` lines, a blank line ends
/// one; `:` lines are keep-alive comments).
#[derive(Debug, Default)]
struct EventReader {
    buffer: Vec<u8>,
    name: String,
    data: Vec<String>,
}

impl EventReader {
    fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || !self.name.is_empty() {
                    events.push(SseEvent {
                        name: std::mem::take(&mut self.name),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.name = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

/// One line for a record's canonical JSON.
fn describe(data: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return format!("(unreadable record) {data}");
    };
    if let Ok(firing) = GuardRecord::from_otlp_log_record(&value) {
        return format!(
            "{} guard {} rule {} ({}) grant={} subject={}: {}",
            format_time(firing.time_unix_nano),
            firing.kind,
            firing.rule,
            firing.action,
            firing.grant_id,
            firing.subject.as_deref().unwrap_or("-"),
            firing.detail
        );
    }
    let Ok(record) = AuditRecord::from_otlp_log_record(&value) else {
        return format!("(unreadable record) {data}");
    };
    let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let mut line = format!(
        "{} {} {} {} {} status={} grant={} subject={} model={} client={}",
        format_time(record.time_unix_nano),
        record.decision.as_str(),
        record.reason,
        record.method,
        record.path,
        record.status,
        or_dash(&record.grant_id),
        or_dash(&record.subject),
        or_dash(&record.model),
        or_dash(&record.client_address),
    );
    if record.input_tokens.is_some() || record.output_tokens.is_some() {
        line.push_str(&format!(
            " tokens={}+{}",
            record.input_tokens.unwrap_or(0),
            record.output_tokens.unwrap_or(0)
        ));
    }
    if record.break_glass {
        line.push_str(" break_glass");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_split_anywhere() {
        let mut reader = EventReader::default();
        let stream = b": keep-alive\n\nevent: record\nid: 4\ndata: {\"a\":1}\n\nevent: dropped\r\ndata: x\r\n\r\n";
        let mut events = Vec::new();
        for piece in stream.chunks(7) {
            events.extend(reader.push(piece));
        }
        assert_eq!(
            events,
            vec![
                SseEvent {
                    name: "record".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    name: "dropped".into(),
                    data: "x".into()
                },
            ]
        );
    }

    #[test]
    fn one_line_per_decision() {
        let mut record = jitgate_collector::bench::sample_record("vm-1", 3);
        record.decision = jitgate_grant::audit::AuditDecision::Deny;
        record.reason = "insufficient_scope".into();
        record.status = 403;
        record.input_tokens = None;
        record.output_tokens = None;
        let data = record.to_otlp_log_record().to_string();
        assert_eq!(
            describe(&data),
            "2026-01-01T00:00:00.003000000Z deny insufficient_scope POST /v1/chat/completions status=403 grant=g-3 subject=user3@example.com model=meta-llama/Llama-3.1-8B-Instruct client=10.0.0.7"
        );
    }
}
