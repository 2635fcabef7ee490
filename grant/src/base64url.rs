//! Strict base64url (RFC 4648 §5) without padding, as JWS compact serialization requires.
//!
//! Strict means one canonical encoding per byte string: padding, whitespace, the standard
//! alphabet and non-zero trailing bits are all rejected, so two different strings never decode
//! to the same signed bytes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded, canonical base64url; `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn round_trips() {
        assert_eq!(encode(b"jitgate"), "aml0Z2F0ZQ");
        assert_eq!(decode("aml0Z2F0ZQ").as_deref(), Some(&b"jitgate"[..]));
    }

    #[test]
    fn rejects_padding_whitespace_standard_alphabet_and_trailing_bits() {
        assert_eq!(decode("aml0Z2F0ZQ=="), None);
        assert_eq!(decode("aml0 Z2F0ZQ"), None);
        assert_eq!(decode("a+/b"), None);
        // "aml0Z2F0ZR" differs from the canonical "aml0Z2F0ZQ" only in trailing bits.
        assert_eq!(decode("aml0Z2F0ZR"), None);
    }
}
