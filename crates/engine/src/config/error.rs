//! The one error `config::load` returns: every problem found in a config file, each with
//! its position and key path, so a user fixes them all in one pass instead of one per run.

use std::fmt::Write as _;
use std::ops::Range;

/// Everything wrong with one config file. `Display` prints one problem per line, each
/// prefixed with `origin:line:col:` (or `origin:` when the problem has no position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(&self.origin, &self.problems))]
pub struct ConfigError {
    /// Where the text came from (usually the file name), as printed before each problem.
    pub origin: String,
    /// The problems, sorted by position; problems without a position come last.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// Builds an error from collected problems, sorted so the output follows the file.
    pub(crate) fn new(origin: &str, mut problems: Vec<Problem>) -> Self {
        // A stable sort keeps problems at the same spot (or without one) in discovery order.
        problems.sort_by_key(|p| {
            p.location
                .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
        });
        Self {
            origin: origin.to_owned(),
            problems,
        }
    }
}

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
    /// Where in the file, when the problem is tied to a spot in it.
    pub location: Option<Location>,
    /// The dotted key path involved, e.g. `databases.primary.url`.
    pub path: Option<String>,
}

impl Problem {
    /// A problem with a message only; position and path are added by the builder methods.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            location: None,
            path: None,
        }
    }

    /// Sets the key path.
    pub(crate) fn at_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets the position from a byte span of `text` (its start is what is reported).
    pub(crate) fn at_span(mut self, text: &str, span: Option<Range<usize>>) -> Self {
        if let Some(span) = span {
            self.location = Some(Location::of(text, span.start));
        }
        self
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Location {
    /// The line and column of byte `offset` in `text`; offsets past the end clamp to it.
    pub(crate) fn of(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

fn render(origin: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // Writing into a String cannot fail.
        let _ = match p.location {
            Some(l) => write!(out, "{origin}:{}:{}: {}", l.line, l.column, p.message),
            None => write!(out, "{origin}: {}", p.message),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let text = "a = 1\nné = 2\n";
        assert_eq!(Location::of(text, 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of(text, 6), Location { line: 2, column: 1 });
        // `é` is two bytes but one column.
        assert_eq!(Location::of(text, 9), Location { line: 2, column: 3 });
        assert_eq!(Location::of(text, 999), Location { line: 3, column: 1 });
    }

    #[test]
    fn display_is_one_problem_per_line_in_file_order() {
        let text = "a\nb\n";
        let err = ConfigError::new(
            "f.toml",
            vec![
                Problem::new("no position"),
                Problem::new("second").at_span(text, Some(2..3)),
                Problem::new("first").at_span(text, Some(0..1)),
            ],
        );
        assert_eq!(
            err.to_string(),
            "f.toml:1:1: first\nf.toml:2:1: second\nf.toml: no position"
        );
    }
}
