//! `jitgate notifications` (admins): the outbox's counts and its dead letters, and
//! `jitgate notifications retry ID` to give a dead letter a fresh set of attempts.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::client::{Client, ClientOptions};
use super::OutputOptions;

/// `jitgate notifications`.
#[derive(Debug, Args)]
pub struct NotificationsArgs {
    #[command(subcommand)]
    command: Option<NotificationsCommand>,
    /// At most this many dead letters (1 to 500).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    #[command(flatten)]
    client: ClientOptions,
    #[command(flatten)]
    output: OutputOptions,
}

#[derive(Debug, Subcommand)]
enum NotificationsCommand {
    /// Send a dead letter again (a fresh set of attempts, due now).
    Retry {
        /// Its number, as `jitgate notifications` lists it.
        id: i64,
    },
}

/// Runs `jitgate notifications`.
pub async fn run(args: NotificationsArgs) -> Result<(), String> {
    let client = Client::from_options(&args.client).await?;
    if let Some(NotificationsCommand::Retry { id }) = args.command {
        let path = format!("/v1/admin/notifications/{id}/retry");
        client.call(Method::POST, &path, None).await?;
        println!("Dead letter {id} is queued again.");
        return Ok(());
    }
    let path = format!("/v1/admin/notifications?limit={}", args.limit);
    let answer = client.call(Method::GET, &path, None).await?;
    if args.output.json {
        let text = serde_json::to_string_pretty(&answer).map_err(|error| error.to_string())?;
        println!("{text}");
        return Ok(());
    }
    print!("{}", render(&answer));
    Ok(())
}

/// The listing as text.
fn render(answer: &Value) -> String {
    let count = |key: &str| answer["counts"][key].as_i64().unwrap_or(0);
    let mut text = String::new();
    if answer["enabled"].as_bool() != Some(true) {
        text.push_str("Notifications are off on this issuer (no --notifications file).\n");
    }
    text.push_str(&format!(
        "{} pending, {} delivered, {} dead\n",
        count("pending"),
        count("delivered"),
        count("dead")
    ));
    let dead = answer["dead_letters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if dead.is_empty() {
        return text;
    }
    text.push_str("\nDead letters (retry with `jitgate notifications retry ID`):\n");
    for letter in dead {
        let field = |key: &str| {
            letter[key]
                .as_str()
                .map(|text| text.chars().filter(|c| !c.is_control()).collect::<String>())
                .unwrap_or_default()
        };
        text.push_str(&format!(
            "  {:>6}  {}  {} → {}  {} attempts: {}\n",
            letter["id"].as_i64().unwrap_or(0),
            field("event"),
            field("request_id"),
            field("channel"),
            letter["attempts"].as_i64().unwrap_or(0),
            field("last_error"),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_counts_and_dead_letters_without_control_characters() {
        let answer = serde_json::json!({
            "enabled": true,
            "counts": {"pending": 1, "delivered": 5, "dead": 1},
            "dead_letters": [{"id": 7, "event": "request.approved", "request_id": "req_1",
                "channel": "requests", "attempts": 3, "last_error": "the receiver answered 503\u{1b}[2J"}]
        });
        let text = render(&answer);
        assert!(
            text.starts_with("1 pending, 5 delivered, 1 dead\n"),
            "{text}"
        );
        assert!(text.contains("     7  request.approved  req_1 → requests  3 attempts: the receiver answered 503[2J"), "{text}");
    }
}
