//! The scope grammar and the one matching rule.
//!
//! A scope is `kind:resource`, for example `inference:meta-llama/Llama-3.1-8B-Instruct`,
//! `training:llama-3-8b` or `dataset:claims-2024:read`. The grammar is deliberately narrow —
//! ASCII only, no spaces, no percent-encoding — so a scope has exactly one spelling and a
//! confusable or encoded variant is a parse error, never a near-match.
//!
//! A *granted* scope may end with `*` to cover every required scope that starts with what
//! comes before it; a *required* scope never contains `*`. Matching is exact and
//! case-sensitive. Nothing here ever guesses: anything that does not parse is rejected.

use std::fmt;

/// Longest scope accepted, in bytes.
pub const MAX_SCOPE_LENGTH: usize = 256;
/// Longest `kind` accepted, in bytes.
pub const MAX_KIND_LENGTH: usize = 32;

/// Why a scope string was rejected, with the offending scope and the 0-based character
/// position of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError {
    /// The scope as given.
    pub scope: String,
    /// 0-based character index of the problem.
    pub position: usize,
    /// What is wrong there.
    pub problem: ScopeProblem,
}

/// The kinds of scope grammar violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeProblem {
    /// The scope is the empty string.
    Empty,
    /// Longer than [`MAX_SCOPE_LENGTH`].
    TooLong,
    /// No `:` separates kind from resource.
    MissingColon,
    /// The kind is empty, too long, or does not start with a lowercase letter.
    BadKind,
    /// Nothing follows the `:`.
    EmptyResource,
    /// A character outside the allowed set.
    ForbiddenCharacter(char),
    /// `*` somewhere other than the last position of a granted scope.
    MisplacedWildcard,
    /// `*` in a required scope, which must name one thing exactly.
    WildcardInRequiredScope,
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scope {:?} is invalid at position {}: ",
            self.scope, self.position
        )?;
        match self.problem {
            ScopeProblem::Empty => f.write_str("it is empty"),
            ScopeProblem::TooLong => write!(f, "it is longer than {MAX_SCOPE_LENGTH} bytes"),
            ScopeProblem::MissingColon => f.write_str("expected `kind:resource`, found no ':'"),
            ScopeProblem::BadKind => write!(
                f,
                "the kind must be 1-{MAX_KIND_LENGTH} of [a-z0-9_-] starting with a lowercase letter"
            ),
            ScopeProblem::EmptyResource => f.write_str("nothing follows ':'"),
            ScopeProblem::ForbiddenCharacter(c) => write!(
                f,
                "character {c:?} (U+{:04X}) is not allowed; use ASCII letters, digits and . _ - / : @ +",
                c as u32
            ),
            ScopeProblem::MisplacedWildcard => {
                f.write_str("'*' is only allowed as the last character of a granted scope")
            }
            ScopeProblem::WildcardInRequiredScope => {
                f.write_str("a required scope names one resource exactly and cannot contain '*'")
            }
        }
    }
}

impl std::error::Error for ScopeError {}

/// A scope a request needs: never a wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

/// A scope a grant holds: exact, or ending in `*` to cover a suffix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantedScope(String);

