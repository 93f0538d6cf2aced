//! The parsed, spanned TOML document the loader works on before serde sees it, and the few
//! walks it makes over it: find the key behind an error span, drop a bad key so the rest can
//! still be checked, and find where a key path was written.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A key path from the document root, one segment per table level. An entry of an array of
/// tables (`[[federation.circuit_breaker.per_database]]`) is the segment `[i]` after the
/// array's key (see [`entry`]).
pub(crate) type KeyPath = Vec<String>;

/// The segment for entry `i` of an array of tables.
pub(crate) fn entry(i: usize) -> String {
    format!("[{i}]")
}

/// The index in an `[i]` segment.
fn index(segment: &str) -> Option<usize> {
    segment.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The tables of an array of tables, with their segments; nothing for any other value.
fn entries<'a, 'i>(
    value: &'a DeValue<'i>,
) -> impl Iterator<Item = (String, &'a toml::Spanned<DeValue<'i>>, &'a DeTable<'i>)> {
    let items = match value {
        DeValue::Array(items) => &items[..],
        _ => &[],
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item.get_ref() {
            DeValue::Table(table) => Some((entry(i), item, table)),
            _ => None,
        })
}

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
        for (segment, item, inner) in entries(value.get_ref()) {
            path.push(segment);
            if let Some(found) = find_exact(inner, span, path) {
                return Some(found);
            }
            if item.span() == *span {
                return Some((path.clone(), Hit::Value));
            }
            path.pop();
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
        for (segment, item, inner) in entries(value.get_ref()) {
            path.push(segment);
            if let Some(found) = find_containing(inner, span, path) {
                return Some(found);
            }
            let v = item.span();
            if v.start <= span.start && span.end <= v.end {
                return Some((path.clone(), Hit::Value));
            }
            path.pop();
        }
        let v = value.span();
        if v.start <= span.start && span.end <= v.end && v != (0..0) {
            return Some((path.clone(), Hit::Value));
        }
        path.pop();
    }
    None
}

/// Removes the entry at `path`; returns whether there was one. A whole entry of an array of
/// tables is removed with the array's later entries moving up one.
pub(crate) fn remove(root: &mut DeTable<'_>, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    if let Some(i) = index(last) {
        let Some((key, parents)) = parents.split_last() else {
            return false;
        };
        let Some(table) = table_mut(root, parents) else {
            return false;
        };
        let Some(DeValue::Array(items)) = table.get_mut(key.as_str()).map(|v| v.get_mut()) else {
            return false;
        };
        if i >= items.len() {
            return false;
        }
        let all = std::mem::replace(items, toml::de::DeArray::new());
        for (n, item) in all.into_iter().enumerate() {
            if n != i {
                items.push(item);
            }
        }
        return true;
    }
    table_mut(root, parents).is_some_and(|table| table.remove(last.as_str()).is_some())
}

/// The table at `path`, through arrays of tables.
fn table_mut<'a, 'i>(root: &'a mut DeTable<'i>, path: &[String]) -> Option<&'a mut DeTable<'i>> {
    let mut table = root;
    let mut segments = path.iter().peekable();
    while let Some(segment) = segments.next() {
        let mut value = table.get_mut(segment.as_str())?.get_mut();
        if let Some(i) = segments.peek().and_then(|s| index(s)) {
            segments.next();
            let DeValue::Array(items) = value else {
                return None;
            };
            value = items.get_mut(i)?.get_mut();
        }
        match value {
            DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    Some(table)
}

/// The value at `path`, if it was written.
pub(crate) fn get<'a, 'i>(root: &'a DeTable<'i>, path: &[String]) -> Option<&'a DeValue<'i>> {
    let (first, rest) = path.split_first()?;
    let mut value = root.get(first.as_str())?.get_ref();
    for segment in rest {
        value = match (value, index(segment)) {
            (DeValue::Array(items), Some(i)) => items.get(i)?.get_ref(),
            (DeValue::Table(table), None) => table.get(segment.as_str())?.get_ref(),
            _ => return None,
        };
    }
    Some(value)
}

/// Where the key at `path` was written, if it was; for a path that stops short (a key the
/// user left out), the closest table (or entry of an array of tables) that was written.
pub(crate) fn key_span(root: &DeTable<'_>, path: &[String]) -> Option<Range<usize>> {
    let mut table = root;
    let mut found = None;
    let mut segments = path.iter().peekable();
    while let Some(segment) = segments.next() {
        let Some((key, value)) = table.get_key_value(segment.as_str()) else {
            break;
        };
        found = Some(key.span());
        let mut value = value;
        if let Some(i) = segments.peek().and_then(|s| index(s)) {
            segments.next();
            let DeValue::Array(items) = value.get_ref() else {
                break;
            };
            let Some(item) = items.get(i) else {
                break;
            };
            // An entry's span is its `[[…]]` header.
            found = Some(item.span());
            value = item;
        }
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

/// `databases.primary.url`, quoting segments that are not bare TOML keys; an entry of an
/// array of tables is `per_database[0]`.
pub(crate) fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for s in path {
        if index(s).is_some() {
            out.push_str(s);
            continue;
        }
        if !out.is_empty() {
            out.push('.');
        }
        let bare = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bare {
            out.push_str(s);
        } else {
            out.push_str(&format!("{s:?}"));
        }
    }
    out
}

/// How a table is named in messages: `[databases.primary]`, `[[a.b]]` for an entry of an
/// array of tables (its position says which), or `the top level`.
pub(crate) fn table_label(path: &[String]) -> String {
    match path.split_last() {
        None => "the top level".to_owned(),
        Some((last, array)) if index(last).is_some() => format!("[[{}]]", dotted(array)),
        Some(_) => format!("[{}]", dotted(path)),
    }
}

/// Where a key is, in messages: `in [databases.primary]`, or `at the top level`.
pub(crate) fn in_table(path: &[String]) -> String {
    if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {}", table_label(path))
    }
}

/// The seed's top-level `[[observers]]` array of rules becomes `[observers] rules = [...]`,
/// the one shape serde knows. A file with both (`[[observers]]` and `[observers]`) is not
/// valid TOML, so it never gets here.
pub(crate) fn lift_observer_rules(root: &mut DeTable<'_>) {
    let Some((key, value)) = root.get_key_value("observers") else {
        return;
    };
    if !matches!(value.get_ref(), DeValue::Array(_)) {
        return;
    }
    let (key, span) = (key.clone(), value.span());
    let Some(rules) = root.remove("observers") else {
        return;
    };
    let mut table = DeTable::new();
    table.insert(
        toml::Spanned::new(key.span(), std::borrow::Cow::Borrowed("rules")),
        rules,
    );
    root.insert(key, toml::Spanned::new(span, DeValue::Table(table)));
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
