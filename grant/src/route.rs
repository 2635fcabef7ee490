//! Route rules: which scope a request needs, decided by its method and path (and, for
//! OpenAI-style APIs, the `model` in its JSON body).
//!
//! Rules are tried in order and the first match wins, like Envoy's own routes. A rule is
//! public, or requires a scope given as a template such as `inference:{model}`. No match
//! means deny (or, if configured, "any valid grant").
//!
//! Paths are matched as Envoy hands them over, so the listener must normalise them
//! (`normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`). As a second line
//! of defence, a path that is not in normal form — dot segments, `//`, percent-encoded
//! `/` or `\`, percent-encoded unreserved characters (`%2e`, `%41`: RFC 3986 §6.2.2.2 says a
//! normaliser decodes them, so `/v1/%66iles` is `/v1/files` to the upstream), backslashes,
//! control characters — is refused as `ambiguous_path`
//! instead of being matched, because two parsers disagreeing about a path is how prefix
//! rules get bypassed. Prefix rules match whole segments: `/v1/files` matches `/v1/files`
//! and `/v1/files/x`, never `/v1/files-admin`.

use serde::Deserialize;

use crate::reason::Reason;
use crate::scope::{is_resource_char, Scope};

/// One route rule as written in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A name for logs and metrics.
    #[serde(default)]
    pub name: Option<String>,
    /// HTTP methods (uppercase); empty or absent means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Match this path exactly.
    #[serde(default)]
    pub path: Option<String>,
    /// Match this path and everything below it.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The scope template required, e.g. `inference:{model}`.
    #[serde(default)]
    pub scope: Option<String>,
    /// No token needed.
    #[serde(default)]
    pub public: bool,
}

/// A configuration problem, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, such as `routes[2].scope`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for FieldError {}

/// How a rule matches paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole path, exactly.
    Exact(String),
    /// The path or anything below it, by whole segments.
    Prefix(String),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(exact) => path == exact,
            PathMatch::Prefix(prefix) if prefix.ends_with('/') => path.starts_with(prefix.as_str()),
            PathMatch::Prefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

/// What a matching rule demands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAction {
    /// No token needed.
    Public,
    /// A grant covering this scope.
    Require(ScopeTemplate),
}

/// A required-scope template: literal text with optional `{model}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeTemplate {
    template: String,
    /// The scope itself when the template has no placeholder.
    fixed: Option<Scope>,
}

impl ScopeTemplate {
    /// Parses and checks a template: only `{model}` may appear in braces, and the template
    /// must yield a valid, wildcard-free scope.
    pub fn parse(template: &str) -> Result<ScopeTemplate, String> {
        let without = template.replace("{model}", "m");
        if without.contains(['{', '}']) {
            return Err(format!("{template:?}: the only placeholder is {{model}}"));
        }
        let scope = Scope::parse(&without)
            .map_err(|error| format!("{template:?} does not yield a valid scope ({error})"))?;
        let fixed = (!template.contains("{model}")).then_some(scope);
        Ok(ScopeTemplate {
            template: template.to_owned(),
            fixed,
        })
    }

    /// Whether the template needs the request's model name.
    pub fn needs_model(&self) -> bool {
        self.template.contains("{model}")
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// The scope for a request, filling `{model}`. The model name must itself be a valid
    /// scope resource (same characters, no `*`), so a model name cannot smuggle a wildcard
    /// or a second scope into the check.
    pub fn fill(&self, model: Option<&str>) -> Result<Scope, Reason> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let model = model.ok_or(Reason::ModelMissing)?;
        if model.is_empty() || !model.chars().all(is_resource_char) {
            return Err(Reason::ModelInvalid);
        }
        Scope::parse(&self.template.replace("{model}", model)).map_err(|_| Reason::ModelInvalid)
    }
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// Name for logs and metrics (defaults to the path).
    pub name: String,
    /// Allowed methods; empty means any.
    pub methods: Vec<String>,
    /// Path matcher.
    pub path: PathMatch,
    /// What it demands.
    pub action: RouteAction,
}

