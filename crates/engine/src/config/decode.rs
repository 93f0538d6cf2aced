//! Serde meets the document: deserializes the env-expanded TOML into [`Config`] and turns
//! each serde error into a positioned problem (unknown key with the closest valid name,
//! wrong value type, a key given twice through an alias).
//!
//! Serde stops at its first error, so after each one the offending entry is dropped from a
//! copy of the document and deserialization runs again. That reports every unknown key and
//! wrong value in one pass while the serde attributes in `model.rs` stay the only list of
//! accepted keys: the "expected one of" list in serde's message is where suggestions come from.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::check::supported_types;
use super::document::{dotted, find, get, in_table, remove, Hit, KeyPath};
use super::error::Problem;
use super::model::Config;
use crate::suggest::closest;

/// Seed spellings accepted as aliases (mirrors the `alias` attributes in `model.rs`; a test
/// checks each one is accepted): `(table, alias, canonical key)`. `database` stands for both
/// `[database]` and every `[databases.<name>]`; `""` is the top level.
pub(crate) const ALIASES: [(&str, &str, &str); 8] = [
    ("", "schema", "project"),
    ("database", "driver", "type"),
    ("database", "pool_size", "pool_max"),
    ("database", "pool_timeout", "connect_timeout_ms"),
    ("fraiseql", "schema", "schema_file"),
    ("validation", "max_query_complexity", "max_fields"),
    ("federation.retry", "initial_delay", "initial_delay_ms"),
    ("federation.retry", "max_delay", "max_delay_ms"),
];

/// The result of decoding: the config if serde accepted what was left of the document.
pub(crate) struct Decoded {
    pub(crate) config: Option<Config>,
    pub(crate) problems: Vec<Problem>,
    /// Entries dropped from the document, so later checks can skip what follows from them.
    pub(crate) dropped: Vec<KeyPath>,
}

/// Deserializes `root` into a [`Config`], collecting a problem for every bad entry.
pub(crate) fn decode(root: &DeTable<'_>, root_span: Range<usize>, text: &str) -> Decoded {
    let mut doc = root.clone();
    let mut out = Decoded {
        config: None,
        problems: Vec::new(),
        dropped: Vec::new(),
    };
    // Each failed round drops one entry, so the loop ends; the bound only guards against a
    // serde error we cannot tie to an entry repeating forever.
    for _ in 0..=count_entries(root) {
        let attempt = toml::de::Deserializer::from(Spanned::new(root_span.clone(), doc.clone()));
        let err = match Config::deserialize(attempt) {
            Ok(config) => {
                out.config = Some(config);
                break;
            }
            Err(err) => err,
        };
        // toml gives the document root the span 0..0: that is "no position", not line 1.
        let span = err.span().filter(|s| *s != (0..0));
        match explain(&doc, err.message(), span.clone(), text) {
            Some((problem, entry)) if remove(&mut doc, &entry) => {
                out.problems.push(problem);
                out.dropped.push(entry);
            }
            // An error we cannot pin on an entry: report serde's own words and stop.
            _ => {
                out.problems
                    .push(Problem::new(err.message()).at_span(text, span));
                break;
            }
        }
    }
    out
}

fn count_entries(table: &DeTable<'_>) -> usize {
    table
        .values()
        .map(|v| match v.get_ref() {
            DeValue::Table(inner) => 1 + count_entries(inner),
            _ => 1,
        })
        .sum()
}

/// Turns one serde error into a problem and the entry to drop.
fn explain(
    doc: &DeTable<'_>,
    message: &str,
    span: Option<Range<usize>>,
    text: &str,
) -> Option<(Problem, KeyPath)> {
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        // At the top level there is no span: the duplicate is looked up in the root table.
        return duplicate_key(doc, span.as_ref(), rest.split('`').next()?, text);
    }
    let span = span?;
    if let Some(rest) = message.strip_prefix("missing field `") {
        return missing_key(doc, &span, rest.split('`').next()?, text);
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let accepted = rest
            .split_once('`')
            .map(|(_, list)| backticked(list))
            .unwrap_or_default();
        unknown_key(doc, &span, &accepted, text)
    } else {
        wrong_value(doc, &span, message, text)
    }
}

