//! Spec files: parsing the Markdown format, substituting `{{prev.…}}` references, and matching
//! an actual response against the expected one (`"<any>"` matches any value). The format is
//! described in `tests/spec/README.md` and at the top of `spec.rs`.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The expected-response placeholder that matches any value.
pub(crate) const ANY: &str = "<any>";

/// One `## title` section: a request and its expected response.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) title: String,
    /// 1-based line of the `##` heading, for messages.
    pub(crate) line: usize,
    pub(crate) query: String,
    /// The `json variables` block, as written (may hold `{{prev.…}}` references).
    pub(crate) variables: Option<String>,
    pub(crate) response: Value,
}

/// A parsed spec file.
#[derive(Debug, Clone)]
pub(crate) struct SpecFile {
    pub(crate) path: PathBuf,
    /// File stem: `filters` for `filters.md`.
    pub(crate) name: String,
    pub(crate) cases: Vec<Case>,
}

/// Every `*.md` file of `dir` except `README.md`, sorted by name.
pub(crate) fn load_all(dir: &Path) -> Result<Vec<SpecFile>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cases = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(SpecFile { path, name, cases });
    }
    if files.is_empty() {
        return Err(format!("no spec files in {}", dir.display()));
    }
    Ok(files)
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Query,
    Variables,
    Response,
    /// Any other fenced block: documentation, ignored.
    Other,
}

struct Draft {
    title: String,
    line: usize,
    query: Option<String>,
    variables: Option<String>,
    response: Option<(usize, String)>,
}

impl Draft {
    fn finish(self) -> Result<Case, String> {
        let at = format!("line {} (`{}`)", self.line, self.title);
        let query = self
            .query
            .ok_or_else(|| format!("{at}: no ```graphql block"))?;
        let (line, text) = self
            .response
            .ok_or_else(|| format!("{at}: no ```json response block"))?;
        let response = serde_json::from_str(&text)
            .map_err(|e| format!("line {line}: the json response block is not JSON: {e}"))?;
        Ok(Case {
            title: self.title,
            line: self.line,
            query,
            variables: self.variables,
            response,
        })
    }
}

