//! Reading the `model` from an OpenAI-style JSON request body, for routes whose scope
//! depends on it.
//!
//! The body must be one JSON object with exactly one `model` member holding a string. A
//! repeated `model` is refused rather than resolved, because the gate and the model server
//! might resolve it differently (first wins here, last wins there) and check one model while
//! serving another; the same goes for spellings with escapes (`"mod\u0065l"`), which are
//! compared after unescaping.
//!
//! A key that differs from `model` only in case (`"Model"`, `"MODEL"`, or with a Unicode
//! character that case-folds to an ASCII letter, such as U+212A KELVIN SIGN for `k` or
//! U+017F LONG S for `s`) is refused as a duplicate too, even alone: Go's `encoding/json`,
//! ASP.NET and others match member names case-insensitively, the last one winning, so a
//! model server built on them would serve `"Model"` while this gate checked `"model"`.
//! The body is never modified.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::reason::Reason;

/// The model for a route that needs one: the content type must be JSON
/// (`application/json` or `application/*+json`, parameters allowed), the body at most
/// `max_body_bytes`, and the body must yield a model.
pub fn read_model(
    content_type: Option<&str>,
    body: &[u8],
    max_body_bytes: usize,
) -> Result<String, Reason> {
    if !content_type.is_some_and(is_json_media_type) {
        return Err(Reason::UnsupportedMediaType);
    }
    if body.len() > max_body_bytes {
        return Err(Reason::BodyTooLarge);
    }
    extract_model(body)
}

/// Whether a `content-type` value names JSON. Media types compare case-insensitively.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Extracts `model` from a JSON body, or the reason (`body_not_json`, `model_missing`,
/// `model_not_string`, `model_duplicated`) it cannot be used.
pub fn extract_model(body: &[u8]) -> Result<String, Reason> {
    // JSON is UTF-8 (RFC 8259 §8.1), but serde_json skips the members it ignores without
    // checking their bytes: a body the model server's decoder would reject, replace or read
    // differently must not pass because only `model` was valid.
    if std::str::from_utf8(body).is_err() {
        return Err(Reason::BodyNotJson);
    }
    if nesting_depth(body) > MAX_NESTING {
        return Err(Reason::BodyNotJson);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let found = deserializer
        .deserialize_map(TopLevelObject)
        .map_err(|_| Reason::BodyNotJson)?;
    deserializer.end().map_err(|_| Reason::BodyNotJson)?;
    match found {
        ModelMember::Missing => Err(Reason::ModelMissing),
        ModelMember::Found(model) => Ok(model),
        ModelMember::NotString => Err(Reason::ModelNotString),
        ModelMember::Duplicated => Err(Reason::ModelDuplicated),
    }
}

/// Deepest array/object nesting accepted. serde_json skips ignored values without a depth
/// limit; model servers written in other languages usually have one (Python's is about 1000
/// frames, serde_json's own 128), so a body nested deeper than this is refused here rather
/// than accepted by the gate and rejected, or worse, by the upstream. 127, not 128: skipped
/// values are now read (see [`Skipped`]), so serde_json's own limit of 127 nested levels
/// below its 128-frame budget applies to the whole body, and the two limits must agree.
pub const MAX_NESTING: usize = 127;

/// The deepest `[`/`{` nesting in `body`, ignoring brackets inside strings. Malformed input
/// gives some number; the parser reports the malformation.
fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The member the route's scope comes from.
const MODEL_KEY: &str = "model";

/// Whether `key` equals the ASCII-lowercase `target` under case folding as the lenient
/// decoders do it: ASCII case, plus any character whose simple lower- or uppercase mapping
/// is a single ASCII letter (U+212A KELVIN SIGN → `k`, U+017F LONG S → `S`, U+0131 DOTLESS I
/// → `I`). Generic over the target, so the same rule serves every key a route reads.
pub fn folds_to_ascii(key: &str, target: &str) -> bool {
    let mut key_chars = key.chars();
    for expected in target.chars() {
        match key_chars.next().and_then(ascii_fold) {
            Some(folded) if folded == expected.to_ascii_lowercase() => {}
            _ => return false,
        }
    }
    key_chars.next().is_none()
}

/// The ASCII lowercase letter `c` folds to, if any.
fn ascii_fold(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(c.to_ascii_lowercase());
    }
    for mapped in [one_char(c.to_lowercase()), one_char(c.to_uppercase())] {
        if let Some(letter) = mapped.filter(char::is_ascii_alphabetic) {
            return Some(letter.to_ascii_lowercase());
        }
    }
    None
}

/// The only character of a case mapping, if it maps to exactly one.
fn one_char(mut mapping: impl Iterator<Item = char>) -> Option<char> {
    let first = mapping.next()?;
    mapping.next().is_none().then_some(first)
}

enum ModelMember {
    Missing,
    Found(String),
    NotString,
    Duplicated,
}

struct TopLevelObject;

