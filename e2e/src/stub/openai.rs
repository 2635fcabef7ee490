//! OpenAI-shaped answers of the stub model server: deterministic bodies (fixed ids, times and
//! usage) that echo the requested `model`, so tests can compare whole bodies exactly.
//!
//! Shapes follow the real API where it differs between endpoints: chat and text completions
//! report `usage.{prompt,completion,total}_tokens`; embeddings only `prompt_tokens` and
//! `total_tokens`; the Responses API `usage.{input,output,total}_tokens`. Streams are SSE:
//! chat and text completions end with a chunk carrying `usage` and then `data: [DONE]`; the
//! Responses API ends with a `response.completed` event carrying `usage` (and no `[DONE]`).

use serde_json::{json, Value};

/// Token usage the stub reports for every completion-like call.
pub const STUB_USAGE: Usage = Usage {
    input_tokens: 11,
    output_tokens: 7,
};

/// Fixed creation time of every stub object.
pub const CREATED: u64 = 1_700_000_000;

/// The reply text, and how it is split into streamed deltas.
const REPLY_PARTS: [&str; 3] = ["Hello", " from the", " jitgate stub."];

/// Input and output token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub input_tokens: u64,
    /// Completion (output) tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Input plus output.
    pub const fn total_tokens(self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    fn completions(self) -> Value {
        json!({
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens(),
        })
    }

    fn embeddings(self) -> Value {
        json!({ "prompt_tokens": self.input_tokens, "total_tokens": self.input_tokens })
    }

    fn responses(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens(),
        })
    }
}

/// The OpenAI-compatible endpoints that take a JSON body with a `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRoute {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/completions`
    Completions,
    /// `POST /v1/embeddings`
    Embeddings,
    /// `POST /v1/responses`
    Responses,
    /// `POST /v1/fine_tuning/jobs`
    FineTuningJobs,
}

impl ModelRoute {
    /// The route for a path, if it is one.
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/v1/chat/completions" => Self::ChatCompletions,
            "/v1/completions" => Self::Completions,
            "/v1/embeddings" => Self::Embeddings,
            "/v1/responses" => Self::Responses,
            "/v1/fine_tuning/jobs" => Self::FineTuningJobs,
            _ => return None,
        })
    }

    /// Whether `"stream": true` makes this route answer with SSE.
    pub fn streams(self) -> bool {
        matches!(
            self,
            Self::ChatCompletions | Self::Completions | Self::Responses
        )
    }

    /// The whole JSON answer for `model`.
    pub fn answer(self, model: &str) -> Value {
        match self {
            Self::ChatCompletions => chat_completion(model),
            Self::Completions => completion(model),
            Self::Embeddings => embedding(model),
            Self::Responses => response(model),
            Self::FineTuningJobs => fine_tuning_job(model),
        }
    }

    /// The streamed answer for `model`: each item is one complete SSE event, `\n\n` included.
    /// Concatenated, they are the exact response body. Empty for routes that do not stream.
    pub fn stream_events(self, model: &str) -> Vec<String> {
        match self {
            Self::ChatCompletions => chat_completion_events(model),
            Self::Completions => completion_events(model),
            Self::Responses => response_events(model),
            Self::Embeddings | Self::FineTuningJobs => Vec::new(),
        }
    }
}

/// The full reply text.
pub fn reply_text() -> String {
    REPLY_PARTS.concat()
}

/// `POST /v1/chat/completions`.
pub fn chat_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-jitgate-stub",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": reply_text() },
            "finish_reason": "stop",
        }],
        "usage": STUB_USAGE.completions(),
    })
}

/// `POST /v1/completions`.
pub fn completion(model: &str) -> Value {
    json!({
        "id": "cmpl-jitgate-stub",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": [{ "index": 0, "text": reply_text(), "finish_reason": "stop" }],
        "usage": STUB_USAGE.completions(),
    })
}