impl Scope {
    /// Parses a required scope.
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        check_grammar(text, WildcardRule::Forbidden)?;
        Ok(Scope(text.to_owned()))
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl GrantedScope {
    /// Parses a granted scope.
    pub fn parse(text: &str) -> Result<GrantedScope, ScopeError> {
        check_grammar(text, WildcardRule::TrailingAllowed)?;
        Ok(GrantedScope(text.to_owned()))
    }

    /// Parses an RFC 6749 space-delimited scope list: single spaces between scopes, none
    /// leading or trailing, at least one scope. Duplicates are kept out.
    pub fn parse_list(text: &str) -> Result<Vec<GrantedScope>, ScopeError> {
        let mut scopes: Vec<GrantedScope> = Vec::new();
        let mut position = 0;
        for item in text.split(' ') {
            let scope = GrantedScope::parse(item).map_err(|mut error| {
                // Point at the position in the whole list, which is what the user typed.
                error.position += position;
                error.scope = text.to_owned();
                error
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
            position += item.chars().count() + 1;
        }
        Ok(scopes)
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a wildcard (`…*`) scope.
    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with('*')
    }

    /// Whether holding this scope satisfies `required`.
    ///
    /// Exact scopes cover only themselves; `inference:llama` never covers
    /// `inference:llama-evil`. A wildcard covers exactly the scopes that start with the text
    /// before its `*`.
    pub fn covers(&self, required: &Scope) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => required.0.starts_with(prefix),
            None => self.0 == required.0,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for GrantedScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether any of `granted` satisfies `required`.
pub fn any_covers(granted: &[GrantedScope], required: &Scope) -> bool {
    granted.iter().any(|scope| scope.covers(required))
}

/// Whether `c` may appear in a resource name (the part after the first `:`).
pub fn is_resource_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+')
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WildcardRule {
    Forbidden,
    TrailingAllowed,
}

fn check_grammar(text: &str, wildcard: WildcardRule) -> Result<(), ScopeError> {
    let fail = |position: usize, problem: ScopeProblem| ScopeError {
        scope: text.to_owned(),
        position,
        problem,
    };
    if text.is_empty() {
        return Err(fail(0, ScopeProblem::Empty));
    }
    if text.len() > MAX_SCOPE_LENGTH {
        return Err(fail(MAX_SCOPE_LENGTH, ScopeProblem::TooLong));
    }
    // Characters are checked before structure so that a confusable such as a Cyrillic 'а'
    // is reported as what it is, wherever it stands.
    let last = text.chars().count() - 1;
    for (index, c) in text.chars().enumerate() {
        if c == '*' {
            match wildcard {
                WildcardRule::Forbidden => {
                    return Err(fail(index, ScopeProblem::WildcardInRequiredScope))
                }
                WildcardRule::TrailingAllowed if index != last => {
                    return Err(fail(index, ScopeProblem::MisplacedWildcard))
                }
                WildcardRule::TrailingAllowed => {}
            }
        } else if !is_resource_char(c) {
            return Err(fail(index, ScopeProblem::ForbiddenCharacter(c)));
        }
    }
    let Some(colon) = text.find(':') else {
        return Err(fail(last + 1, ScopeProblem::MissingColon));
    };
    let kind = &text[..colon];
    let kind_ok = (1..=MAX_KIND_LENGTH).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !kind_ok {
        return Err(fail(0, ScopeProblem::BadKind));
    }
    if colon + 1 == text.len() {
        return Err(fail(colon + 1, ScopeProblem::EmptyResource));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn required(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_else(|error| panic!("{error}"))
    }

    fn granted(text: &str) -> GrantedScope {
        GrantedScope::parse(text).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn accepts_the_documented_examples() {
        for text in [
            "inference:meta-llama/Llama-3.1-8B-Instruct",
            "training:llama-3-8b",
            "dataset:claims-2024:read",
            "inference:gpt-4o@2024-08-06",
        ] {
            assert_eq!(required(text).as_str(), text);
        }
    }

    #[test]
    fn exact_scope_covers_only_itself() {
        assert!(granted("inference:llama").covers(&required("inference:llama")));
        assert!(!granted("inference:llama").covers(&required("inference:llama-evil")));
        assert!(!granted("inference:llama").covers(&required("inference:Llama")));
        assert!(!granted("inference:llama-evil").covers(&required("inference:llama")));
    }

    #[test]
    fn wildcard_covers_its_suffixes_only() {
        let wildcard = granted("inference:meta-llama/*");
        assert!(wildcard.covers(&required("inference:meta-llama/Llama-3.1-8B")));
        assert!(!wildcard.covers(&required("inference:meta-llamas/x")));
        assert!(!wildcard.covers(&required("training:meta-llama/x")));
        assert!(granted("inference:*").covers(&required("inference:anything")));
    }

    #[test]
    fn wildcards_are_refused_in_required_scopes_and_mid_scope() {
        let error = Scope::parse("inference:*").unwrap_err();
        assert_eq!(error.problem, ScopeProblem::WildcardInRequiredScope);
        assert_eq!(error.position, 10);
        let error = GrantedScope::parse("inference:*llama").unwrap_err();
        assert_eq!(error.problem, ScopeProblem::MisplacedWildcard);
        assert_eq!(
            GrantedScope::parse("*").unwrap_err().problem,
            ScopeProblem::MissingColon
        );
    }

    #[test]
    fn errors_name_scope_position_and_character() {
        // U+0430 CYRILLIC SMALL LETTER A, a classic confusable for 'a'.
        let error = Scope::parse("inference:ll\u{430}ma").unwrap_err();
        assert_eq!(error.position, 12);
        assert_eq!(error.problem, ScopeProblem::ForbiddenCharacter('\u{430}'));
        assert_eq!(
            error.to_string(),
            "scope \"inference:llаma\" is invalid at position 12: character 'а' (U+0430) is not \
             allowed; use ASCII letters, digits and . _ - / : @ +"
        );
    }

    #[test]
    fn structure_errors() {
        assert_eq!(Scope::parse("").unwrap_err().problem, ScopeProblem::Empty);
        assert_eq!(
            Scope::parse("inference").unwrap_err().problem,
            ScopeProblem::MissingColon
        );
        assert_eq!(
            Scope::parse(":llama").unwrap_err().problem,
            ScopeProblem::BadKind
        );
        assert_eq!(
            Scope::parse("Inference:x").unwrap_err().problem,
            ScopeProblem::BadKind
        );
        assert_eq!(
            Scope::parse("inference:").unwrap_err().problem,
            ScopeProblem::EmptyResource
        );
        assert_eq!(
            Scope::parse("inference:a b").unwrap_err().problem,
            ScopeProblem::ForbiddenCharacter(' ')
        );
        assert_eq!(
            Scope::parse("inference:%2e").unwrap_err().problem,
            ScopeProblem::ForbiddenCharacter('%')
        );
        let long = format!("inference:{}", "a".repeat(MAX_SCOPE_LENGTH));
        assert_eq!(
            Scope::parse(&long).unwrap_err().problem,
            ScopeProblem::TooLong
        );
    }

    #[test]
    fn scope_lists_are_single_space_delimited() {
        let list =
            GrantedScope::parse_list("inference:a training:b inference:a").unwrap_or_default();
        assert_eq!(list, vec![granted("inference:a"), granted("training:b")]);
        let error = GrantedScope::parse_list("inference:a  training:b").unwrap_err();
        assert_eq!(error.problem, ScopeProblem::Empty);
        assert_eq!(error.position, 12);
        assert_eq!(
            GrantedScope::parse_list("").unwrap_err().problem,
            ScopeProblem::Empty
        );
        let error = GrantedScope::parse_list("inference:a training:b\t").unwrap_err();
        assert_eq!(error.position, 22);
    }
}
