//! Route matching and the path check (`RouteTable::find`, `check_path`).
//!
//! Input: a mode byte, then either (odd) the raw `:path` text, checked against the test
//! policy's routes (seeds: the vectors' paths), or (even, `arbitrary`) a path built from
//! segments that include the usual tricks (dot segments, percent-encodings of dots, slashes
//! and letters, backslashes, empty segments, `;` parameters, `?` and `#`), a query, a
//! method, and a small route table.
//! Asserts, beyond "no panic":
//! - a path the gate accepts is already normal: the reference normaliser
//!   (`path_reference`: percent-decoding of unreserved characters and slashes, `\` to `/`,
//!   merged slashes, dot-segment removal) leaves it unchanged — so a normalising Envoy or
//!   upstream resolves the same route the gate matched;
//! - the query never changes the route: `find(p?q) == find(p)`;
//! - a prefix rule matches by whole segments only; an exact rule only its path;
//! - the first matching rule wins (compared with a linear reference scan).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use jitgate_fuzz::fixtures;
use jitgate_fuzz::path_reference::normalise;
use jitgate_grant::route::{check_path, PathMatch, RouteConfig, RouteTable};
use jitgate_grant::{Policy, Reason};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static POLICY: LazyLock<Policy> = LazyLock::new(fixtures::policy);

#[derive(Debug, Arbitrary)]
enum Segment {
    Name(u8),
    Text(String),
    Empty,
    Dot,
    DotDot,
    EncodedDot(bool),
    EncodedSlash(bool),
    EncodedBackslash,
    EncodedLetter(u8),
    EncodedPercent,
    Percent(u8, u8),
    Backslash,
    Parameter(u8),
    TrailingDot(u8),
}

#[derive(Debug, Arbitrary)]
struct Route {
    prefix: bool,
    segments: Vec<u8>,
    trailing_slash: bool,
    method: Option<bool>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    leading_slash: bool,
    segments: Vec<Segment>,
    query: Option<String>,
    post: bool,
    routes: Vec<Route>,
}

/// Real names from the policy, so random paths hit its routes.
const NAMES: &[&str] = &[
    "v1",
    "chat",
    "completions",
    "models",
    "datasets",
    "claims-2024",
    "fine_tuning",
    "jobs",
    "files",
    "files-admin",
    "healthz",
    "admin",
    "a",
    "A",
];

fn segment_text(segment: &Segment) -> String {
    match segment {
        Segment::Name(index) => NAMES[usize::from(*index) % NAMES.len()].to_owned(),
        Segment::Text(text) => text.clone(),
        Segment::Empty => String::new(),
        Segment::Dot => ".".into(),
        Segment::DotDot => "..".into(),
        Segment::EncodedDot(upper) => {
            if *upper {
                "%2E".into()
            } else {
                "%2e".into()
            }
        }
        Segment::EncodedSlash(upper) => {
            if *upper {
                "a%2Fb".into()
            } else {
                "a%2fb".into()
            }
        }
        Segment::EncodedBackslash => "a%5Cb".into(),
        Segment::EncodedLetter(byte) => format!("v%{:02X}", 0x41 + byte % 26),
        Segment::EncodedPercent => "%252e".into(),
        Segment::Percent(high, low) => format!("%{:X}{:X}", high % 16, low % 16),
        Segment::Backslash => "a\\b".into(),
        Segment::Parameter(index) => format!("{};x", NAMES[usize::from(*index) % NAMES.len()]),
        Segment::TrailingDot(index) => format!("{}.", NAMES[usize::from(*index) % NAMES.len()]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        // Raw mode: the text is `:path` as Envoy hands it over, against the test policy.
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let (path, query) = match text.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (text, None),
        };
        let method = if mode & 2 == 0 { "GET" } else { "POST" };
        check(path, query, method, &POLICY.routes);
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let texts: Vec<String> = input.segments.iter().map(segment_text).collect();
    let mut path = texts.join("/");
    if input.leading_slash {
        path.insert(0, '/');
    }
    let method = if input.post { "POST" } else { "GET" };
    // A `?` or `#` inside a generated segment is left in: `find` must split at the first `?`
    // exactly as `check` does here.
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (
            path.to_owned(),
            Some(format!(
                "{query}?{}",
                input.query.clone().unwrap_or_default()
            )),
        ),
        None => (path, input.query.clone()),
    };
    check(&path, query.as_deref(), method, &table(&input.routes));
    check(&path, query.as_deref(), method, &POLICY.routes);
});

/// The properties, for one path (without its query) against one table.
fn check(path: &str, query: Option<&str>, method: &str, table: &RouteTable) {
    let accepted = check_path(path).is_ok();
    if accepted {
        assert_eq!(
            normalise(path),
            path,
            "accepted a path a normaliser would change"
        );
    }
    let found = table.find(method, path);
    assert_eq!(
        found.is_ok(),
        accepted,
        "find and check_path disagree on {path:?}"
    );
    if let Some(query) = query {
        let with_query = format!("{path}?{query}");
        assert_eq!(
            table.find(method, &with_query),
            found,
            "the query changed the route"
        );
    }
    let Ok(found) = found else {
        assert_eq!(found, Err(Reason::AmbiguousPath));
        return;
    };
    let reference = table.rules().iter().find(|rule| {
        (rule.methods.is_empty() || rule.methods.iter().any(|m| m == method))
            && match &rule.path {
                PathMatch::Exact(exact) => exact == path,
                // `/v1/` covers what is below `/v1/`; `/v1` also `/v1` itself.
                PathMatch::Prefix(prefix) if prefix.ends_with('/') => {
                    path.starts_with(prefix.as_str())
                }
                PathMatch::Prefix(prefix) => {
                    path == prefix || path.starts_with(&format!("{prefix}/"))
                }
            }
    });
    assert_eq!(found, reference, "not the first matching rule for {path:?}");
}

/// A table from the arbitrary routes; rules that do not compile are left out, as a
/// configuration with them would be refused whole.
fn table(routes: &[Route]) -> RouteTable {
    let configs: Vec<RouteConfig> = routes
        .iter()
        .take(8)
        .map(|route| {
            let mut text: String = route
                .segments
                .iter()
                .take(4)
                .map(|index| format!("/{}", NAMES[usize::from(*index) % NAMES.len()]))
                .collect();
            if text.is_empty() || route.trailing_slash {
                text.push('/');
            }
            RouteConfig {
                name: None,
                methods: match route.method {
                    None => Vec::new(),
                    Some(true) => vec!["POST".into()],
                    Some(false) => vec!["GET".into()],
                },
                path: (!route.prefix).then(|| text.clone()),
                prefix: route.prefix.then_some(text),
                scope: None,
                public: true,
            }
        })
        .filter(|config| RouteTable::from_config(std::slice::from_ref(config)).is_ok())
        .collect();
    RouteTable::from_config(&configs).expect("rules that compile alone compile together")
}