fn unknown_key(
    doc: &DeTable<'_>,
    span: &Range<usize>,
    accepted: &[&str],
    text: &str,
) -> Option<(Problem, KeyPath)> {
    let (path, Hit::Key) = find(doc, span)? else {
        return None;
    };
    let (key, table) = path.split_last()?;
    let is_section = table.is_empty() && matches!(get(doc, &path), Some(DeValue::Table(_)));
    let suggestion = closest(key, accepted.iter().copied()).map(|name| canonical(table, name));
    let valid: Vec<&str> = accepted
        .iter()
        .copied()
        .filter(|n| !is_alias(table, n))
        .collect();
    let message = if is_section {
        let hint = match suggestion {
            Some(name) => format!("did you mean `{}`?", section(name)),
            None => format!(
                "valid sections: {}",
                list(valid.iter().map(|n| format!("`{}`", section(n))))
            ),
        };
        format!("unknown section `[{}]`; {hint}", dotted(&path))
    } else {
        let hint = match suggestion {
            Some(name) => format!("did you mean `{name}`?"),
            None if valid.is_empty() => "this table takes no keys".to_owned(),
            None => format!(
                "valid keys: {}",
                list(valid.iter().map(|n| format!("`{n}`")))
            ),
        };
        format!("unknown key `{key}` {}; {hint}", in_table(table))
    };
    Some((
        Problem::new(message)
            .at_span(text, Some(span.clone()))
            .at_path(dotted(&path)),
        path,
    ))
}

/// A required key left out (`database` of a `per_database` entry): the table that lacks it
/// is reported and dropped.
fn missing_key(
    doc: &DeTable<'_>,
    span: &Range<usize>,
    field: &str,
    text: &str,
) -> Option<(Problem, KeyPath)> {
    let (path, _) = find(doc, span)?;
    let message = format!("`{field}` is required {}", in_table(&path));
    Some((
        Problem::new(message)
            .at_span(text, Some(span.clone()))
            .at_path(dotted(&path)),
        path,
    ))
}

/// A key given twice, once under an alias (`pool_max` and `pool_size`): reported on the
/// second spelling, which is dropped.
fn duplicate_key(
    doc: &DeTable<'_>,
    span: Option<&Range<usize>>,
    field: &str,
    text: &str,
) -> Option<(Problem, KeyPath)> {
    // Serde points at the table holding both; the top level when nothing else matches.
    let table_path = match span.and_then(|span| find(doc, span)) {
        Some((path, Hit::Value)) if matches!(get(doc, &path), Some(DeValue::Table(_))) => path,
        _ => Vec::new(),
    };
    let table = match get(doc, &table_path) {
        Some(DeValue::Table(inner)) => inner,
        _ => doc,
    };
    let spellings = std::iter::once(field).chain(
        ALIASES
            .iter()
            .filter(|(t, _, key)| *t == table_kind(&table_path) && *key == field)
            .map(|(_, alias, _)| *alias),
    );
    let mut present: Vec<(Range<usize>, &str)> = spellings
        .filter_map(|name| table.get_key_value(name).map(|(k, _)| (k.span(), name)))
        .collect();
    present.sort_by_key(|(span, _)| span.start);
    let [(_, first), (second_span, second), ..] = present.as_slice() else {
        return None;
    };
    let alias = if *first == field { second } else { first };
    let message = format!(
        "`{second}` sets the same key as `{first}` {} (`{alias}` is an alias of `{field}`); keep one",
        in_table(&table_path)
    );
    let mut path = table_path;
    path.push((*second).to_owned());
    let problem = Problem::new(message)
        .at_span(text, Some(second_span.clone()))
        .at_path(dotted(&path));
    Some((problem, path))
}