impl RouteRule {
    /// Compiles one configured rule; `index` is its position, for error messages.
    pub fn from_config(index: usize, config: &RouteConfig) -> Result<RouteRule, FieldError> {
        let field = |name: &str, problem: String| FieldError {
            field: format!("routes[{index}].{name}"),
            problem,
        };
        let path = match (&config.path, &config.prefix) {
            (Some(path), None) => PathMatch::Exact(path.clone()),
            (None, Some(prefix)) => PathMatch::Prefix(prefix.clone()),
            _ => {
                return Err(field(
                    "path",
                    "give exactly one of \"path\" and \"prefix\"".into(),
                ))
            }
        };
        let (PathMatch::Exact(text) | PathMatch::Prefix(text)) = &path;
        if check_path(text).is_err() {
            let name = if config.path.is_some() {
                "path"
            } else {
                "prefix"
            };
            return Err(field(
                name,
                format!("{text:?} is not a normalised absolute path"),
            ));
        }
        for method in &config.methods {
            if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(field(
                    "methods",
                    format!("{method:?} is not an uppercase HTTP method"),
                ));
            }
        }
        let action = match (&config.scope, config.public) {
            (Some(_), true) => {
                return Err(field(
                    "public",
                    "a public route cannot also require a scope".into(),
                ))
            }
            (None, false) => {
                return Err(field(
                    "scope",
                    "give a scope template, or \"public\": true".into(),
                ))
            }
            (None, true) => RouteAction::Public,
            (Some(template), false) => RouteAction::Require(
                ScopeTemplate::parse(template).map_err(|problem| field("scope", problem))?,
            ),
        };
        Ok(RouteRule {
            name: config.name.clone().unwrap_or_else(|| text.clone()),
            methods: config.methods.clone(),
            path,
            action,
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && self.path.matches(path)
    }
}

/// The ordered rule list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    rules: Vec<RouteRule>,
}

impl RouteTable {
    /// Compiles configured rules, failing on the first bad one.
    pub fn from_config(configs: &[RouteConfig]) -> Result<RouteTable, FieldError> {
        let rules = configs
            .iter()
            .enumerate()
            .map(|(index, config)| RouteRule::from_config(index, config))
            .collect::<Result<_, _>>()?;
        Ok(RouteTable { rules })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// The first rule matching `method` and the path part of `path_and_query`, or the
    /// reason the path cannot be matched at all.
    pub fn find(&self, method: &str, path_and_query: &str) -> Result<Option<&RouteRule>, Reason> {
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(path, _query)| path);
        check_path(path)?;
        Ok(self.rules.iter().find(|rule| rule.matches(method, path)))
    }
}

/// Refuses paths that are not in the normal form Envoy produces when configured as
/// documented: a path must start with `/`, and may not hold `//`, `\`, a control character,
/// a space, `#`, a `.` or `..` segment, or a percent-encoding of `.`, `/`, `\`, NUL, `%` or
/// of any unreserved character (RFC 3986 §2.3: letters, digits, `-`, `.`, `_`, `~`; found
/// by the `route_match` fuzz target: the route table compared `/v1/%66iles` as written,
/// while a normalising upstream serves `/v1/files`).
///
/// One pass over the bytes, on every request: the earlier form (several scans, a lowercase
/// copy and a sliding window) cost 1.9k of a cached decision's 9k instructions (callgrind,
/// `bench/hot-path cached`). A property test holds it to that form on arbitrary paths.
pub fn check_path(path: &str) -> Result<(), Reason> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(Reason::AmbiguousPath);
    }
    let mut segment_start = 1;
    let mut index = 1;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'/' => {
                if is_dot_segment(&bytes[segment_start..index]) || index == segment_start {
                    // `index == segment_start`: an empty segment, i.e. `//`.
                    return Err(Reason::AmbiguousPath);
                }
                segment_start = index + 1;
            }
            b'\\' | b' ' | b'#' | 0x00..=0x1f | 0x7f => return Err(Reason::AmbiguousPath),
            // U+0080–U+009F, the C1 controls, are 0xC2 0x80–0x9F in UTF-8.
            0xc2 if bytes
                .get(index + 1)
                .is_some_and(|next| (0x80..=0x9f).contains(next)) =>
            {
                return Err(Reason::AmbiguousPath);
            }
            b'%' => {
                if let (Some(high), Some(low)) = (
                    bytes.get(index + 1).and_then(|b| hex_digit(*b)),
                    bytes.get(index + 2).and_then(|b| hex_digit(*b)),
                ) {
                    if is_refused_encoding(high * 16 + low) {
                        return Err(Reason::AmbiguousPath);
                    }
                }
            }
            _ => {}
        }
        index += 1;
    }
    if is_dot_segment(&bytes[segment_start..]) {
        return Err(Reason::AmbiguousPath);
    }
    Ok(())
}

