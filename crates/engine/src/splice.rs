//! Joining JSON from several databases without parsing it into values. A statement marks each
//! relation into another database with `[marker, step, key]` (`sql/remote.rs`); [`Needle`]
//! finds them in the JSON text, and [`splice`] copies the text with each marker replaced by
//! the JSON read for its key. The marker is random per request and bound as a parameter, so
//! stored data cannot spell one, and the search is a substring scan, not a parse.
//!
//! A step whose database failed leaves a failure sentinel (a JSON string holding the marker)
//! in place of its value; [`take_failures`] then walks the finished text once, replaces each
//! sentinel by `null` and reports its path, so every affected field gets its own error.

use crate::error::PathSegment;
use serde_json::Value as Json;

/// One marker in a JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Byte range of the marker's array in the text.
    pub start: usize,
    pub end: usize,
    pub step: usize,
    /// The parent's key as text; `None` when it is null (nothing to read).
    pub key: Option<String>,
}

/// The text a request's markers are found by: its marker, quoted. Made once per request,
/// then searched for in every statement's JSON.
#[derive(Debug, Clone)]
pub struct Needle(String);

impl Needle {
    /// `None` for an empty marker (a plan without steps writes none).
    pub fn new(marker: &str) -> Option<Self> {
        (!marker.is_empty()).then(|| Self(format!("\"{marker}\"")))
    }

    /// Every marker in `text`, in text order.
    pub fn markers(&self, text: &str) -> Vec<Marker> {
        let needle = self.0.as_str();
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(found) = text[from..].find(needle) {
            let at = from + found;
            from = at + needle.len();
            if let Some(m) = parse_marker(text, at, at + needle.len()) {
                from = m.end;
                out.push(m);
            }
        }
        out
    }
}

/// The marker whose quoted marker string spans `quote..after`: `[` before it, then
/// `, step, key]` after it (databases differ only in whitespace).
fn parse_marker(text: &str, quote: usize, after: usize) -> Option<Marker> {
    let start = text[..quote].trim_end().strip_suffix('[')?.len();
    let rest = text[after..].trim_start().strip_prefix(',')?.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let step = rest[..digits].parse().ok()?;
    let rest = rest[digits..].trim_start().strip_prefix(',')?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Json>();
    let key = values.next()?.ok()?;
    let rest = rest[values.byte_offset()..]
        .trim_start()
        .strip_prefix(']')?;
    let key = match key {
        Json::Null => None,
        Json::String(s) => Some(s),
        other => Some(other.to_string()),
    };
    Some(Marker {
        start,
        end: text.len() - rest.len(),
        step,
        key,
    })
}

/// `text` with each of its `markers` (from [`Needle::markers`], in order) replaced by `value(m)`.
pub fn splice<'v>(text: &str, markers: &[Marker], value: impl Fn(&Marker) -> &'v str) -> String {
    let extra: usize = markers.iter().map(|m| value(m).len()).sum();
    let mut out = String::with_capacity(text.len() + extra);
    let mut at = 0;
    for m in markers {
        out.push_str(&text[at..m.start]);
        out.push_str(value(m));
        at = m.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The JSON a failed step leaves where its value would go: the marker and the failure's
/// number, as a string no stored value can spell.
pub fn failure(marker: &str, failure: usize) -> String {
    format!("\"{marker}!{failure}\"")
}

/// `text` (a root field's JSON) with every failure sentinel replaced by `null`, and each
/// sentinel's failure number with its path below the root field.
pub fn take_failures(text: &str, marker: &str) -> (String, Vec<(usize, Vec<PathSegment>)>) {
    let prefix = format!("{marker}!");
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    // One frame per open container: an object's current key or an array's current index.
    let mut frames: Vec<PathSegment> = Vec::new();
    let mut expecting_key = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                // The string's end: the next quote not escaped.
                let mut end = i + 1;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = j;
                        break;
                    }
                }
                let body = &text[i + 1..end];
                if expecting_key {
                    if let Some(PathSegment::Key(k)) = frames.last_mut() {
                        *k = serde_json::from_str(&text[i..=end]).unwrap_or_default();
                    }
                    out.push_str(&text[i..=end]);
                } else if let Some(n) = body.strip_prefix(&prefix).and_then(|n| n.parse().ok()) {
                    found.push((n, frames.clone()));
                    out.push_str("null");
                } else {
                    out.push_str(&text[i..=end]);
                }
                continue;
            }
            '{' => {
                frames.push(PathSegment::Key(String::new()));
                expecting_key = true;
            }
            '[' => {
                frames.push(PathSegment::Index(0));
                expecting_key = false;
            }
            '}' | ']' => {
                frames.pop();
                expecting_key = false;
            }
            ':' => expecting_key = false,
            ',' => match frames.last_mut() {
                Some(PathSegment::Index(n)) => *n += 1,
                Some(PathSegment::Key(_)) => expecting_key = true,
                None => {}
            },
            _ => {}
        }
        out.push(c);
    }
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "m0a1";

    #[test]
    fn markers_of_every_dialect_are_found_and_spliced() {
        // PostgreSQL and MariaDB put spaces after commas, SQLite does not.
        let text = r#"[{"id": 1, "c": ["m0a1", 0, "k1"]},{"id":2,"c":["m0a1",0,"k\"2"]},{"c":["m0a1", 3, null]},{"c":["m0a1", 1, 42]}]"#;
        let found = Needle::new(M).expect("a marker").markers(text);
        let keys: Vec<(usize, Option<&str>)> =
            found.iter().map(|m| (m.step, m.key.as_deref())).collect();
        assert_eq!(
            keys,
            [
                (0, Some("k1")),
                (0, Some("k\"2")),
                (3, None),
                (1, Some("42"))
            ]
        );
        let out = splice(text, &found, |m| match m.key.as_deref() {
            Some("k1") => r#"{"n":"one"}"#,
            Some(_) => "[]",
            None => "null",
        });
        assert_eq!(
            out,
            r#"[{"id": 1, "c": {"n":"one"}},{"id":2,"c":[]},{"c":null},{"c":[]}]"#
        );
    }

    #[test]
    fn stored_text_that_looks_like_a_marker_is_left_alone() {
        // A string value holding the marker is escaped (`\"`), and another marker is not ours.
        let text =
            r#"{"a": "[\"m0a1\", 0, \"k\"]", "b": ["other", 0, "k"], "c": ["m0a1x", 0, "k"]}"#;
        assert!(Needle::new(M).expect("a marker").markers(text).is_empty());
        assert!(Needle::new("").is_none());
    }

    #[test]
    fn failures_become_null_with_their_paths() {
        let text = format!(
            r#"[{{"id": 1, "c": {}}}, {{"x": {{"y": [0, {}]}}, "s": "a,b:{{"}}]"#,
            failure(M, 0),
            failure(M, 1)
        );
        let (out, found) = take_failures(&text, M);
        assert_eq!(
            out,
            r#"[{"id": 1, "c": null}, {"x": {"y": [0, null]}, "s": "a,b:{"}]"#
        );
        use PathSegment::*;
        assert_eq!(
            found,
            [
                (0, vec![Index(0), Key("c".into())]),
                (
                    1,
                    vec![Index(1), Key("x".into()), Key("y".into()), Index(1)]
                ),
            ]
        );
    }
}
