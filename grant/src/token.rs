//! Finding the grant token in a request and taking a JWS compact token apart (RFC 7515 §7.1),
//! before any cryptography.
//!
//! jitgate parses the compact form itself instead of handing it to a general JWT library so
//! that every rule is explicit: a size limit checked before decoding, exactly three
//! non-empty canonical base64url segments, a JSON header read into typed fields (a repeated
//! `alg` or `kid` is an error), `typ` must be `at+jwt` (RFC 9068), and header parameters
//! that would let the token choose its own key or semantics (`jku`, `jwk`, `x5u`, `x5c`,
//! `crit`, `cty`) are refused. The signature itself is checked by `jwt-compact`'s algorithm
//! implementations in [`crate::keys`].

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::base64url;
use crate::decide::TokenInput;
use crate::keys::KeyAlgorithm;
use crate::reason::Reason;

/// A token split into its parts; nothing here is trusted yet.
#[derive(Debug)]
pub struct CompactToken<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    /// The algorithm the header claims.
    pub algorithm: KeyAlgorithm,
    /// The `kid` the header names.
    pub key_id: String,
    /// The decoded payload (JSON claims, unverified).
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
struct WireHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    cty: Option<IgnoredAny>,
    crit: Option<IgnoredAny>,
    jku: Option<IgnoredAny>,
    jwk: Option<IgnoredAny>,
    x5u: Option<IgnoredAny>,
    x5c: Option<IgnoredAny>,
}

/// Splits and checks a compact token. `max_bytes` bounds the work an attacker can cause.
pub fn parse_compact(token: &str, max_bytes: usize) -> Result<CompactToken<'_>, Reason> {
    if token.len() > max_bytes {
        return Err(Reason::TokenTooLarge);
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(Reason::MalformedToken);
    };
    // The header is judged first so that the classic `alg: none` token (whose signature
    // segment is empty) is reported as the algorithm problem it is.
    let header_bytes = base64url::decode(header).ok_or(Reason::MalformedToken)?;
    let wire: WireHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| Reason::MalformedToken)?;
    let algorithm = KeyAlgorithm::from_jws_name(&wire.alg).ok_or(Reason::UnsupportedAlgorithm)?;
    if !wire.typ.as_deref().is_some_and(is_access_token_type) {
        return Err(Reason::WrongTokenType);
    }
    let refused = [
        &wire.cty, &wire.crit, &wire.jku, &wire.jwk, &wire.x5u, &wire.x5c,
    ];
    if refused.iter().any(|parameter| parameter.is_some()) {
        return Err(Reason::UnsupportedHeader);
    }
    let key_id = wire
        .kid
        .filter(|kid| !kid.is_empty())
        .ok_or(Reason::MissingKeyId)?;
    if payload.is_empty() || signature.is_empty() {
        return Err(Reason::MalformedToken);
    }
    let payload_bytes = base64url::decode(payload).ok_or(Reason::MalformedToken)?;
    let signature_bytes = base64url::decode(signature).ok_or(Reason::MalformedToken)?;
    let signing_input_length = header.len() + 1 + payload.len();
    Ok(CompactToken {
        signing_input: &token.as_bytes()[..signing_input_length],
        algorithm,
        key_id,
        payload: payload_bytes,
        signature: signature_bytes,
    })
}

/// RFC 9068 §2.1: `at+jwt`, or the full media type; media types compare case-insensitively.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Finds the token among the values of the configured credential header.
///
/// `prefix` is the scheme with its space (`"Bearer "`), matched case-insensitively as RFC
/// 7235 says; an empty prefix takes the whole value. More than one header value is refused
/// rather than guessed between, and so is one value holding two credentials joined by a
/// comma (how proxies merge repeated headers); a value with another scheme (say `Basic`)
/// counts as no token.
pub fn extract_bearer<'a>(values: &[&'a str], prefix: &str) -> TokenInput<'a> {
    match values {
        [] => TokenInput::Missing,
        [value] => {
            let has_prefix = value.len() >= prefix.len()
                && value.is_char_boundary(prefix.len())
                && value[..prefix.len()].eq_ignore_ascii_case(prefix);
            if !has_prefix {
                return TokenInput::Missing;
            }
            let token = &value[prefix.len()..];
            // A token never holds a comma, but proxies join repeated headers with one
            // (Envoy does for `authorization`): a comma means two credentials.
            if token.contains(',') {
                return TokenInput::Duplicate;
            }
            // Envoy trims surrounding whitespace; anything left inside is the token's problem.
            TokenInput::Present(token)
        }
        _ => TokenInput::Duplicate,
    }
}

