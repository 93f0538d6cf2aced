//! The log: tracing events to stderr, one line per event, as text (the default) or JSON
//! (`--log-format json`, or `FRAISEQL_LOG_FORMAT=json`); `RUST_LOG` filters (default
//! `info`, PostgreSQL notices left out).
//!
//! Field values can carry client input: an operation name, a database message quoting a
//! value. In text output every value has its control characters escaped (`\n`, `\r`, `\t`,
//! `\u{1b}`, and the Unicode line separators), so a value with a newline cannot start a
//! forged line, and is cut at [`MAX_FIELD`] bytes. JSON output escapes by construction. The
//! server also clips client-derived values where it records them, for both formats.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, Writer};

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `timestamp LEVEL span{fields}: target: message key=value`, escaped.
    #[value(alias = "pretty")]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`, `span`).
    Json,
}

/// The most bytes of one field value a text log line shows.
const MAX_FIELD: usize = 4096;

/// Installs the global subscriber.
pub(crate) fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // PostgreSQL's NOTICEs (`DROP … IF EXISTS` of an idempotent install) are not news.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_postgres=warn"));
    // A closed stderr must not turn a log write into a panic.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(debug_fn(write_field).delimited(" "))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// One `key=value` (or the bare message) of a text line, escaped and clipped.
fn write_field(
    w: &mut Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn fmt::Debug,
) -> fmt::Result {
    let shown = escape(&format!("{value:?}"), MAX_FIELD);
    match field.name() {
        "message" => w.write_str(&shown),
        name => write!(w, "{}={shown}", name.strip_prefix("r#").unwrap_or(name)),
    }
}

/// `text` with control characters escaped, cut at `max` bytes of output.
fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 24);
    for (i, c) in text.char_indices() {
        if out.len() >= max {
            let _ = write!(out, "…[{} more bytes]", text.len() - i);
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape("a\nb\r\tc\u{1b}[31m\u{7f}\u{2028}\0", 100),
            "a\\nb\\r\\tc\\u{1b}[31m\\u{7f}\\u{2028}\\u{0}"
        );
        assert_eq!(escape("plain text, üñí", 100), "plain text, üñí");
    }

    #[test]
    fn long_values_are_clipped() {
        let long = "x".repeat(10_000);
        assert_eq!(
            escape(&long, 10),
            format!("{}…[9990 more bytes]", "x".repeat(10))
        );
    }
}