fn wrong_value(
    doc: &DeTable<'_>,
    span: &Range<usize>,
    message: &str,
    text: &str,
) -> Option<(Problem, KeyPath)> {
    let (path, _) = find(doc, span)?;
    let (key, table) = path.split_last()?;
    let unsupported = message
        .strip_prefix("unknown variant `")
        .and_then(|r| r.split('`').next());
    let message = match unsupported {
        Some(kind)
            if (table_kind(table) == "database" && canonical(table, key) == "type")
                || (matches!(table_kind(table).as_str(), "project" | "schema")
                    && key == "database_target") =>
        {
            format!(
                "database type `{kind}` {} is not supported by this build; supported: {}",
                in_table(table),
                supported_types()
            )
        }
        _ => format!(
            "invalid value for `{key}` {}: {}",
            in_table(table),
            humanize(message)
        ),
    };
    Some((
        Problem::new(message)
            .at_span(text, Some(span.clone()))
            .at_path(dotted(&path)),
        path,
    ))
}

/// Rewrites serde's "invalid type: X, expected Y" into "expected Y, found X" in TOML terms.
/// String values are not echoed: a misplaced one may be a URL with a password in it.
fn humanize(message: &str) -> String {
    if message == "wanted string or table" {
        // toml's words for a non-string where an enum (`type`) is expected.
        return "expected a string".to_owned();
    }
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    let Some((found, expected)) = rest.and_then(|r| r.rsplit_once(", expected ")) else {
        return message.to_owned();
    };
    let expected = match expected {
        "u16" => "an integer from 0 to 65535",
        "u8" | "u32" | "u64" | "usize" => "a non-negative integer",
        "a map" => "a table",
        "a sequence" => "an array",
        e if e.starts_with("struct ") => "a table",
        e => e,
    };
    let found = match found {
        f if f.starts_with("string ") => "a string",
        "map" => "a table",
        "sequence" => "an array",
        f => f,
    };
    format!("expected {expected}, found {found}")
}

/// The names between backticks in serde's "expected one of `a`, `b`" tail.
fn backticked(list: &str) -> Vec<&str> {
    list.split('`').skip(1).step_by(2).collect()
}

/// Which alias table applies to a table path: database tables share one.
fn table_kind(table: &[String]) -> String {
    match table {
        [db] if db == "database" => "database".to_owned(),
        [dbs, _] if dbs == "databases" => "database".to_owned(),
        other => dotted(other),
    }
}

fn is_alias(table: &[String], name: &str) -> bool {
    let kind = table_kind(table);
    ALIASES
        .iter()
        .any(|(t, alias, _)| *t == kind && *alias == name)
}

/// The canonical name for `name` in `table` (itself unless it is an alias).
fn canonical<'a>(table: &[String], name: &'a str) -> &'a str {
    let kind = table_kind(table);
    ALIASES
        .iter()
        .find(|(t, alias, _)| *t == kind && *alias == name)
        .map_or(name, |(_, _, key)| key)
}

