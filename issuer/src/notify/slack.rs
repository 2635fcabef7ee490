//! The Slack incoming-webhook body for a message: `text` (what notifications and screen
//! readers show) and Block Kit `blocks` — the summary, the requester's reason, and a link to
//! the request on the issuer's web page.

use serde_json::{json, Value};

/// Slack's body for a stored message body (see [`super::event`]).
pub fn body(payload: &Value) -> Value {
    let data = &payload["data"];
    let text = |key: &str| data[key].as_str().unwrap_or_default();
    let summary = escape(text("summary"));
    let mut lines = vec![format!("*{summary}*")];
    if !text("reason").is_empty() {
        lines.push(format!("Reason: {}", escape(text("reason"))));
    }
    if !text("comment").is_empty() && text("comment") != text("reason") {
        lines.push(format!("Comment: {}", escape(text("comment"))));
    }
    if data["break_glass"].as_bool() == Some(true) {
        lines.push(":rotating_light: break-glass".into());
    }
    let url = text("url");
    json!({
        "text": summary,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("<{url}|Open {} in jitgate> · `{}`", escape(text("request_id")), escape(payload["type"].as_str().unwrap_or_default()))}
            ]}
        ]
    })
}

/// Slack's escaping for text it formats: `&`, `<` and `>` only.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_slack_would_read_as_markup_and_links_the_request() {
        let payload = json!({
            "type": "request.review_pending",
            "data": {
                "summary": "alice asks for inference:gpt-4o <!channel>",
                "reason": "a & b",
                "comment": "",
                "request_id": "req_1",
                "break_glass": true,
                "url": "https://issuer.test/review#request-req_1"
            }
        });
        let body = body(&payload);
        assert_eq!(
            body["text"],
            "alice asks for inference:gpt-4o &lt;!channel&gt;"
        );
        let section = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.contains("Reason: a &amp; b"), "{section}");
        assert!(section.contains("break-glass"), "{section}");
        let link = body["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(link.starts_with("<https://issuer.test/review#request-req_1|Open req_1"));
    }
}
