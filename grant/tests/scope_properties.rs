//! Property tests for the scope matcher: the one rule that decides who may call which
//! model, checked over generated scopes rather than a handful of examples.

#![cfg(not(target_arch = "wasm32"))]
// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use jitgate_grant::{GrantedScope, Scope};
use proptest::prelude::*;

/// Valid required scopes: a kind, a colon, and a resource from the allowed characters.
fn scope_text() -> impl Strategy<Value = String> {
    ("[a-z][a-z0-9_-]{0,8}", "[A-Za-z0-9._/:@+-]{1,24}")
        .prop_map(|(kind, resource)| format!("{kind}:{resource}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// An exact granted scope covers exactly one required scope: itself.
    #[test]
    fn exact_grant_covers_only_the_identical_scope(granted in scope_text(), required in scope_text()) {
        let grant = GrantedScope::parse(&granted).unwrap();
        let need = Scope::parse(&required).unwrap();
        prop_assert_eq!(grant.covers(&need), granted == required);
    }

    /// Appending anything to a required scope never keeps it covered by an exact grant —
    /// `inference:llama` never covers `inference:llama-evil`.
    #[test]
    fn exact_grant_never_covers_an_extension(base in scope_text(), suffix in "[A-Za-z0-9._/:@+-]{1,8}") {
        let grant = GrantedScope::parse(&base).unwrap();
        let extended = Scope::parse(&format!("{base}{suffix}")).unwrap();
        prop_assert!(!grant.covers(&extended));
    }

    /// A wildcard grant covers a required scope exactly when the scope starts with the text
    /// before the `*`.
    #[test]
    fn wildcard_covers_exactly_its_prefix(prefix in scope_text(), required in scope_text()) {
        let grant = GrantedScope::parse(&format!("{prefix}*")).unwrap();
        let need = Scope::parse(&required).unwrap();
        prop_assert_eq!(grant.covers(&need), required.starts_with(&prefix));
    }

    /// Required scopes never contain a wildcard, wherever it is put.
    #[test]
    fn required_scopes_refuse_wildcards(scope in scope_text(), at in 0usize..32) {
        let at = at.min(scope.len());
        let with_star = format!("{}*{}", &scope[..at], &scope[at..]);
        prop_assert!(Scope::parse(&with_star).is_err());
    }

    /// Parsing is total: arbitrary text gives a scope or an error naming a position inside
    /// (or just past) the text, never a panic.
    #[test]
    fn parse_errors_point_inside_the_text(text in "\\PC{0,40}") {
        if let Err(error) = GrantedScope::parse(&text) {
            prop_assert!(error.position <= text.chars().count().max(1));
        }
    }
}
