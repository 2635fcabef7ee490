//! The "ask for access" form: its fields, turned into the same JSON body `POST /v1/requests`
//! takes (so the web page and the API share one validation), and rendered back with what was
//! typed when the policy or the validation says no.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::html::escape;
use crate::error::{Error, Result};

/// The form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestForm {
    /// The CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// `check` (ask the policy, store nothing) or `submit`.
    #[serde(default)]
    pub action: String,
    /// Scopes, one per line (commas and spaces also separate).
    #[serde(default)]
    pub scopes: String,
    /// `1h`, `90m`, …
    #[serde(default)]
    pub duration: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// `normal`, `high` or `emergency`.
    #[serde(default)]
    pub urgency: String,
    /// A ticket reference.
    #[serde(default)]
    pub ticket: String,
    /// A project.
    #[serde(default)]
    pub project: String,
    /// A request budget (empty: none asked).
    #[serde(default)]
    pub max_requests: String,
    /// A model-token budget (empty: none asked).
    #[serde(default)]
    pub max_tokens: String,
}

impl RequestForm {
    /// The API body for these fields; a limit that is not a whole number is refused here,
    /// naming its field as the API would.
    pub fn body(&self) -> Result<Vec<u8>> {
        let scopes: Vec<&str> = self
            .scopes
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|scope| !scope.is_empty())
            .collect();
        let mut body = Map::new();
        body.insert("scopes".into(), json!(scopes));
        body.insert("duration".into(), json!(self.duration.trim()));
        body.insert("reason".into(), json!(self.reason.trim()));
        if !self.urgency.is_empty() {
            body.insert("urgency".into(), json!(self.urgency));
        }
        for (key, value) in [("ticket", &self.ticket), ("project", &self.project)] {
            if !value.trim().is_empty() {
                body.insert(key.into(), json!(value.trim()));
            }
        }
        let mut limits = Map::new();
        for (key, value) in [
            ("requests", &self.max_requests),
            ("tokens", &self.max_tokens),
        ] {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let number: u64 = value.parse().map_err(|_| {
                Error::BadRequest(format!("limits.{key}: {value:?} is not a whole number"))
            })?;
            limits.insert(key.into(), json!(number));
        }
        if !limits.is_empty() {
            body.insert("limits".into(), Value::Object(limits));
        }
        serde_json::to_vec(&Value::Object(body))
            .map_err(|error| Error::Internal(format!("json: {error}")))
    }

    /// The form's HTML, filled with these values.
    pub fn render(&self, csrf: &str) -> String {
        let urgency = |value: &str, label: &str| {
            let selected =
                if self.urgency == value || (self.urgency.is_empty() && value == "normal") {
                    " selected"
                } else {
                    ""
                };
            format!("<option value=\"{value}\"{selected}>{label}</option>")
        };
        let duration = if self.duration.is_empty() {
            "1h"
        } else {
            self.duration.as_str()
        };
        format!(
            "<form method=\"post\" action=\"/requests\" class=\"ask\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"scopes\">Scopes (one per line, e.g. <code>inference:gpt-4o</code>)</label>\
             <textarea id=\"scopes\" name=\"scopes\" rows=\"2\" required>{scopes}</textarea>\
             <label for=\"duration\">For how long</label>\
             <input id=\"duration\" name=\"duration\" value=\"{duration}\" size=\"8\" required>\
             <label for=\"reason\">Why</label>\
             <textarea id=\"reason\" name=\"reason\" rows=\"2\" required>{reason}</textarea>\
             <label for=\"urgency\">Urgency</label>\
             <select id=\"urgency\" name=\"urgency\">{normal}{high}{emergency}</select>\
             <label for=\"ticket\">Ticket</label><input id=\"ticket\" name=\"ticket\" value=\"{ticket}\">\
             <label for=\"project\">Project</label><input id=\"project\" name=\"project\" value=\"{project}\">\
             <label for=\"max_requests\">Most requests (optional)</label>\
             <input id=\"max_requests\" name=\"max_requests\" inputmode=\"numeric\" value=\"{max_requests}\">\
             <label for=\"max_tokens\">Most model tokens (optional)</label>\
             <input id=\"max_tokens\" name=\"max_tokens\" inputmode=\"numeric\" value=\"{max_tokens}\">\
             <div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"check\" id=\"check\">Check with the policy</button>\
             <button class=\"approve\" type=\"submit\" name=\"action\" value=\"submit\" id=\"submit\">Ask for access</button></div></form>",
            csrf = escape(csrf),
            scopes = escape(&self.scopes),
            duration = escape(duration),
            reason = escape(&self.reason),
            normal = urgency("normal", "normal"),
            high = urgency("high", "high"),
            emergency = urgency("emergency", "emergency (break-glass)"),
            ticket = escape(&self.ticket),
            project = escape(&self.project),
            max_requests = escape(&self.max_requests),
            max_tokens = escape(&self.max_tokens),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_the_api_body_and_bad_limits_name_their_field() {
        let form = RequestForm {
            scopes: "inference:gpt-4o\r\ntraining:llama, dataset:x:read".into(),
            duration: " 2h ".into(),
            reason: "eval".into(),
            urgency: "high".into(),
            ticket: "ML-1".into(),
            max_requests: "20".into(),
            ..RequestForm::default()
        };
        let body: Value = serde_json::from_slice(&form.body().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"scopes": ["inference:gpt-4o", "training:llama", "dataset:x:read"],
                   "duration": "2h", "reason": "eval", "urgency": "high", "ticket": "ML-1",
                   "limits": {"requests": 20}})
        );
        let bad = RequestForm {
            max_tokens: "lots".into(),
            ..form
        };
        assert_eq!(
            bad.body().unwrap_err().to_string(),
            "limits.tokens: \"lots\" is not a whole number"
        );
    }

    #[test]
    fn renders_what_was_typed_escaped() {
        let form = RequestForm {
            reason: "</textarea><script>alert(1)</script>".into(),
            urgency: "emergency".into(),
            ..RequestForm::default()
        };
        let html = form.render("tok");
        assert!(html.contains("&lt;/textarea&gt;&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("<option value=\"emergency\" selected>"));
        assert!(html.contains("value=\"1h\""));
    }
}