fn is_dot_segment(segment: &[u8]) -> bool {
    segment == b"." || segment == b".."
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-encoded bytes a path may not carry: `.`, `/`, `\`, NUL and `%` (an encoded
/// separator or dot segment, or a second round of decoding), and every unreserved character.
fn is_refused_encoding(decoded: u8) -> bool {
    matches!(decoded, b'.' | b'/' | b'\\' | 0 | b'%' | b'-' | b'_' | b'~')
        || decoded.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn rule(json: serde_json::Value) -> RouteConfig {
        serde_json::from_value(json).unwrap()
    }

    fn table() -> RouteTable {
        RouteTable::from_config(&[
            rule(serde_json::json!({"methods": ["GET"], "path": "/v1/models", "public": true})),
            rule(serde_json::json!({"methods": ["POST"], "path": "/v1/chat/completions", "scope": "inference:{model}"})),
            rule(serde_json::json!({"prefix": "/v1/files", "scope": "dataset:files"})),
        ])
        .unwrap()
    }

    #[test]
    fn first_match_by_method_and_path() {
        let table = table();
        assert_eq!(
            table
                .find("GET", "/v1/models")
                .unwrap()
                .map(|r| r.action.clone()),
            Some(RouteAction::Public)
        );
        assert!(table.find("POST", "/v1/models").unwrap().is_none());
        assert!(table
            .find("POST", "/v1/chat/completions?stream=true")
            .unwrap()
            .is_some());
        assert!(table
            .find("POST", "/v1/chat/completions/")
            .unwrap()
            .is_none());
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let table = table();
        assert!(table.find("GET", "/v1/files").unwrap().is_some());
        assert!(table.find("GET", "/v1/files/abc").unwrap().is_some());
        assert!(table.find("GET", "/v1/files-admin").unwrap().is_none());
    }

    #[test]
    fn paths_not_in_normal_form_are_refused() {
        let table = table();
        for path in [
            "/v1/files/../admin",
            "/v1/./files",
            "/v1//files",
            "/v1/files%2Fx",
            "/v1/%2e%2e/admin",
            "/v1\\files",
            "v1/files",
            "/v1/files\u{0}",
            "/v1/fi les",
            "/v1/files#frag",
            "/v1/%252e",
            "/v1/%66iles",
            "/v1/fi%6Ces/x",
            "/v%31/files",
            "/v1/files%2Dadmin",
            "/v1/files/%7E",
            "/v1/files/%5F",
        ] {
            assert_eq!(
                table.find("GET", path),
                Err(Reason::AmbiguousPath),
                "{path:?}"
            );
        }
        assert!(
            table.find("GET", "/v1/files?x=%2F..").is_ok(),
            "the query is not the path"
        );
        assert!(
            table.find("GET", "/v1/files/caf%C3%A9%20x%3B").is_ok(),
            "characters that must be encoded stay accepted"
        );
    }

    #[test]
    fn templates_fill_from_a_valid_model_only() {
        let template = ScopeTemplate::parse("inference:{model}").unwrap();
        assert_eq!(
            template
                .fill(Some("meta-llama/Llama-3.1-8B"))
                .unwrap()
                .as_str(),
            "inference:meta-llama/Llama-3.1-8B"
        );
        assert_eq!(template.fill(None), Err(Reason::ModelMissing));
        assert_eq!(template.fill(Some("")), Err(Reason::ModelInvalid));
        assert_eq!(template.fill(Some("llama*")), Err(Reason::ModelInvalid));
        assert_eq!(
            template.fill(Some("llama inference:other")),
            Err(Reason::ModelInvalid)
        );
        assert_eq!(
            template.fill(Some("ll\u{430}ma")),
            Err(Reason::ModelInvalid)
        );
    }

    #[test]
    fn bad_rules_name_their_field() {
        let error = RouteTable::from_config(&[
            rule(serde_json::json!({"path": "/a", "public": true})),
            rule(serde_json::json!({"path": "/b", "scope": "inference:*"})),
        ])
        .unwrap_err();
        assert_eq!(error.field, "routes[1].scope");
        let error = RouteRule::from_config(
            0,
            &rule(serde_json::json!({"path": "/a", "prefix": "/b", "public": true})),
        )
        .unwrap_err();
        assert_eq!(error.field, "routes[0].path");
        let error = RouteRule::from_config(
            0,
            &rule(serde_json::json!({"path": "/a", "scope": "inference:{name}"})),
        )
        .unwrap_err();
        assert_eq!(error.field, "routes[0].scope");
        let error = RouteRule::from_config(
            0,
            &rule(serde_json::json!({"path": "/a/../b", "public": true})),
        )
        .unwrap_err();
        assert_eq!(error.field, "routes[0].path");
        let error = RouteRule::from_config(
            0,
            &rule(serde_json::json!({"path": "/a", "methods": ["get"], "public": true})),
        )
        .unwrap_err();
        assert_eq!(error.field, "routes[0].methods");
        assert!(serde_json::from_value::<RouteConfig>(
            serde_json::json!({"path": "/a", "pubic": true})
        )
        .is_err());
    }
}
