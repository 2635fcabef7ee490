//! Property test for the path check every request goes through: the one-pass `check_path`
//! must refuse exactly the paths the earlier, plainly written form refused (kept here as the
//! reference), over generated paths built from the characters that matter.

#![cfg(not(target_arch = "wasm32"))]
// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_grant::route::check_path;
use jitgate_grant::Reason;
use proptest::prelude::*;

/// The path check as first written: several scans and a lowercase copy.
fn reference(path: &str) -> Result<(), Reason> {
    if !path.starts_with('/') || path.contains("//") || path.contains('\\') {
        return Err(Reason::AmbiguousPath);
    }
    if path.chars().any(|c| c.is_control() || c == ' ' || c == '#') {
        return Err(Reason::AmbiguousPath);
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(Reason::AmbiguousPath);
    }
    let lowercase = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%25"]
        .iter()
        .any(|encoded| lowercase.contains(encoded))
    {
        return Err(Reason::AmbiguousPath);
    }
    let encoded_unreserved = path.as_bytes().windows(3).any(|window| {
        let [b'%', high, low] = *window else {
            return false;
        };
        let (Some(high), Some(low)) = ((high as char).to_digit(16), (low as char).to_digit(16))
        else {
            return false;
        };
        let decoded = char::from_u32(high * 16 + low).unwrap_or('\0');
        decoded.is_ascii_alphanumeric() || matches!(decoded, '-' | '.' | '_' | '~')
    });
    if encoded_unreserved {
        return Err(Reason::AmbiguousPath);
    }
    Ok(())
}

/// Paths over an alphabet dense in separators, dots, percent signs and hex digits, controls
/// (C0, DEL, C1), spaces and non-ASCII neighbours of the C1 range.
fn path() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        "/", "/", "/", ".", ".", "%", "%", "2", "e", "E", "f", "F", "5", "c", "C", "0", "6", "7",
        "a", "z", "G", "g", "-", "_", "~", "\\", " ", "#", "?", "\t", "\u{0}", "\u{7f}", "\u{80}",
        "\u{85}", "\u{9f}", "\u{a0}", "é", "v1", "chat",
    ]);
    prop::collection::vec(alphabet, 0..14).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn the_one_pass_check_refuses_exactly_what_the_reference_refuses(path in path()) {
        prop_assert_eq!(check_path(&path), reference(&path), "{:?}", path);
    }

    #[test]
    fn leading_slash_paths_agree_too(rest in path()) {
        let path = format!("/{rest}");
        prop_assert_eq!(check_path(&path), reference(&path), "{:?}", path);
    }
}
