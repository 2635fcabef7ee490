//! Turning Cedar's diagnostics into precise one-line errors: `file:line:column: message
//! (help)`, one per problem, so an operator can fix a policy without a Cedar tool at hand.

use std::path::Path;

use miette::Diagnostic;

/// Renders `diagnostic` (and any related ones) against `source`, the text it points into.
pub fn render(diagnostic: &dyn Diagnostic, source: &str, file: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let related: Vec<&dyn Diagnostic> = diagnostic
        .related()
        .map(|related| related.collect())
        .unwrap_or_default();
    lines.push(render_one(diagnostic, source, file));
    for other in related {
        lines.push(render_one(other, source, file));
    }
    lines
}

fn render_one(diagnostic: &dyn Diagnostic, source: &str, file: &Path) -> String {
    let location = diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| {
            let (line, column) = line_and_column(source, label.offset());
            format!("{}:{line}:{column}: ", file.display())
        })
        .unwrap_or_else(|| format!("{}: ", file.display()));
    let help = diagnostic
        .help()
        .map(|help| format!(" ({help})"))
        .unwrap_or_default();
    format!("{location}{diagnostic}{help}")
}

/// 1-based line and column of byte `offset` in `source`.
pub fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset.min(source.len())).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, rest)| rest)
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_line_and_column() {
        let text = "ab\ncde\nf";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 4), (2, 2));
        assert_eq!(line_and_column(text, 7), (3, 1));
        assert_eq!(line_and_column(text, 100), (3, 2));
    }
}
