//! Reading model usage (`gen_ai.usage.input_tokens` / `output_tokens`) from OpenAI-style
//! responses as they stream past: the `usage` object of a JSON response, or the final usage
//! chunk of a server-sent-event stream (chat completions with `stream_options.include_usage`,
//! and the Responses API's `response.completed` event). Bytes are copied aside, never
//! changed, and memory is bounded: a JSON body over the limit is not parsed, and of an event
//! stream only the tail is kept, where the usage chunk is.

use serde_json::Value;

/// Tokens a model reported using.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt or input tokens.
    pub input_tokens: Option<u64>,
    /// Completion or output tokens.
    pub output_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    EventStream,
    Other,
}

/// Collects a response body (or its tail) to read usage from at the end.
#[derive(Debug)]
pub struct UsageReader {
    kind: BodyKind,
    bytes: Vec<u8>,
    max_bytes: usize,
    overflowed: bool,
}

impl UsageReader {
    /// A reader for a response with this `content-type`, keeping at most `max_bytes`.
    pub fn for_content_type(content_type: Option<&str>, max_bytes: usize) -> UsageReader {
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let kind = if essence == "text/event-stream" {
            BodyKind::EventStream
        } else if essence == "application/json" || essence.ends_with("+json") {
            BodyKind::Json
        } else {
            BodyKind::Other
        };
        UsageReader {
            kind,
            bytes: Vec::new(),
            max_bytes,
            overflowed: false,
        }
    }

    /// Whether this response can carry usage at all (so the host knows whether to copy).
    pub fn wants_body(&self) -> bool {
        self.kind != BodyKind::Other && !(self.kind == BodyKind::Json && self.overflowed)
    }

    /// Takes in the next piece of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        match self.kind {
            BodyKind::Other => {}
            BodyKind::Json => {
                if self.overflowed || self.bytes.len() + chunk.len() > self.max_bytes {
                    self.overflowed = true;
                    self.bytes = Vec::new();
                } else {
                    self.bytes.extend_from_slice(chunk);
                }
            }
            BodyKind::EventStream => {
                self.bytes.extend_from_slice(chunk);
                if self.bytes.len() > self.max_bytes {
                    let excess = self.bytes.len() - self.max_bytes;
                    self.bytes.drain(..excess);
                }
            }
        }
    }

    /// The usage the body reported, if any.
    pub fn usage(&self) -> Option<Usage> {
        match self.kind {
            BodyKind::Other => None,
            BodyKind::Json if self.overflowed => None,
            BodyKind::Json => serde_json::from_slice::<Value>(&self.bytes)
                .ok()
                .and_then(|v| usage_in(&v)),
            BodyKind::EventStream => {
                let text = String::from_utf8_lossy(&self.bytes);
                // The usage chunk comes last (before `[DONE]`): search events from the end.
                text.rsplit("\n\n").find_map(|event| {
                    event
                        .lines()
                        .filter_map(|line| line.strip_prefix("data:"))
                        .map(str::trim)
                        .filter(|data| *data != "[DONE]")
                        .find_map(|data| {
                            serde_json::from_str::<Value>(data)
                                .ok()
                                .and_then(|v| usage_in(&v))
                        })
                })
            }
        }
    }
}

/// `usage` at the top level (chat, completions, embeddings, responses) or inside `response`
/// (the Responses API's stream events); both token spellings.
fn usage_in(value: &Value) -> Option<Usage> {
    let usage = value
        .get("usage")
        .filter(|u| u.is_object())
        .or_else(|| value.pointer("/response/usage"))?;
    let number = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| usage.get(*name).and_then(Value::as_u64))
    };
    let usage = Usage {
        input_tokens: number(["prompt_tokens", "input_tokens"]),
        output_tokens: number(["completion_tokens", "output_tokens"]),
    };
    (usage.input_tokens.is_some() || usage.output_tokens.is_some()).then_some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content_type: &str, chunks: &[&str], max: usize) -> Option<Usage> {
        let mut reader = UsageReader::for_content_type(Some(content_type), max);
        for chunk in chunks {
            reader.push(chunk.as_bytes());
        }
        reader.usage()
    }

    #[test]
    fn json_usage_in_both_spellings() {
        let chat = r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;
        assert_eq!(
            read("application/json", &[&chat[..20], &chat[20..]], 1024),
            Some(Usage {
                input_tokens: Some(11),
                output_tokens: Some(7)
            })
        );
        let responses = r#"{"output":[],"usage":{"input_tokens":3,"output_tokens":4}}"#;
        assert_eq!(
            read("application/json; charset=utf-8", &[responses], 1024),
            Some(Usage {
                input_tokens: Some(3),
                output_tokens: Some(4)
            })
        );
        let embeddings = r#"{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        assert_eq!(
            read("application/json", &[embeddings], 1024),
            Some(Usage {
                input_tokens: Some(5),
                output_tokens: None
            })
        );
        assert_eq!(
            read("application/json", &[chat], 10),
            None,
            "over the limit: not parsed"
        );
        assert_eq!(read("text/plain", &[chat], 1024), None);
        assert_eq!(read("application/json", &[r#"{"usage":null}"#], 1024), None);
    }

    #[test]
    fn event_stream_usage_from_the_final_chunk() {
        let chunks = [
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n",
        ];
        assert_eq!(
            read("text/event-stream", &chunks, 1024),
            Some(Usage {
                input_tokens: Some(11),
                output_tokens: Some(7)
            })
        );
        let responses = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":2,\"output_tokens\":9}}}\n\n";
        assert_eq!(
            read(
                "text/event-stream",
                &["event: x\ndata: {}\n\n", responses],
                1024
            ),
            Some(Usage {
                input_tokens: Some(2),
                output_tokens: Some(9)
            })
        );
        let long_prefix = "data: {\"x\":\"".to_owned() + &"y".repeat(10_000) + "\"}\n\n";
        assert_eq!(
            read("text/event-stream", &[&long_prefix, chunks[2]], 512),
            Some(Usage {
                input_tokens: Some(11),
                output_tokens: Some(7)
            }),
            "only the tail is kept"
        );
        assert_eq!(
            read("text/event-stream", &chunks[..2], 1024),
            None,
            "no usage chunk"
        );
    }
}