impl<'de> Visitor<'de> for TopLevelObject {
    type Value = ModelMember;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelMember, A::Error> {
        let mut found = ModelMember::Missing;
        // Keep reading after a problem so a syntax error later in the body still wins: a
        // body that is not JSON is reported as such.
        while let Some(key) = map.next_key::<String>()? {
            if key != MODEL_KEY {
                if folds_to_ascii(&key, MODEL_KEY) {
                    // Another spelling a case-insensitive decoder would read as `model`.
                    found = ModelMember::Duplicated;
                }
                map.next_value::<Skipped>()?;
                continue;
            }
            let value = map.next_value::<ModelValue>()?;
            found = match (found, value) {
                (ModelMember::Missing, ModelValue::Text(model)) => ModelMember::Found(model),
                (ModelMember::Missing, ModelValue::Other) => ModelMember::NotString,
                (_, _) => ModelMember::Duplicated,
            };
        }
        Ok(found)
    }
}

/// A value the gate does not use, read fully rather than skipped: serde_json's `IgnoredAny`
/// skips strings without checking their escapes, so a lone UTF-16 surrogate (`"\udeda"`),
/// which a strict decoder refuses and a lenient one replaces, would pass unseen (found by
/// the `body_model` fuzz target). Reading it through `deserialize_any` checks every escape.
struct Skipped;

