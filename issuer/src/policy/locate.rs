//! Where an annotation is in the policy text, so annotation errors point at `file:line:column`
//! like Cedar's own diagnostics do. Cedar keeps no source location on a parsed policy's
//! annotations, so the text is scanned: policies are counted by the `;` that ends each one,
//! outside comments and string literals (Cedar names the n-th policy of a file `policy<n>`).

/// The 1-based line and column of `@key` on policy number `index` (0-based) of `text`; of the
/// policy's first character when the annotation is not found; `None` when there is no such
/// policy.
pub fn annotation(text: &str, index: usize, key: &str) -> Option<(usize, usize)> {
    let mut policy = 0;
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '/' if chars.peek().map(|(_, next)| *next) == Some('/') => {
                for (_, skipped) in chars.by_ref() {
                    if skipped == '\n' {
                        break;
                    }
                }
                continue;
            }
            '"' => {
                // A string literal: nothing in it ends a policy or starts an annotation.
                while let Some((_, inside)) = chars.next() {
                    match inside {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                if policy == index {
                    start.get_or_insert(at);
                }
                continue;
            }
            c if c.is_whitespace() => continue,
            _ => {}
        }
        if policy == index {
            start.get_or_insert(at);
            if c == '@' && name_at(text, at + 1) == key {
                return Some(super::diagnostics::line_and_column(text, at));
            }
        }
        if c == ';' {
            if policy == index {
                break;
            }
            policy += 1;
        }
    }
    start.map(|at| super::diagnostics::line_and_column(text, at))
}

/// The identifier starting at byte `at`.
fn name_at(text: &str, at: usize) -> &str {
    let rest = text.get(at..).unwrap_or("");
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The index Cedar gave a policy parsed from a file (`policy3` → 3).
pub fn index_of(policy_id: &str) -> Option<usize> {
    policy_id.strip_prefix("policy")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "// @max_tokens(\"1\") in a comment; not a policy\n\
        @id(\"a;b\") @approvals(\"1\")\n\
        permit (principal, action, resource);\n\
        \n\
        @id(\"second\")\n\
        @max_requests(\"x\")\n\
        permit (principal, action, resource) when { context.reason == \"@max_requests;\" };\n";

    #[test]
    fn finds_the_annotation_of_the_right_policy() {
        assert_eq!(annotation(TEXT, 0, "approvals"), Some((2, 12)));
        assert_eq!(annotation(TEXT, 1, "max_requests"), Some((6, 1)));
        assert_eq!(annotation(TEXT, 1, "id"), Some((5, 1)));
    }

    #[test]
    fn falls_back_to_the_policy_start_and_knows_when_there_is_none() {
        assert_eq!(annotation(TEXT, 0, "max_tokens"), Some((2, 1)));
        assert_eq!(annotation(TEXT, 2, "id"), None);
    }

    #[test]
    fn reads_cedar_policy_ids() {
        assert_eq!(index_of("policy12"), Some(12));
        assert_eq!(index_of("custom"), None);
    }
}