/// Parses one spec file into its cases, in order.
pub(crate) fn parse(text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let mut draft: Option<Draft> = None;
    // (kind, line of the opening fence, fence text, collected lines)
    let mut block: Option<(Block, usize, String, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some((kind, start, fence, lines)) = &mut block {
            if line.trim_end() == fence.as_str() {
                let body = lines.join("\n");
                let (kind, start) = (*kind, *start);
                block = None;
                if kind == Block::Other {
                    continue;
                }
                let d = draft.as_mut().ok_or_else(|| {
                    format!("line {start}: a spec block before the first `## ` case")
                })?;
                let slot = match kind {
                    Block::Query => &mut d.query,
                    Block::Variables => &mut d.variables,
                    Block::Response => {
                        if d.response.is_some() {
                            return Err(format!(
                                "line {start}: a second json response block in `{}`",
                                d.title
                            ));
                        }
                        d.response = Some((start, body));
                        continue;
                    }
                    Block::Other => continue,
                };
                if slot.is_some() {
                    return Err(format!(
                        "line {start}: a second block of this kind in `{}`",
                        d.title
                    ));
                }
                *slot = Some(body);
            } else {
                lines.push(line);
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            let fence: String = trimmed.chars().take_while(|c| *c == '`').collect();
            let info = trimmed[fence.len()..]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let kind = match info.as_str() {
                "graphql" => Block::Query,
                "json variables" => Block::Variables,
                "json response" => Block::Response,
                _ => Block::Other,
            };
            block = Some((kind, n, fence, Vec::new()));
        } else if let Some(title) = line.strip_prefix("## ") {
            if let Some(d) = draft.take() {
                cases.push(d.finish()?);
            }
            let title = title.trim().to_string();
            if cases.iter().any(|c: &Case| c.title == title) {
                return Err(format!("line {n}: duplicate case title `{title}`"));
            }
            draft = Some(Draft {
                title,
                line: n,
                query: None,
                variables: None,
                response: None,
            });
        }
    }
    if let Some((_, start, _, _)) = block {
        return Err(format!("line {start}: unclosed code block"));
    }
    if let Some(d) = draft.take() {
        cases.push(d.finish()?);
    }
    Ok(cases)
}

/// Replaces every `{{prev.a.b.0.c}}` in `text` with that value of the previous case's actual
/// response: a string's contents JSON-escaped without the quotes (so it can sit inside a
/// string literal of JSON or GraphQL), any other value as JSON.
pub(crate) fn substitute(text: &str, prev: Option<&Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unclosed `{{` reference".to_string())?;
        let reference = after[..end].trim();
        let path = reference.strip_prefix("prev.").ok_or_else(|| {
            format!("`{{{{{reference}}}}}`: only `prev.` references are supported")
        })?;
        let prev =
            prev.ok_or_else(|| format!("`{{{{{reference}}}}}`: there is no previous case"))?;
        let mut value = prev;
        for key in path.split('.') {
            let next = match value {
                Value::Object(map) => map.get(key),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            value = next.ok_or_else(|| {
                format!(
                    "`{{{{{reference}}}}}`: the previous response has nothing at `{key}`: {prev}"
                )
            })?;
        }
        match value {
            Value::String(s) => {
                let quoted = Value::String(s.clone()).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Compares an actual response with the expected one: `"<any>"` in `expected` matches any
/// value; everything else must be equal, including the order of object keys.
pub(crate) fn matches(expected: &Value, actual: &Value) -> bool {
    let masked = mask(expected, actual);
    serde_json::to_string(expected).ok() == serde_json::to_string(&masked).ok()
}

/// `actual` with every value that `expected` holds as `"<any>"` replaced by `"<any>"`.
fn mask(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::String(s), _) if s == ANY => Value::String(ANY.into()),
        (Value::Object(e), Value::Object(a)) => Value::Object(
            a.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        e.get(k).map_or_else(|| v.clone(), |ev| mask(ev, v)),
                    )
                })
                .collect(),
        ),
        (Value::Array(e), Value::Array(a)) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| e.get(i).map_or_else(|| v.clone(), |ev| mask(ev, v)))
                .collect(),
        ),
        _ => actual.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_cases_and_ignores_other_blocks() {
        let text = "# File\n\n```sql\nignored\n```\n\n## one\n\n```graphql\n{ a }\n```\n\n```json variables\n{\"x\": 1}\n```\n\n```json response\n{\"data\": {\"a\": 1}}\n```\n\n## two\n```graphql\n{ b }\n```\n```json response\n{}\n```\n";
        let cases = parse(text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].query, "{ a }");
        assert_eq!(cases[0].variables.as_deref(), Some("{\"x\": 1}"));
        assert_eq!(cases[1].line, 21);
    }

    #[test]
    fn any_matches_anything_and_key_order_counts() {
        let expected = json!({"a": "<any>", "b": [1, "<any>"]});
        assert!(matches(
            &expected,
            &json!({"a": {"deep": true}, "b": [1, null]})
        ));
        assert!(!matches(&expected, &json!({"b": [1, 2], "a": 3})));
        assert!(!matches(&expected, &json!({"a": 1, "b": [1]})));
        assert!(!matches(&expected, &json!({"a": 1, "b": [1, 2], "c": 3})));
    }

    #[test]
    fn substitutes_previous_values() {
        let prev = json!({"data": {"page": {"end": "ab\"c", "edges": [{"n": 7}]}}});
        let out = substitute(
            "{\"after\": \"{{prev.data.page.end}}\", \"n\": {{ prev.data.page.edges.0.n }}}",
            Some(&prev),
        );
        assert_eq!(out.unwrap(), "{\"after\": \"ab\\\"c\", \"n\": 7}");
        assert!(substitute("{{prev.data.nope}}", Some(&prev)).is_err());
        assert!(substitute("{{prev.data}}", None).is_err());
    }
}