impl<'de> de::Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SkippedVisitor;

        impl<'de> Visitor<'de> for SkippedVisitor {
            type Value = Skipped;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skipped, E> {
                Ok(Skipped)
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skipped, E> {
                Ok(Skipped)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skipped, E> {
                Ok(Skipped)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skipped, E> {
                Ok(Skipped)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skipped, E> {
                Ok(Skipped)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Skipped, E> {
                Ok(Skipped)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Skipped, A::Error> {
                while seq.next_element::<Skipped>()?.is_some() {}
                Ok(Skipped)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skipped, A::Error> {
                while map.next_entry::<Skipped, Skipped>()?.is_some() {}
                Ok(Skipped)
            }
        }

        deserializer.deserialize_any(SkippedVisitor)
    }
}

enum ModelValue {
    Text(String),
    Other,
}

impl<'de> de::Deserialize<'de> for ModelValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModelValueVisitor;

        impl<'de> Visitor<'de> for ModelValueVisitor {
            type Value = ModelValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ModelValue, E> {
                Ok(ModelValue::Text(value.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ModelValue, E> {
                Ok(ModelValue::Other)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ModelValue, E> {
                Ok(ModelValue::Other)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ModelValue, E> {
                Ok(ModelValue::Other)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ModelValue, E> {
                Ok(ModelValue::Other)
            }

            fn visit_unit<E: de::Error>(self) -> Result<ModelValue, E> {
                Ok(ModelValue::Other)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ModelValue, A::Error> {
                while seq.next_element::<Skipped>()?.is_some() {}
                Ok(ModelValue::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelValue, A::Error> {
                while map.next_entry::<Skipped, Skipped>()?.is_some() {}
                Ok(ModelValue::Other)
            }
        }

        deserializer.deserialize_any(ModelValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn content_type_and_size_come_first() {
        let body = br#"{"model":"m"}"#;
        assert_eq!(
            read_model(Some("application/json"), body, 100).as_deref(),
            Ok("m")
        );
        assert_eq!(
            read_model(Some("Application/JSON; charset=utf-8"), body, 100).as_deref(),
            Ok("m")
        );
        assert_eq!(
            read_model(Some("application/vnd.api+json"), body, 100).as_deref(),
            Ok("m")
        );
        assert_eq!(
            read_model(Some("text/plain"), body, 100),
            Err(Reason::UnsupportedMediaType)
        );
        assert_eq!(
            read_model(Some("application/jsonx"), body, 100),
            Err(Reason::UnsupportedMediaType)
        );
        assert_eq!(
            read_model(None, body, 100),
            Err(Reason::UnsupportedMediaType)
        );
        assert_eq!(
            read_model(Some("application/json"), body, 5),
            Err(Reason::BodyTooLarge)
        );
    }

    #[test]
    fn finds_the_model_anywhere_in_the_object() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}],"model":"meta-llama/Llama-3.1-8B","stream":true}"#;
        assert_eq!(extract_model(body).unwrap(), "meta-llama/Llama-3.1-8B");
        let large = format!(r#"{{"input":"{}","model":"m"}}"#, "x".repeat(100_000));
        assert_eq!(extract_model(large.as_bytes()).unwrap(), "m");
    }

    #[test]
    fn refuses_missing_repeated_and_non_string_models() {
        assert_eq!(
            extract_model(br#"{"messages":[]}"#),
            Err(Reason::ModelMissing)
        );
        assert_eq!(
            extract_model(br#"{"model":"a","model":"b"}"#),
            Err(Reason::ModelDuplicated)
        );
        assert_eq!(
            extract_model(br#"{"model":"a","mod\u0065l":"b"}"#),
            Err(Reason::ModelDuplicated)
        );
        assert_eq!(
            extract_model(br#"{"model":7}"#),
            Err(Reason::ModelNotString)
        );
        assert_eq!(
            extract_model(br#"{"model":["a"]}"#),
            Err(Reason::ModelNotString)
        );
        assert_eq!(
            extract_model(br#"{"model":null}"#),
            Err(Reason::ModelNotString)
        );
        assert_eq!(
            extract_model(br#"{"nested":{"model":"a"}}"#),
            Err(Reason::ModelMissing)
        );
    }

    #[test]
    fn refuses_keys_that_a_case_insensitive_decoder_reads_as_model() {
        for body in [
            r#"{"model":"a","Model":"b"}"#,
            r#"{"MODEL":"b","model":"a"}"#,
            r#"{"model":"a","mOdEl":"b"}"#,
            r#"{"Model":"b"}"#,
            r#"{"model":"a","\u004dodel":"b"}"#,
        ] {
            assert_eq!(
                extract_model(body.as_bytes()),
                Err(Reason::ModelDuplicated),
                "{body}"
            );
        }
        // Other keys that merely resemble it are not the model.
        assert_eq!(
            extract_model(r#"{"model":"a","models":"b","mode":"c","modél":"d"}"#.as_bytes())
                .as_deref(),
            Ok("a")
        );
    }

    #[test]
    fn case_folding_covers_the_unicode_letters_lenient_decoders_fold() {
        assert!(folds_to_ascii("Model", "model"));
        assert!(
            folds_to_ascii("\u{212A}ey", "key"),
            "KELVIN SIGN folds to k"
        );
        assert!(
            folds_to_ascii("param\u{17F}", "params"),
            "LONG S folds to s"
        );
        assert!(
            folds_to_ascii("\u{131}d", "id"),
            "DOTLESS I uppercases to I"
        );
        assert!(!folds_to_ascii("model", "models"));
        assert!(!folds_to_ascii("models", "model"));
        assert!(!folds_to_ascii("mod\u{e9}l", "model"));
        assert!(!folds_to_ascii("", "model"));
    }

    #[test]
    fn refuses_what_is_not_one_json_object() {
        assert_eq!(extract_model(b""), Err(Reason::BodyNotJson));
        assert_eq!(extract_model(br#"["model"]"#), Err(Reason::BodyNotJson));
        assert_eq!(
            extract_model(br#"{"model":"a"} {"model":"b"}"#),
            Err(Reason::BodyNotJson)
        );
        assert_eq!(extract_model(br#"{"model":"a","#), Err(Reason::BodyNotJson));
        assert_eq!(
            extract_model(b"{\"model\":\"\xff\"}"),
            Err(Reason::BodyNotJson)
        );
        let nested = |depth: usize| {
            format!(
                "{{\"model\":\"a\",\"x\":{}{}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert_eq!(
            extract_model(nested(MAX_NESTING - 1).as_bytes()).as_deref(),
            Ok("a")
        );
        assert_eq!(
            extract_model(nested(MAX_NESTING).as_bytes()),
            Err(Reason::BodyNotJson)
        );
        assert_eq!(
            extract_model(nested(10_000).as_bytes()),
            Err(Reason::BodyNotJson)
        );
        let brackets_in_strings = format!(r#"{{"model":"a","x":"{}"}}"#, "[".repeat(1000));
        assert_eq!(
            extract_model(brackets_in_strings.as_bytes()).as_deref(),
            Ok("a")
        );
        assert_eq!(
            extract_model(br#"{"model":"a","model":"b""#),
            Err(Reason::BodyNotJson)
        );
    }

    #[test]
    fn a_lone_surrogate_escape_anywhere_is_not_json() {
        for body in [
            r#"{"":"h","role":"uuc{d\udedat"}"#,
            r#"{"model":"m","x":["\ud800"]}"#,
            r#"{"model":"m","x":{"y":"\udc00"}}"#,
        ] {
            assert_eq!(
                extract_model(body.as_bytes()),
                Err(Reason::BodyNotJson),
                "{body}"
            );
        }
        assert_eq!(
            extract_model(r#"{"model":"m","x":"\ud83d\ude00"}"#.as_bytes()).as_deref(),
            Ok("m"),
            "a surrogate pair is fine"
        );
    }

    #[test]
    fn invalid_utf8_anywhere_is_not_json() {
        let mut body = br#"{"model":"m","x":""#.to_vec();
        body.extend_from_slice(b"\xff\xfe\"}");
        assert_eq!(extract_model(&body), Err(Reason::BodyNotJson));
        let overlong_quote = b"{\"model\":\"m\",\"x\":\"\xc0\xa2\"}";
        assert_eq!(extract_model(overlong_quote), Err(Reason::BodyNotJson));
        assert_eq!(
            extract_model(br#"{"model":"m","x":"\u00e9 ok"}"#).as_deref(),
            Ok("m")
        );
    }
}
