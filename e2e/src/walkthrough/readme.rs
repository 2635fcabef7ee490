//! The README's walkthrough as data: the `console` blocks between `<!-- walkthrough -->` and
//! `<!-- /walkthrough -->`, each `$ command` with the output shown under it. Parsing keeps
//! every line's position, so the test can write real output back in place (bless mode).
//!
//! A command runs on from a line ending in `\` to the next, and from a heredoc opener
//! (`<<'EOF'`) to its terminator line; everything after it up to the next `$ ` line or the
//! end of the block is its expected output.

use crate::error::{Error, Result};

/// Marks where the tested walkthrough starts and ends in the README.
pub const BEGIN_MARKER: &str = "<!-- walkthrough -->";
/// See [`BEGIN_MARKER`].
pub const END_MARKER: &str = "<!-- /walkthrough -->";
/// The prompt a command line starts with.
const PROMPT: &str = "$ ";

/// One command and what the README says it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The command as typed (without the prompt), possibly several lines.
    pub command: String,
    /// The output lines shown under it.
    pub expected: Vec<String>,
    /// Line index (0-based) of the command's first line in the README.
    first_line: usize,
    /// Line index one past the last output line.
    end_line: usize,
}

/// Every step of the walkthrough, in order.
pub fn parse(readme: &str) -> Result<Vec<Step>> {
    let lines: Vec<&str> = readme.lines().collect();
    let begin = position(&lines, BEGIN_MARKER)?;
    let end = position(&lines, END_MARKER)?;
    if end < begin {
        return Err(Error::Usage(format!(
            "README: {END_MARKER} comes before {BEGIN_MARKER}"
        )));
    }
    let mut steps = Vec::new();
    let mut index = begin;
    while index < end {
        if lines[index].trim_end() != "```console" {
            index += 1;
            continue;
        }
        index += 1;
        let mut current: Option<Step> = None;
        while index < end && lines[index].trim_end() != "```" {
            let line = lines[index];
            if let Some(command) = line.strip_prefix(PROMPT) {
                steps.extend(current.take());
                let first_line = index;
                let mut text = command.to_owned();
                let mut heredoc = heredoc_terminator(command);
                while text.ends_with('\\') || heredoc.is_some() {
                    index += 1;
                    let Some(next) = lines.get(index).filter(|_| index < end) else {
                        return Err(Error::Usage(format!(
                            "README line {}: the command never ends",
                            first_line + 1
                        )));
                    };
                    text.push('\n');
                    text.push_str(next);
                    if heredoc.as_deref() == Some(next.trim_end()) {
                        heredoc = None;
                    } else if heredoc.is_none() {
                        heredoc = heredoc_terminator(next);
                    }
                }
                current = Some(Step {
                    command: text,
                    expected: Vec::new(),
                    first_line,
                    end_line: index + 1,
                });
            } else if let Some(step) = current.as_mut() {
                step.expected.push(line.to_owned());
                step.end_line = index + 1;
            } else if !line.trim().is_empty() {
                return Err(Error::Usage(format!(
                    "README line {}: output before any `$ ` command in a console block",
                    index + 1
                )));
            }
            index += 1;
        }
        steps.extend(current.take());
        index += 1;
    }
    Ok(steps)
}

/// The README with each step's output replaced by `outputs[i]` and its command by
/// `commands[i]` (bless mode: real ids, real output).
pub fn rewrite(readme: &str, steps: &[Step], commands: &[String], outputs: &[String]) -> String {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut next = 0;
    for ((step, command), output) in steps.iter().zip(commands).zip(outputs) {
        out.extend(
            lines[next..step.first_line]
                .iter()
                .map(|line| (*line).to_owned()),
        );
        let mut command_lines = command.lines();
        if let Some(first) = command_lines.next() {
            out.push(format!("{PROMPT}{first}"));
        }
        out.extend(command_lines.map(str::to_owned));
        out.extend(
            output
                .trim_end()
                .lines()
                .filter(|_| !output.trim().is_empty())
                .map(|line| line.trim_end().to_owned()),
        );
        next = step.end_line;
    }
    out.extend(lines[next..].iter().map(|line| (*line).to_owned()));
    out.join("\n") + "\n"
}

fn position(lines: &[&str], marker: &str) -> Result<usize> {
    lines
        .iter()
        .position(|line| line.trim() == marker)
        .ok_or_else(|| Error::Usage(format!("README has no {marker} line")))
}

/// `EOF` for a line holding `<<'EOF'`, `<<"EOF"` or `<<EOF`.
fn heredoc_terminator(line: &str) -> Option<String> {
    let after = line
        .split("<<")
        .nth(1)?
        .trim_start_matches('-')
        .trim_start();
    let word: String = after
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "intro\n\
        ```console\n$ not tested\n```\n\
        <!-- walkthrough -->\n\
        text\n\
        ```console\n\
        $ echo one\n\
        one\n\
        $ long \\\n  --flag\n\
        $ python3 - <<'EOF'\nprint(1)\nEOF\n\
        1\n\
        ```\n\
        <!-- /walkthrough -->\n\
        tail\n";

    #[test]
    fn commands_outputs_continuations_and_heredocs() {
        let steps = parse(README).unwrap();
        let commands: Vec<&str> = steps.iter().map(|step| step.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "echo one",
                "long \\\n  --flag",
                "python3 - <<'EOF'\nprint(1)\nEOF"
            ]
        );
        assert_eq!(steps[0].expected, ["one"]);
        assert!(steps[1].expected.is_empty());
        assert_eq!(steps[2].expected, ["1"]);
    }

    #[test]
    fn rewriting_with_the_same_text_changes_nothing() {
        let steps = parse(README).unwrap();
        let commands: Vec<String> = steps.iter().map(|step| step.command.clone()).collect();
        let outputs: Vec<String> = steps.iter().map(|step| step.expected.join("\n")).collect();
        assert_eq!(rewrite(README, &steps, &commands, &outputs), README);
    }

    #[test]
    fn rewriting_replaces_outputs_in_place() {
        let steps = parse(README).unwrap();
        let commands: Vec<String> = steps.iter().map(|step| step.command.clone()).collect();
        let outputs = ["uno\ndos".to_owned(), String::new(), "1".to_owned()];
        let rewritten = rewrite(README, &steps, &commands, &outputs);
        assert!(
            rewritten.contains("$ echo one\nuno\ndos\n$ long"),
            "{rewritten}"
        );
    }

    #[test]
    fn a_missing_marker_is_an_error() {
        assert!(parse("no markers").is_err());
    }
}