/// Whether the query of `path_and_query` holds an RFC 6750 §2.3 `access_token` parameter
/// (name compared case-insensitively, as some frameworks read it).
///
/// The filter never reads a token from the query, but it must not forward one either: a
/// request carrying a header token *and* a query token uses two methods at once, which RFC
/// 6750 forbids, and letting it through would hand the query token to the upstream and its
/// logs. Such a request is refused as `duplicate_token`.
pub fn query_has_access_token(path_and_query: &str) -> bool {
    let Some((_, query)) = path_and_query.split_once('?') else {
        return false;
    };
    query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        name.eq_ignore_ascii_case("access_token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn encode_json(value: serde_json::Value) -> String {
        base64url::encode(value.to_string().as_bytes())
    }

    fn token_with_header(header: serde_json::Value) -> String {
        format!(
            "{}.{}.AAAA",
            encode_json(header),
            encode_json(serde_json::json!({}))
        )
    }

    #[test]
    fn splits_a_well_formed_token() {
        let token =
            token_with_header(serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k"}));
        let parsed = parse_compact(&token, 4096).unwrap();
        assert_eq!(parsed.algorithm, KeyAlgorithm::EdDsa);
        assert_eq!(parsed.key_id, "k");
        assert_eq!(parsed.signature, vec![0, 0, 0]);
        assert_eq!(
            parsed.signing_input,
            token.rsplit_once('.').unwrap().0.as_bytes()
        );
    }

    #[test]
    fn structure_problems_are_malformed() {
        let good =
            token_with_header(serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k"}));
        let (signed, _) = good.rsplit_once('.').unwrap();
        for bad in [
            "".to_owned(),
            "a.b".to_owned(),
            format!("{signed}."),
            format!("{good}.AAAA"),
            format!(" {good}"),
            format!("{signed}.AA=="),
            "e30.e30.AAAA".replace("e30", "bm90IGpzb24"),
        ] {
            assert_eq!(
                parse_compact(&bad, 4096).unwrap_err(),
                Reason::MalformedToken,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_compact(&good, good.len() - 1).unwrap_err(),
            Reason::TokenTooLarge
        );
    }

    #[test]
    fn header_rules() {
        let check =
            |header: serde_json::Value| parse_compact(&token_with_header(header), 4096).map(|_| ());
        use serde_json::json;
        assert_eq!(
            check(json!({"alg": "none", "typ": "at+jwt", "kid": "k"})),
            Err(Reason::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(json!({"alg": "HS256", "typ": "at+jwt", "kid": "k"})),
            Err(Reason::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(json!({"alg": "eddsa", "typ": "at+jwt", "kid": "k"})),
            Err(Reason::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(json!({"alg": "EdDSA", "typ": "JWT", "kid": "k"})),
            Err(Reason::WrongTokenType)
        );
        assert_eq!(
            check(json!({"alg": "EdDSA", "kid": "k"})),
            Err(Reason::WrongTokenType)
        );
        assert_eq!(
            check(json!({"alg": "EdDSA", "typ": "application/AT+JWT", "kid": "k"})),
            Ok(())
        );
        assert_eq!(
            check(json!({"alg": "EdDSA", "typ": "at+jwt"})),
            Err(Reason::MissingKeyId)
        );
        assert_eq!(
            check(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ""})),
            Err(Reason::MissingKeyId)
        );
        assert_eq!(
            check(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k", "jku": "https://evil"})),
            Err(Reason::UnsupportedHeader)
        );
        let repeated = format!(
            "{}.e30.AAAA",
            base64url::encode(br#"{"alg":"EdDSA","typ":"at+jwt","kid":"k","alg":"none"}"#)
        );
        assert_eq!(
            parse_compact(&repeated, 4096).unwrap_err(),
            Reason::MalformedToken
        );
    }

    #[test]
    fn bearer_extraction() {
        assert_eq!(extract_bearer(&[], "Bearer "), TokenInput::Missing);
        assert_eq!(
            extract_bearer(&["Bearer abc"], "Bearer "),
            TokenInput::Present("abc")
        );
        assert_eq!(
            extract_bearer(&["bearer abc"], "Bearer "),
            TokenInput::Present("abc")
        );
        assert_eq!(
            extract_bearer(&["Basic abc"], "Bearer "),
            TokenInput::Missing
        );
        assert_eq!(extract_bearer(&["Bearer"], "Bearer "), TokenInput::Missing);
        assert_eq!(
            extract_bearer(&["Bearer a", "Bearer b"], "Bearer "),
            TokenInput::Duplicate
        );
        assert_eq!(extract_bearer(&["abc"], ""), TokenInput::Present("abc"));
        assert_eq!(
            extract_bearer(&["Béarer x"], "Bearer "),
            TokenInput::Missing
        );
    }

    #[test]
    fn finds_an_access_token_in_the_query_only() {
        assert!(query_has_access_token("/v1/x?access_token=abc"));
        assert!(query_has_access_token("/v1/x?a=1&ACCESS_TOKEN=abc"));
        assert!(query_has_access_token("/v1/x?access_token"));
        assert!(!query_has_access_token("/v1/access_token"));
        assert!(!query_has_access_token("/v1/x?my_access_token=abc"));
        assert!(!query_has_access_token("/v1/x?a=access_token"));
        assert!(!query_has_access_token("/v1/x"));
    }
}