fn section(name: &str) -> String {
    match name {
        "databases" => "[databases.<name>]".to_owned(),
        _ => format!("[{name}]"),
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let root = DeTable::parse(text).unwrap();
        let span = root.span();
        decode(root.get_ref(), span, text)
            .problems
            .into_iter()
            .map(|p| {
                let l = p.location.unwrap();
                (l.line, l.column, p.message)
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|(line, column, message)| format!("{line}:{column}: {message}"))
            .collect()
    }

    #[test]
    fn every_alias_decodes_like_its_key() {
        let pairs = [
            ("[schema]\nname = 'x'", "[project]\nname = 'x'"),
            (
                "[fraiseql]\nschema = 's.json'",
                "[fraiseql]\nschema_file = 's.json'",
            ),
            (
                "[validation]\nmax_query_complexity = 9",
                "[validation]\nmax_fields = 9",
            ),
            (
                "[database]\ndriver = 'sqlite'",
                "[database]\ntype = 'sqlite'",
            ),
            (
                "[databases.a]\npool_size = 9",
                "[databases.a]\npool_max = 9",
            ),
            (
                "[databases.a]\npool_timeout = 9",
                "[databases.a]\nconnect_timeout_ms = 9",
            ),
            (
                "[federation.retry]\ninitial_delay = '100ms'",
                "[federation.retry]\ninitial_delay_ms = 100",
            ),
            (
                "[federation.retry]\nmax_delay = '5s'",
                "[federation.retry]\nmax_delay_ms = 5000",
            ),
        ];
        assert_eq!(pairs.len(), ALIASES.len(), "a new alias needs a case here");
        for (alias, key) in pairs {
            let a: Config = toml::from_str(alias).unwrap();
            let k: Config = toml::from_str(key).unwrap();
            assert_eq!(a, k, "{alias}");
            assert_ne!(a, Config::default(), "{alias} changed nothing");
        }
    }

    #[test]
    fn every_alias_is_documented() {
        let reference = include_str!("../../../../docs/reference.toml");
        for (table, alias, _) in ALIASES {
            let written = if table.is_empty() {
                format!("`[{alias}]`")
            } else {
                format!("`{alias}`")
            };
            assert!(
                reference.contains(&written),
                "docs/reference.toml does not mention {written}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_all_reported_with_suggestions() {
        let text = "\
[server]
prot = 8080
hots = 'x'

[databases.primary]
url = 'sqlite::memory:'
pool_maxx = 3
pool_sise = 3
zzz = 1

[webhooks]
url = 'x'
";
        assert_eq!(
            problems(text),
            [
                "2:1: unknown key `prot` in [server]; did you mean `port`?",
                "3:1: unknown key `hots` in [server]; did you mean `host`?",
                "7:1: unknown key `pool_maxx` in [databases.primary]; did you mean `pool_max`?",
                "8:1: unknown key `pool_sise` in [databases.primary]; did you mean `pool_max`?",
                "9:1: unknown key `zzz` in [databases.primary]; valid keys: `url`, `type`, \
                 `replicas`, `pool_min`, `pool_max`, `connect_timeout_ms`, `idle_timeout_ms`, `statement_timeout_ms`, \
                 `statement_cache_size`, `ssl_mode`, `ssl_root_cert`",
                "11:2: unknown section `[webhooks]`; valid sections: `[project]`, `[server]`, \
                 `[database]`, `[databases.<name>]`, `[fraiseql]`, `[validation]`, `[query_defaults]`, `[federation]`, \
                 `[observers]`, `[subscriptions]`, `[auth]`, `[multi_tenancy]`, `[multitenancy]`",
            ]
        );
    }

    #[test]
    fn wrong_values_are_reported_without_echoing_strings() {
        let text =
            "[server]\nport = 'abc'\nread_only = 1\n[server.limits]\nmax_request_size = '10 TB'\n\
                    [databases.primary]\ntype = 'sqlserver'\n";
        assert_eq!(
            problems(text),
            [
                "2:8: invalid value for `port` in [server]: expected an integer from 0 to 65535, found a string",
                "3:13: invalid value for `read_only` in [server]: expected a boolean, found integer `1`",
                "5:20: invalid value for `max_request_size` in [server.limits]: invalid size `10 TB`: \
                 expected a number with an optional unit B, KB, MB or GB",
                "7:8: database type `sqlserver` in [databases.primary] is not supported by this build; \
                 supported: `postgresql` (alias `postgres`, `pg`), `mysql` (alias `mariadb`), `sqlite` (alias `sqlite3`)",
            ]
        );
    }

    #[test]
    fn ssl_mode_takes_the_libpq_and_mysql_spellings_only() {
        let ok = "[databases.primary]\nurl = 'mysql://h/d'\nssl_mode = 'VERIFY_IDENTITY'\n";
        assert_eq!(problems(ok), Vec::<String>::new());
        let text = "[databases.primary]\nurl = 'postgresql://h/d'\nssl_mode = 'allow'\n";
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "3:12: invalid value for `ssl_mode` in [databases.primary]: unknown variant `allow`, expected one of"
            ) && found[0].contains("`verify-full`"),
            "{found:?}"
        );
    }

    #[test]
    fn a_key_and_its_alias_together_are_reported_once() {
        let text = "[databases.primary]\npool_max = 3\npool_size = 4\n";
        assert_eq!(
            problems(text),
            [
                "3:1: `pool_size` sets the same key as `pool_max` in [databases.primary] \
              (`pool_size` is an alias of `pool_max`); keep one"
            ]
        );
    }

    #[test]
    fn humanize_keeps_messages_it_does_not_know() {
        assert_eq!(humanize("something else"), "something else");
        assert_eq!(
            humanize("invalid type: integer `3`, expected struct ServerConfig"),
            "expected a table, found integer `3`"
        );
    }
}
