//! Reading `model` from a JSON request body (`extract_model`, `read_model`).
//!
//! Input: a first byte choosing the content type and size limit, then the body bytes.
//! Asserts, beyond "no panic", agreement with serde_json's own reading of the body — the
//! way a Python or Rust model server would read it:
//! - `Ok(model)` means the body is one JSON object whose `model` member is that string;
//! - a body serde_json reads as an object (within the nesting limit) is never `body_not_json`,
//!   and one it cannot read is never anything but `body_not_json`;
//! - `model_missing` means there is no `model` member, `model_not_string` that there is one
//!   and it is not a string;
//! - `read_model` applies the media type and size checks first, then gives exactly
//!   `extract_model`'s answer;
//! - an accepted model is also what a case-insensitive, last-wins decoder (Go's
//!   `encoding/json`, ASP.NET) reads: no other spelling of `model` hides in the body.
#![no_main]

use jitgate_grant::model::{extract_model, is_json_media_type, MAX_NESTING};
use jitgate_fuzz::lenient_json::last_case_insensitive_member;
use jitgate_grant::{read_model, Reason};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("APPLICATION/VND.API+JSON"),
    Some("text/plain"),
    Some("application/jsonx"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let extracted = extract_model(body);

    let content_type = CONTENT_TYPES[usize::from(choice) % CONTENT_TYPES.len()];
    let limit = if choice & 0x80 == 0 {
        65_536
    } else {
        usize::from(choice & 0x3f)
    };
    let read = read_model(content_type, body, limit);
    let expected_read = if !content_type.is_some_and(is_json_media_type) {
        Err(Reason::UnsupportedMediaType)
    } else if body.len() > limit {
        Err(Reason::BodyTooLarge)
    } else {
        extracted.clone()
    };
    assert_eq!(
        read, expected_read,
        "read_model is not its checks plus extract_model"
    );

    // serde_json keeps the last of repeated members; duplicates are compared separately.
    // Numbers beyond f64 are a known difference (docs/fuzzing.md): serde_json refuses them
    // when it builds a Value but skips them unchecked, and RFC 8259 §6 leaves the range to
    // each implementation, so the reference is not asked about such bodies.
    let reference = serde_json::from_slice::<Value>(body);
    if reference
        .as_ref()
        .is_err_and(|error| error.to_string().starts_with("number out of range"))
    {
        return;
    }
    match (&extracted, &reference) {
        (Ok(model), Ok(value)) => {
            assert_eq!(
                value.get("model").and_then(Value::as_str),
                Some(model.as_str())
            );
            assert_eq!(
                last_case_insensitive_member(body, "model"),
                Some(Value::String(model.clone())),
                "a case-insensitive decoder reads another model"
            );
        }
        (Ok(model), Err(error)) => {
            panic!("accepted {model:?} from a body serde_json refuses: {error}")
        }
        (Err(Reason::BodyNotJson), Ok(Value::Object(_))) => {
            assert!(
                depth(body) > MAX_NESTING,
                "refused as not JSON a JSON object nested {} deep",
                depth(body)
            );
        }
        (Err(Reason::BodyNotJson), _) => {}
        (Err(reason), Err(error)) => panic!("{reason:?} for a body serde_json refuses: {error}"),
        (Err(Reason::ModelMissing), Ok(_)) => {
            assert_eq!(last_case_insensitive_member(body, "model"), None);
        }
        (Err(Reason::ModelNotString), Ok(value)) => {
            assert!(value.get("model").is_some_and(|model| !model.is_string()));
        }
        (Err(Reason::ModelDuplicated), Ok(_)) => {
            assert!(last_case_insensitive_member(body, "model").is_some());
        }
        (Err(reason), Ok(_)) => panic!("extract_model gave {reason:?}, which it never should"),
    }
});

/// The deepest `[`/`{` nesting outside strings (a reference for the nesting limit).
fn depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b'[' || byte == b'{' {
            depth += 1;
            deepest = deepest.max(depth);
        } else if byte == b']' || byte == b'}' {
            depth = depth.saturating_sub(1);
        }
    }
    deepest
}