/// `POST /v1/embeddings`.
pub fn embedding(model: &str) -> Value {
    json!({
        "object": "list",
        "data": [{ "object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125] }],
        "model": model,
        "usage": STUB_USAGE.embeddings(),
    })
}

/// `POST /v1/responses`.
pub fn response(model: &str) -> Value {
    json!({
        "id": "resp_jitgate_stub",
        "object": "response",
        "created_at": CREATED,
        "status": "completed",
        "model": model,
        "output": [{
            "type": "message",
            "id": "msg_jitgate_stub",
            "status": "completed",
            "role": "assistant",
            "content": [{ "type": "output_text", "text": reply_text(), "annotations": [] }],
        }],
        "usage": STUB_USAGE.responses(),
    })
}

/// `POST /v1/fine_tuning/jobs`.
pub fn fine_tuning_job(model: &str) -> Value {
    json!({
        "id": "ftjob-jitgate-stub",
        "object": "fine_tuning.job",
        "created_at": CREATED,
        "model": model,
        "fine_tuned_model": null,
        "status": "validating_files",
    })
}

/// `GET /v1/models`.
pub fn models() -> Value {
    json!({
        "object": "list",
        "data": [{ "id": "stub-model", "object": "model", "created": CREATED, "owned_by": "jitgate-stub" }],
    })
}

/// An OpenAI-style error body.
pub fn error(message: &str) -> Value {
    json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": null } })
}

fn data_event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

fn chat_completion_events(model: &str) -> Vec<String> {
    let chunk = |choices: Value| {
        json!({
            "id": "chatcmpl-jitgate-stub",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": choices,
        })
    };
    let mut events: Vec<String> = REPLY_PARTS
        .iter()
        .enumerate()
        .map(|(index, part)| {
            let delta = if index == 0 {
                json!({ "role": "assistant", "content": part })
            } else {
                json!({ "content": part })
            };
            data_event(&chunk(
                json!([{ "index": 0, "delta": delta, "finish_reason": null }]),
            ))
        })
        .collect();
    events.push(data_event(&chunk(
        json!([{ "index": 0, "delta": {}, "finish_reason": "stop" }]),
    )));
    let mut usage_chunk = chunk(json!([]));
    usage_chunk["usage"] = STUB_USAGE.completions();
    events.push(data_event(&usage_chunk));
    events.push("data: [DONE]\n\n".to_owned());
    events
}

fn completion_events(model: &str) -> Vec<String> {
    let chunk = |choices: Value| {
        json!({
            "id": "cmpl-jitgate-stub",
            "object": "text_completion",
            "created": CREATED,
            "model": model,
            "choices": choices,
        })
    };
    let mut events: Vec<String> = REPLY_PARTS
        .iter()
        .map(|part| {
            data_event(&chunk(
                json!([{ "index": 0, "text": part, "finish_reason": null }]),
            ))
        })
        .collect();
    let mut usage_chunk = chunk(json!([{ "index": 0, "text": "", "finish_reason": "stop" }]));
    usage_chunk["usage"] = STUB_USAGE.completions();
    events.push(data_event(&usage_chunk));
    events.push("data: [DONE]\n\n".to_owned());
    events
}

fn response_events(model: &str) -> Vec<String> {
    let event = |kind: &str, data: Value| format!("event: {kind}\ndata: {data}\n\n");
    let mut in_progress = response(model);
    in_progress["status"] = json!("in_progress");
    in_progress["output"] = json!([]);
    in_progress["usage"] = Value::Null;
    let mut events = vec![event(
        "response.created",
        json!({ "type": "response.created", "response": in_progress }),
    )];
    events.extend(REPLY_PARTS.iter().map(|part| {
        event(
            "response.output_text.delta",
            json!({
                "type": "response.output_text.delta",
                "item_id": "msg_jitgate_stub",
                "output_index": 0,
                "content_index": 0,
                "delta": part,
            }),
        )
    }));
    events.push(event(
        "response.completed",
        json!({ "type": "response.completed", "response": response(model) }),
    ));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_stream_ends_with_usage_then_done() {
        let events = ModelRoute::ChatCompletions.stream_events("m");
        let last_chunk: Value = serde_json::from_str(
            events[events.len() - 2]
                .strip_prefix("data: ")
                .unwrap_or_default()
                .trim_end(),
        )
        .unwrap_or_default();
        assert_eq!(last_chunk["usage"]["total_tokens"], json!(18));
        assert_eq!(last_chunk["model"], json!("m"));
        assert_eq!(events.last().map(String::as_str), Some("data: [DONE]\n\n"));
    }

    #[test]
    fn embeddings_usage_has_no_completion_tokens() {
        assert_eq!(
            embedding("e")["usage"],
            json!({ "prompt_tokens": 11, "total_tokens": 11 })
        );
    }
}
