//! The filter's configuration (`Settings::from_json`), as Envoy hands it to `on_configure`.
//!
//! Input: a first byte choosing the mode, then either raw JSON bytes (mode byte even; seeds
//! are the example and test configurations) or a list of `arbitrary` edits applied to the
//! documented example configuration (mode byte odd), which keeps most inputs one field
//! away from valid and so reaches every validation rule.
//! Asserts, beyond "no panic":
//! - an error names a field: its first segment is a known section, `configuration` for the
//!   document itself, or the unknown top-level member it refuses; and it says what is wrong;
//! - an error never repeats a credential given in the configuration;
//! - parsing is deterministic: the same bytes give the same settings or the same error.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use jitgate_filter::config::Settings;
use jitgate_fuzz::fixtures::EXAMPLE_FILTER_CONFIG;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Every top-level name an error may start with.
const SECTIONS: &[&str] = &[
    "configuration",
    "issuer",
    "audiences",
    "realm",
    "unmatched",
    "limits",
    "routes",
    "keys",
    "token",
    "revocation",
    "cache",
    "audit",
    "body_check",
];

/// What `credential_env` resolves to: the VM's environment in the fuzz world.
fn environment(name: &str) -> Option<String> {
    (name == "JITGATE_CREDENTIAL").then(|| "env-credential-value-0123".to_owned())
}

#[derive(Debug, Arbitrary)]
enum NewValue {
    Remove,
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
    Object(Vec<(String, i32)>),
}

#[derive(Debug, Arbitrary)]
struct Edit {
    /// Which existing field (or array element) to change, by position in a walk.
    target: u16,
    /// A member name to add under an object instead of replacing it.
    add: Option<String>,
    value: NewValue,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let Ok(edits) = Vec::<Edit>::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        edited_example(&edits).into_bytes()
    };
    let first = Settings::from_json(&text, &environment);
    let second = Settings::from_json(&text, &environment);
    assert_eq!(first, second, "the same configuration parsed two ways");
    if let Err(error) = first {
        let root = error.field.split(['.', '[']).next().unwrap_or_default();
        // An unknown top-level member is named by its own name (which may hold dots).
        let names_a_member = top_level_names(&text).iter().any(|name| {
            error.field == *name
                || error.field.starts_with(&format!("{name}."))
                || error.field.starts_with(&format!("{name}["))
        });
        assert!(
            SECTIONS.contains(&root) || names_a_member,
            "error names no field of the configuration: {error}"
        );
        assert!(
            !error.problem.trim().is_empty(),
            "error says nothing: {error}"
        );
        for (credential, given_in_text) in credentials(&text) {
            // A credential copied into a member name is echoed as that name, rightly: only
            // a credential that appears nowhere but in its own field must stay unsaid.
            let copies = occurrences(&text, &credential);
            if copies > usize::from(given_in_text) {
                continue;
            }
            assert!(
                !error.to_string().contains(&credential),
                "error echoes a credential: {error}"
            );
        }
    }
});

/// How often `needle` occurs in the document: in its member names and strings as decoded
/// (another copy may be written with escapes, `\u0023` for `#`, which the raw text hides),
/// or in the raw text, whichever finds more.
fn occurrences(text: &[u8], needle: &str) -> usize {
    let raw = String::from_utf8_lossy(text).matches(needle).count();
    let decoded = serde_json::from_slice::<Value>(text).map_or(0, |value| count_in(&value, needle));
    raw.max(decoded)
}

fn count_in(value: &Value, needle: &str) -> usize {
    match value {
        Value::String(text) => text.matches(needle).count(),
        Value::Array(items) => items.iter().map(|item| count_in(item, needle)).sum(),
        Value::Object(members) => members
            .iter()
            .map(|(name, member)| name.matches(needle).count() + count_in(member, needle))
            .sum(),
        _ => 0,
    }
}

fn top_level_names(text: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(members)) => members.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The credentials the configuration gives (as far as it is JSON at all), each with whether
/// it is written in the text (`credential`) or comes from the environment (`credential_env`).
fn credentials(text: &[u8]) -> Vec<(String, bool)> {
    let mut found = vec![("env-credential-value-0123".to_owned(), false)];
    let Ok(value) = serde_json::from_slice::<Value>(text) else {
        return found;
    };
    for section in ["revocation", "audit"] {
        if let Some(Value::String(credential)) =
            value.get(section).and_then(|s| s.get("credential"))
        {
            // Short strings appear in messages by chance ("a", "1").
            if credential.len() >= 8 {
                found.push((credential.clone(), true));
            }
        }
    }
    found
}

fn edited_example(edits: &[Edit]) -> String {
    let mut config: Value = match serde_json::from_str(EXAMPLE_FILTER_CONFIG) {
        Ok(config) => config,
        Err(error) => panic!("envoy/plugin-config.example.json is not JSON: {error}"),
    };
    for edit in edits {
        let mut pointers = Vec::new();
        walk(&config, String::new(), &mut pointers);
        let pointer = &pointers[usize::from(edit.target) % pointers.len()];
        let Some(slot) = config.pointer_mut(pointer) else {
            continue;
        };
        let value = match &edit.value {
            NewValue::Remove => None,
            NewValue::Null => Some(Value::Null),
            NewValue::Bool(b) => Some(Value::Bool(*b)),
            NewValue::Integer(n) => Some(Value::from(*n)),
            NewValue::Float(x) => Some(Value::from(*x)),
            NewValue::Text(text) => Some(Value::from(text.as_str())),
            NewValue::List(items) => Some(Value::from(items.clone())),
            NewValue::Object(members) => Some(Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(*v)))
                    .collect(),
            )),
        };
        match (edit.add.as_ref(), slot, value) {
            (Some(name), Value::Object(members), Some(value)) => {
                members.insert(name.clone(), value);
            }
            (_, slot, Some(value)) => *slot = value,
            (_, _, None) => remove(&mut config, pointer),
        }
    }
    config.to_string()
}

/// JSON pointers to every value under `value`, the root included.
fn walk(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                let escaped = name.replace('~', "~0").replace('/', "~1");
                walk(member, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn remove(config: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let name = last.replace("~1", "/").replace("~0", "~");
    match config.pointer_mut(parent) {
        Some(Value::Object(members)) => {
            members.remove(&name);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = name.parse::<usize>() {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}
