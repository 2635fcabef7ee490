//! The one writer of a record's OTLP JSON `LogRecord`: the text the filter sends, and byte for
//! byte the record's canonical form, which the collector's Merkle leaf hashes and its exports
//! carry (`docs/audit.md`, "Canonical record"). There is no second encoder: the `Value` form
//! ([`AuditRecord::to_otlp_log_record`]) is this text parsed, and the collector's canonical
//! bytes are this text.
//!
//! The form: object keys sorted by their UTF-8 bytes, no whitespace, strings escaped only
//! where JSON requires (`"`, `\`, control characters: `\n`, `\r`, `\t`, `\b`, `\f`, else
//! `\u00XX`) exactly as `serde_json` escapes them, 64-bit integers as decimal strings (the
//! OTLP JSON convention) and attributes in the mapping's fixed order.
//!
//! A gateway writes one per request, so the writer is built to be cheap (callgrind,
//! `bench/hot-path audit`): one allocation sized for the record, no `format!` or
//! `to_string`, integers written digit by digit, and strings scanned byte by byte with their
//! clean runs copied whole.

use super::record::{AuditDecision, AuditRecord};

/// The attributes' `{"key":"…","value":` prefixes, one literal each: keys are the `names`
/// constants, plain ASCII that needs no escaping (the golden-text tests would catch one that
/// did).
macro_rules! key {
    ($name:expr) => {
        concat!(r#"{"key":""#, $name, r#"","value":"#)
    };
}

/// Bytes of a record's text beyond its variable parts (keys, punctuation, the fixed values),
/// with room for every optional attribute: the allocation is made once, at the right size.
const FIXED_BYTES: usize = 1536;

impl AuditRecord {
    /// The record as one OTLP JSON `LogRecord`, in canonical form (see the module docs).
    pub fn to_otlp_log_record_text(&self) -> String {
        let mut out = String::with_capacity(FIXED_BYTES + self.variable_bytes());
        self.write_otlp_log_record(&mut out);
        out
    }

    /// Appends [`Self::to_otlp_log_record_text`] to `out`.
    pub fn write_otlp_log_record(&self, out: &mut String) {
        out.push_str(concat!(r#"{"attributes":["#, key!("jitgate.decision")));
        push_string_value(out, self.decision.as_str());
        for (key, value) in [
            (concat!(",", key!("jitgate.reason")), &self.reason),
            (concat!(",", key!("jitgate.stream.id")), &self.stream_id),
            (concat!(",", key!("http.request.method")), &self.method),
            (concat!(",", key!("server.address")), &self.authority),
            (concat!(",", key!("url.path")), &self.path),
        ] {
            out.push_str(key);
            push_string_value(out, value);
        }
        for (key, value) in [
            (concat!(",", key!("jitgate.route")), &self.route),
            (concat!(",", key!("jitgate.grant.id")), &self.grant_id),
            (concat!(",", key!("enduser.id")), &self.subject),
            (concat!(",", key!("jitgate.client.id")), &self.client_id),
            (
                concat!(",", key!("jitgate.scope.required")),
                &self.scope_required,
            ),
            (
                concat!(",", key!("jitgate.token.digest")),
                &self.token_digest,
            ),
            (concat!(",", key!("gen_ai.request.model")), &self.model),
            (concat!(",", key!("client.address")), &self.client_address),
            (concat!(",", key!("user_agent.original")), &self.user_agent),
            (concat!(",", key!("jitgate.request.id")), &self.request_id),
        ] {
            if let Some(value) = value {
                out.push_str(key);
                push_string_value(out, value);
            }
        }
        for (key, value) in [
            (
                concat!(",", key!("jitgate.stream.sequence")),
                Some(self.sequence),
            ),
            (
                concat!(",", key!("http.response.status_code")),
                Some(u64::from(self.status)),
            ),
            (
                concat!(",", key!("jitgate.duration_ms")),
                Some(self.duration_ms),
            ),
            (
                concat!(",", key!("http.request.body.size")),
                Some(self.request_bytes),
            ),
            (
                concat!(",", key!("http.response.body.size")),
                Some(self.response_bytes),
            ),
            (
                concat!(",", key!("gen_ai.usage.input_tokens")),
                self.input_tokens,
            ),
            (
                concat!(",", key!("gen_ai.usage.output_tokens")),
                self.output_tokens,
            ),
            (
                concat!(",", key!("jitgate.grant.limits.requests")),
                self.limit_requests,
            ),
            (
                concat!(",", key!("jitgate.grant.limits.tokens")),
                self.limit_tokens,
            ),
        ] {
            if let Some(value) = value {
                out.push_str(key);
                out.push_str(r#"{"intValue":""#);
                push_decimal(out, value);
                out.push_str(r#""}}"#);
            }
        }
        out.push_str(if self.break_glass {
            concat!(
                ",",
                key!("jitgate.grant.break_glass"),
                r#"{"boolValue":true}}"#
            )
        } else {
            concat!(
                ",",
                key!("jitgate.grant.break_glass"),
                r#"{"boolValue":false}}"#
            )
        });
        for (key, values) in [
            (
                concat!(",", key!("jitgate.grant.approvers")),
                &self.approvers,
            ),
            (
                concat!(",", key!("jitgate.scopes.granted")),
                &self.scopes_granted,
            ),
        ] {
            out.push_str(key);
            out.push_str(r#"{"arrayValue":{"values":["#);
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"stringValue":"#);
                push_json_string(out, value);
                out.push('}');
            }
            out.push_str("]}}}");
        }
        // The body is `<decision> <method> <path> <reason>`; escaping works byte by byte and
        // a space needs none, so the parts are escaped one after another, never joined first.
        out.push_str(r#"],"body":{"stringValue":""#);
        out.push_str(self.decision.as_str());
        out.push(' ');
        push_json_string_content(out, &self.method);
        out.push(' ');
        push_json_string_content(out, &self.path);
        out.push(' ');
        push_json_string_content(out, &self.reason);
        out.push_str(r#""},"eventName":"jitgate.request","observedTimeUnixNano":""#);
        push_decimal(out, self.time_unix_nano);
        out.push_str(match self.decision {
            // OTLP severity numbers: INFO (9) for allowed requests, WARN (13) for denials.
            AuditDecision::Allow => {
                r#"","severityNumber":9,"severityText":"INFO","timeUnixNano":""#
            }
            AuditDecision::Deny => {
                r#"","severityNumber":13,"severityText":"WARN","timeUnixNano":""#
            }
        });
        push_decimal(out, self.time_unix_nano);
        out.push_str(r#""}"#);
    }

    /// Bytes the record's strings and numbers take unescaped: with [`FIXED_BYTES`], the
    /// text's length unless a string needs escapes.
    fn variable_bytes(&self) -> usize {
        let optional = [
            &self.route,
            &self.grant_id,
            &self.subject,
            &self.client_id,
            &self.scope_required,
            &self.token_digest,
            &self.model,
            &self.client_address,
            &self.user_agent,
            &self.request_id,
        ]
        .into_iter()
        .map(|value| value.as_ref().map_or(0, String::len))
        .sum::<usize>();
        let lists = self
            .approvers
            .iter()
            .chain(&self.scopes_granted)
            .map(|value| value.len() + r#"{"stringValue":""},"#.len())
            .sum::<usize>();
        // Method, path and reason are written twice: as attributes and in the body.
        2 * (self.reason.len() + self.method.len() + self.path.len())
            + self.stream_id.len()
            + self.authority.len()
            + optional
            + lists
    }
}

/// `{"stringValue":"…"}}`: a string attribute's value and the attribute's closing brace.
fn push_string_value(out: &mut String, value: &str) {
    out.push_str(r#"{"stringValue":"#);
    push_json_string(out, value);
    out.push_str("}}");
}

/// Appends `value` as a JSON string, quoted and escaped exactly as `serde_json` escapes it.
pub fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    push_json_string_content(out, value);
    out.push('"');
}

/// What `serde_json` writes for each byte: 0 nothing to escape, `u` a `\u00XX` escape, any
/// other a two-character escape `\` + that byte.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// [`push_json_string`] without the quotes. Clean runs (nearly everything) are copied whole,
/// found eight bytes at a time.
fn push_json_string_content(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.as_bytes();
    let mut clean_from = 0;
    let mut index = 0;
    while index < bytes.len() {
        let end = (index + 8).min(bytes.len());
        if let Ok(word) = <[u8; 8]>::try_from(&bytes[index..end]) {
            if !needs_escape(u64::from_le_bytes(word)) {
                index = end;
                continue;
            }
        }
        for (at, &byte) in bytes[index..end].iter().enumerate() {
            let escape = ESCAPE[usize::from(byte)];
            if escape == 0 {
                continue;
            }
            let at = index + at;
            // Every escaped byte is ASCII, so `at` is a char boundary.
            out.push_str(&value[clean_from..at]);
            out.push('\\');
            if escape == b'u' {
                out.push_str("u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            } else {
                out.push(char::from(escape));
            }
            clean_from = at + 1;
        }
        index = end;
    }
    out.push_str(&value[clean_from..]);
}

/// Whether any of the eight bytes in `word` is a control character, `"` or `\`: the
/// classic has-zero-byte test (exact as a yes/no answer) applied to `byte < 0x20`,
/// `byte ^ '"'` and `byte ^ '\'`.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | quote | backslash) & HIGH != 0
}

/// `"00" "01" … "99"`: two digits per division.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `value` in decimal, without going through `fmt`: two digits per step into a
/// buffer, then one copy.
pub fn push_decimal(out: &mut String, mut value: u64) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    while value >= 100 {
        // Below 100: the casts cannot truncate.
        let pair = 2 * (value % 100) as usize;
        value /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = 2 * value as usize;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + value as u8;
    }
    // Only ASCII digits were written, so this never falls back.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"));
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn escapes_as_serde_json_does() {
        let mut every_byte = String::new();
        for c in (0u8..0x80).map(char::from).chain(['é', '✓', '🙂']) {
            every_byte.push(c);
        }
        let shifted: Vec<String> = (0..9)
            .map(|n| format!("{}{every_byte}{}", "é".repeat(n), "x".repeat(n)))
            .collect();
        let texts = [
            "",
            "plain",
            "quote \" backslash \\",
            "0123456789abcdef\"",
            &every_byte,
        ];
        for text in texts.into_iter().chain(shifted.iter().map(String::as_str)) {
            let mut out = String::new();
            push_json_string(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap());
        }
    }

    #[test]
    fn finds_every_byte_that_needs_escaping_in_a_word() {
        for filler in [
            0x20, 0x21, 0x23, 0x41, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
        ] {
            for position in 0..8 {
                for byte in 0..=255u8 {
                    let mut word = [filler; 8];
                    word[position] = byte;
                    let naive = word.iter().any(|&b| ESCAPE[usize::from(b)] != 0);
                    assert_eq!(needs_escape(u64::from_le_bytes(word)), naive, "{word:?}");
                }
            }
        }
    }

    #[test]
    fn writes_decimals() {
        for value in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            1_767_225_600_123_456_789,
            u64::MAX,
        ] {
            let mut out = String::from("x");
            push_decimal(&mut out, value);
            assert_eq!(out, format!("x{value}"));
        }
    }
}
