//! The parsed, spanned TOML document the loader works on before serde sees it, and the few
//! walks it makes over it: find the key behind an error span, drop a bad key so the rest can
//! still be checked, and find where a key path was written.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A key path from the document root, one segment per table level.
pub(crate) type KeyPath = Vec<String>;

/// What an error span pointed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hit {
    /// The key itself (unknown keys are reported on the key).
    Key,
    /// The key's value, or something inside it (wrong types are reported on the value).
    Value,
}

/// Finds the table entry an error span points at: the deepest key whose key or value span
/// is exactly `span`, else the deepest entry whose value contains it.
pub(crate) fn find(root: &DeTable<'_>, span: &Range<usize>) -> Option<(KeyPath, Hit)> {
    let mut path = Vec::new();
    find_exact(root, span, &mut path).or_else(|| find_containing(root, span, &mut path))
}

fn find_exact(
    table: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut KeyPath,
) -> Option<(KeyPath, Hit)> {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if key.span() == *span {
            return Some((path.clone(), Hit::Key));
        }
        // Children first: an implicit parent table may share its child's span.
        if let DeValue::Table(inner) = value.get_ref() {
            if let Some(found) = find_exact(inner, span, path) {
                return Some(found);
            }
        }
        if value.span() == *span {
            return Some((path.clone(), Hit::Value));
        }
        path.pop();
    }
    None
}

fn find_containing(
    table: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut KeyPath,
) -> Option<(KeyPath, Hit)> {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if let DeValue::Table(inner) = value.get_ref() {
            if let Some(found) = find_containing(inner, span, path) {
                return Some(found);
            }
        }
        let v = value.span();
        if v.start <= span.start && span.end <= v.end && v != (0..0) {
            return Some((path.clone(), Hit::Value));
        }
        path.pop();
    }
    None
}

/// Removes the entry at `path`; returns whether there was one.
pub(crate) fn remove(root: &mut DeTable<'_>, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut table = root;
    for segment in parents {
        match table.get_mut(segment.as_str()).map(|v| v.get_mut()) {
            Some(DeValue::Table(inner)) => table = inner,
            _ => return false,
        }
    }
    table.remove(last.as_str()).is_some()
}

/// The value at `path`, if it was written.
pub(crate) fn get<'a, 'i>(root: &'a DeTable<'i>, path: &[String]) -> Option<&'a DeValue<'i>> {
    let (last, parents) = path.split_last()?;
    let mut table = root;
    for segment in parents {
        match table.get(segment.as_str()).map(|v| v.get_ref()) {
            Some(DeValue::Table(inner)) => table = inner,
            _ => return None,
        }
    }
    table.get(last.as_str()).map(|v| v.get_ref())
}

/// Where the key at `path` was written, if it was; for a path that stops short (a key the
/// user left out), the closest table that was written.
pub(crate) fn key_span(root: &DeTable<'_>, path: &[String]) -> Option<Range<usize>> {
    let mut table = root;
    let mut found = None;
    for segment in path {
        let Some((key, value)) = table.get_key_value(segment.as_str()) else {
            break;
        };
        found = Some(key.span());
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

/// `databases.primary.url`, quoting segments that are not bare TOML keys.
pub(crate) fn dotted(path: &[String]) -> String {
    let quoted: Vec<String> = path
        .iter()
        .map(|s| {
            let bare = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                s.clone()
            } else {
                format!("{s:?}")
            }
        })
        .collect();
    quoted.join(".")
}

/// How a table is named in messages: `[databases.primary]`, or `the top level`.
pub(crate) fn table_label(path: &[String]) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("[{}]", dotted(path))
    }
}

/// Where a key is, in messages: `in [databases.primary]`, or `at the top level`.
pub(crate) fn in_table(path: &[String]) -> String {
    if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{}]", dotted(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> KeyPath {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn finds_keys_and_values_by_span() {
        let text = "[databases.primary]\nurl = 'x'\npool_max = 3\n";
        let doc = DeTable::parse(text).unwrap().into_inner();
        let key = text.find("pool_max").unwrap();
        assert_eq!(
            find(&doc, &(key..key + 8)),
            Some((path("databases.primary.pool_max"), Hit::Key))
        );
        let value = text.find('3').unwrap();
        assert_eq!(
            find(&doc, &(value..value + 1)),
            Some((path("databases.primary.pool_max"), Hit::Value))
        );
    }

    #[test]
    fn removes_and_locates_entries() {
        let text = "[server]\nport = 1\nhost = 'h'\n";
        let mut doc = DeTable::parse(text).unwrap().into_inner();
        assert_eq!(key_span(&doc, &path("server.host")), Some(18..22));
        assert!(remove(&mut doc, &path("server.port")));
        assert!(!remove(&mut doc, &path("server.port")));
        assert!(!remove(&mut doc, &path("nope.port")));
        // A key left out is located at its table.
        assert_eq!(key_span(&doc, &path("server.port")), Some(1..7));
    }

    #[test]
    fn labels_quote_odd_keys() {
        assert_eq!(table_label(&[]), "the top level");
        assert_eq!(in_table(&[]), "at the top level");
        assert_eq!(in_table(&path("server")), "in [server]");
        assert_eq!(
            table_label(&path("databases.primary")),
            "[databases.primary]"
        );
        assert_eq!(
            dotted(&["databases".into(), "a.b".into()]),
            "databases.\"a.b\""
        );
    }
}
