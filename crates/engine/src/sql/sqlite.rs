//! SQLite: `json_object`/`json_group_array`, `->`/`->>` paths (3.38+), numeric comparisons
//! through `CAST(... AS NUMERIC)`, timestamps through `julianday`, `?n` placeholders. JSON
//! subtypes do not survive subqueries, so subquery results are re-marked with `json(...)`.

use super::dialect::{push_literal, push_pairs, Dialect};
use super::outbox::{literal, seq_list, trigger_name, Capture, Outbox};
use super::read::Renderer;
use super::CallSql;
use super::{Param, SqlQuery};
use crate::catalog::{Function, SqlType};
use crate::config::{DatabaseKind, Op};
use crate::error::GraphQLError;
use crate::plan::Mutate;
use crate::schema::ScalarKind;
use serde_json::Value as Json;

/// The SQLite dialect.
pub(crate) struct Sqlite;

/// Pairs per `json_object` call (see [`Sqlite::object`]).
const CHUNK_PAIRS: usize = 50;

fn json_path(path: &[String]) -> String {
    let mut p = String::from("'$");
    for k in path {
        p.push('.');
        p.push_str(&k.replace('\'', "''"));
    }
    p.push('\'');
    p
}

impl Dialect for Sqlite {
    /// `fraiseql_set_config(name, value, …)`: a function the server gives each connection
    /// (with `current_setting(name [, missing_ok])` to read them back, as on PostgreSQL). It
    /// replaces every value the connection held, so it is sent before every statement,
    /// with no settings too (the server's own statements: it clears them).
    fn session_prelude(&self, settings: &[(String, String)]) -> Option<SqlQuery> {
        let holes: Vec<String> = (1..=settings.len() * 2).map(|n| format!("?{n}")).collect();
        Some(SqlQuery {
            text: format!("SELECT fraiseql_set_config({})", holes.join(", ")),
            params: settings
                .iter()
                .flat_map(|(k, v)| [Param::Text(k.clone()), Param::Text(v.clone())])
                .collect(),
        })
    }

    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Sqlite
    }

    fn holds_json(&self, _column: SqlType) -> bool {
        // JSON is text on SQLite, whatever type a view's column declares.
        true
    }

    fn missing_mutation(&self, function: &str, database: &str) -> String {
        format!(
            "view '{function}' does not exist in database '{database}' \
             (on SQLite a mutation is a view with an INSTEAD OF INSERT trigger, named fn_*)"
        )
    }

    fn no_limit_count(&self) -> &'static str {
        "-1"
    }

    fn placeholder(&self, n: usize, _param: &Param) -> String {
        format!("?{n}")
    }

    fn json_at(&self, base: &str, path: &[String]) -> String {
        format!("({base} -> {})", json_path(path))
    }

    fn text_at(&self, base: &str, path: &[String]) -> String {
        format!("({base} ->> {})", json_path(path))
    }

    fn typed_at(&self, base: &str, path: &[String], kind: ScalarKind) -> String {
        let v = self.text_at(base, path);
        match kind {
            ScalarKind::Int | ScalarKind::Float | ScalarKind::Decimal => {
                format!("CAST({v} AS NUMERIC)")
            }
            ScalarKind::DateTime => format!("julianday({v})"),
            ScalarKind::Date => format!("date({v})"),
            ScalarKind::Json => self.json_at(base, path),
            ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid | ScalarKind::Boolean => v,
        }
    }

    fn bind_value(&self, value: &Json, kind: ScalarKind) -> Param {
        match (kind, value) {
            (ScalarKind::Boolean, Json::Bool(b)) => Param::Int(i64::from(*b)),
            (ScalarKind::Json, v) => Param::Text(v.to_string()),
            (k, v) if k.is_numeric() => {
                let text = match v {
                    Json::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                };
                match text.parse::<i64>() {
                    Ok(i) => Param::Int(i),
                    Err(_) => Param::Float(text.parse().unwrap_or(f64::NAN)),
                }
            }
            (_, Json::String(s)) => Param::Text(s.clone()),
            (_, other) => Param::Text(other.to_string()),
        }
    }

    fn typed_param(&self, placeholder: &str, kind: ScalarKind) -> String {
        match kind {
            ScalarKind::DateTime => format!("julianday({placeholder})"),
            ScalarKind::Date => format!("date({placeholder})"),
            ScalarKind::Json => format!("json({placeholder})"),
            _ => placeholder.to_string(),
        }
    }

    /// `->>` gives a JSON number as an SQLite number, which never equals text.
    fn key_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS TEXT)")
    }

    fn column_param(&self, placeholder: &str, _column: SqlType) -> String {
        placeholder.to_string()
    }

    fn in_list(&self, expr: &str, list: &str, kind: ScalarKind, column: Option<SqlType>) -> String {
        let value = match (kind, column) {
            (_, Some(_)) => "value".to_string(),
            (k, None) if k.is_numeric() => "CAST(value AS NUMERIC)".to_string(),
            (ScalarKind::DateTime, None) => "julianday(value)".to_string(),
            (ScalarKind::Date, None) => "date(value)".to_string(),
            _ => "value".to_string(),
        };
        format!("{expr} IN (SELECT {value} FROM json_each({list}))")
    }

    fn bind_list(&self, values: &[Json]) -> Param {
        Param::Text(Json::Array(values.to_vec()).to_string())
    }

    fn like(&self, expr: &str, pattern: &str, ilike: bool) -> String {
        // SQLite has no escape character unless told: without this, `like: "%\\%%"` matched
        // a backslash followed by anything on SQLite and a literal `%` on PostgreSQL.
        if ilike {
            format!("lower({expr}) LIKE lower({pattern}) ESCAPE '\\'")
        } else {
            format!("{expr} LIKE {pattern} ESCAPE '\\'")
        }
    }

    fn object(&self, pairs: &[(&str, String)]) -> String {
        // A function takes at most SQLITE_MAX_FUNCTION_ARG arguments (127 in older builds,
        // 1000 in newer ones), so the first 50 pairs are a `json_object` and each further 50
        // are added by a `json_set`, which appends new keys in order and keeps nulls
        // (`json_patch` would drop them).
        let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 12).sum();
        let mut out = String::with_capacity(size + 16);
        let mut chunks = pairs.chunks(CHUNK_PAIRS);
        out.push_str("json_object(");
        push_pairs(&mut out, chunks.next().unwrap_or_default());
        out.push(')');
        for c in chunks {
            let mut set = String::with_capacity(out.len() + size / 2);
            set.push_str("json_set(");
            set.push_str(&out);
            for (k, v) in c {
                set.push_str(", ");
                // Response keys are GraphQL names; quoting keeps the path a single key.
                push_literal(&mut set, &format!("$.\"{k}\""));
                set.push_str(", ");
                set.push_str(v);
            }
            set.push(')');
            out = set;
        }
        out
    }

    fn aggregate(&self, expr: &str) -> String {
        format!("json_group_array(json({expr}))")
    }

    fn if_object(&self, base: &str, path: &[String], then: &str) -> String {
        format!(
            "CASE WHEN json_type({base}, {}) = 'object' THEN {then} END",
            json_path(path)
        )
    }

    fn object_array(&self, base: &str, path: &[String], alias: &str, element: &str) -> String {
        let p = json_path(path);
        format!(
            "CASE WHEN json_type({base}, {p}) = 'array' THEN (SELECT json_group_array(json({element})) FROM json_each({base}, {p}) AS {alias}) END"
        )
    }

    fn element_base(&self, alias: &str) -> String {
        format!("{alias}.value")
    }

    fn embed(&self, subquery: &str) -> String {
        format!("json({subquery})")
    }

    fn to_text(&self, expr: &str) -> String {
        expr.to_string()
    }

    fn json_bool(&self, expr: &str) -> String {
        format!("json(CASE WHEN {expr} THEN 'true' ELSE 'false' END)")
    }

    fn cursor(&self, values: &[String]) -> String {
        format!("lower(hex(json_array({})))", values.join(", "))
    }

    fn json_array(&self, items: &[String]) -> String {
        format!("json_array({})", items.join(", "))
    }

    fn key_rows(&self, placeholder: &str) -> String {
        format!("(SELECT value AS v FROM json_each({placeholder})) k")
    }

    fn json_rows(&self, placeholder: &str, alias: &str) -> String {
        format!("(SELECT value AS v FROM json_each({placeholder})) {alias}")
    }

    fn computed(&self, expr: &str, kind: ScalarKind) -> String {
        match kind {
            ScalarKind::Int => format!("CAST(({expr}) AS INTEGER)"),
            ScalarKind::Float => format!("CAST(({expr}) AS REAL)"),
            ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid => {
                format!("CAST(({expr}) AS TEXT)")
            }
            ScalarKind::Json => format!("json({expr})"),
            _ => format!("({expr})"),
        }
    }

    fn mutation_call(
        &self,
        r: &mut Renderer<'_>,
        m: &Mutate,
        f: &Function,
        bound: &[(usize, Json)],
    ) -> Result<CallSql, GraphQLError> {
        let mut cols = Vec::new();
        let mut vals = Vec::new();
        for (i, v) in bound {
            cols.push(r.d.ident(&f.params[*i].name));
            // An explicit null is stored as SQL NULL, not bound as a value.
            if v.is_null() {
                vals.push("NULL".to_string());
            } else {
                vals.push(r.bind(sqlite_value(v)));
            }
        }
        let call = if cols.is_empty() {
            format!("INSERT INTO {} DEFAULT VALUES", r.d.ident(&m.function))
        } else {
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                r.d.ident(&m.function),
                cols.join(", "),
                vals.join(", ")
            )
        };
        let take = "DELETE FROM fraiseql_mutation_response RETURNING json_object('status', status, 'message', message, 'entity_id', entity_id, 'entity_type', entity_type, 'entity', json(entity), 'metadata', json(metadata))".to_string();
        Ok(CallSql::ResponseVia {
            call: SqlQuery {
                text: call,
                params: std::mem::take(&mut r.params),
            },
            take: SqlQuery {
                text: take,
                params: Vec::new(),
            },
        })
    }

    fn json_row(&self, placeholder: &str) -> String {
        format!("(SELECT json({placeholder}) AS data)")
    }
}

fn sqlite_value(v: &Json) -> Param {
    match v {
        Json::Null => Param::Text(String::new()), // unreachable: nulls render as NULL
        Json::Bool(b) => Param::Int(i64::from(*b)),
        Json::Number(n) => n
            .as_i64()
            .map(Param::Int)
            .unwrap_or_else(|| Param::Float(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Param::Text(s.clone()),
        other => Param::Text(other.to_string()),
    }
}

/// A random version-4 UUID, 8-4-4-4-12, in SQLite.
const UUID: &str = "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' \
    || substr(lower(hex(randomblob(2))), 2) || '-' \
    || substr('89ab', 1 + abs(random()) % 4, 1) || substr(lower(hex(randomblob(2))), 2) \
    || '-' || lower(hex(randomblob(6)))";

/// Now, RFC 3339 UTC with milliseconds.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Now, in seconds since the epoch (with fractions).
const EPOCH: &str = "((julianday('now') - 2440587.5) * 86400.0)";

/// Events on SQLite: tables `fraiseql_*`. Capture runs in AFTER triggers; SQLite has one
/// writer at a time, so `seq` order is commit order. A payload view is read by the relay
/// when it publishes. One relay per file holds a lease row it renews (SQLite has no session
/// locks another process could see).
impl Outbox for Sqlite {
    fn outbox_tables(&self) -> Vec<String> {
        vec![
            "CREATE TABLE IF NOT EXISTS fraiseql_outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                subject TEXT NOT NULL,
                op TEXT NOT NULL,
                source TEXT,
                row_data TEXT NOT NULL,
                old_data TEXT,
                body TEXT,
                view_name TEXT,
                view_key TEXT,
                tenant TEXT,
                created_at TEXT NOT NULL,
                published_at TEXT,
                error TEXT)"
                .into(),
            "CREATE INDEX IF NOT EXISTS fraiseql_outbox_waiting ON fraiseql_outbox (seq) \
             WHERE published_at IS NULL AND error IS NULL"
                .into(),
            "CREATE TABLE IF NOT EXISTS fraiseql_inbox (
                consumer TEXT NOT NULL,
                event_id TEXT NOT NULL,
                processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                PRIMARY KEY (consumer, event_id))"
                .into(),
            "CREATE TABLE IF NOT EXISTS fraiseql_dead_letter (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                consumer TEXT NOT NULL,
                subject TEXT NOT NULL,
                event_id TEXT NOT NULL,
                body TEXT NOT NULL,
                headers TEXT,
                error TEXT NOT NULL,
                deliveries INTEGER NOT NULL,
                failed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
                .into(),
            "CREATE TABLE IF NOT EXISTS fraiseql_relay_lease (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at REAL NOT NULL)"
                .into(),
        ]
    }

    fn installed_triggers(&self) -> SqlQuery {
        SqlQuery {
            text: "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' \
                   AND name LIKE 'fraiseql\\_capture\\_%' ESCAPE '\\'"
                .into(),
            params: vec![],
        }
    }

    fn drop_trigger(&self, name: &str, _table: &str) -> Vec<String> {
        vec![format!("DROP TRIGGER IF EXISTS {}", self.ident(name))]
    }

    fn capture(&self, rule: &Capture) -> Vec<String> {
        let json = |row: &str| {
            let pairs: Vec<String> = rule
                .columns
                .iter()
                .map(|c| {
                    // JSON cannot hold a BLOB (json_object would fail the write): hex it.
                    let v = format!("{row}.{}", self.ident(c));
                    format!(
                        "{}, CASE WHEN typeof({v}) = 'blob' THEN hex({v}) ELSE {v} END",
                        literal(c)
                    )
                })
                .collect();
            format!("json_object({})", pairs.join(", "))
        };
        let mut out = Vec::new();
        for op in &rule.ops {
            let name = self.ident(&trigger_name(rule.index, Some(*op)));
            let row = if *op == Op::Delete { "OLD" } else { "NEW" };
            let old = if rule.include_old && *op == Op::Update {
                json("OLD")
            } else {
                "NULL".into()
            };
            let (view, key) = match &rule.view {
                Some((v, k)) => (literal(v), literal(k)),
                None => ("NULL".into(), "NULL".into()),
            };
            let when = match &rule.condition {
                Some(condition) => {
                    let columns: Vec<String> = rule
                        .columns
                        .iter()
                        .map(|c| format!("{row}.{} AS {}", self.ident(c), self.ident(c)))
                        .collect();
                    format!(
                        "\nWHEN EXISTS (SELECT 1 FROM (SELECT {}) AS r WHERE ({condition}))",
                        columns.join(", ")
                    )
                }
                None => String::new(),
            };
            out.push(format!("DROP TRIGGER IF EXISTS {name}"));
            out.push(format!(
                "CREATE TRIGGER {name} AFTER {op_name} ON {table} FOR EACH ROW{when}\nBEGIN\n\
                 INSERT INTO fraiseql_outbox (id, subject, op, source, row_data, old_data, \
                 view_name, view_key, created_at) VALUES ({UUID}, {subject}, {op_lit}, \
                 {table_lit}, {row_json}, {old}, {view}, {key}, {NOW});\nEND",
                op_name = op.as_str(),
                table = self.ident(&rule.table),
                subject = literal(&rule.subject),
                op_lit = literal(op.as_str()),
                table_lit = literal(&rule.table),
                row_json = json(row),
            ));
        }
        out
    }

    fn check_condition(&self, table: &str, condition: &str) -> String {
        format!(
            "SELECT 1 FROM {} AS r WHERE ({condition}) LIMIT 0",
            self.ident(table)
        )
    }

    fn pending(&self, limit: usize) -> SqlQuery {
        SqlQuery {
            text: "SELECT CAST(seq AS TEXT), id, subject, op, source, body, row_data, old_data, \
                   view_name, view_key, tenant, created_at FROM fraiseql_outbox AS o \
                   WHERE published_at IS NULL AND error IS NULL ORDER BY o.seq LIMIT ?1"
                .into(),
            params: vec![Param::Int(limit as i64)],
        }
    }

    fn view_body(&self, view: &str, key: &str, value: &str) -> SqlQuery {
        SqlQuery {
            text: format!(
                "SELECT data FROM {} WHERE CAST({} AS TEXT) = ?1 LIMIT 1",
                self.ident(view),
                self.ident(key)
            ),
            params: vec![Param::Text(value.into())],
        }
    }

    fn mark_published(&self, seqs: &[i64]) -> SqlQuery {
        let (marks, params) = seq_list(seqs, 1, |n, _| format!("?{n}"));
        SqlQuery {
            text: format!("UPDATE fraiseql_outbox SET published_at = {NOW} WHERE seq IN ({marks})"),
            params,
        }
    }

    fn mark_failed(&self, seq: i64, error: &str) -> SqlQuery {
        SqlQuery {
            text: "UPDATE fraiseql_outbox SET error = ?2 WHERE seq = ?1".into(),
            params: vec![Param::Int(seq), Param::Text(error.into())],
        }
    }

    fn purge(&self, age_secs: u64) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql_outbox WHERE published_at < \
                   strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ?1 || ' seconds')"
                .into(),
            params: vec![Param::Int(age_secs.min(i64::MAX as u64) as i64)],
        }
    }

    fn purge_inbox(&self, age_secs: u64) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql_inbox WHERE processed_at < \
                   strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ?1 || ' seconds')"
                .into(),
            params: vec![Param::Int(age_secs.min(i64::MAX as u64) as i64)],
        }
    }

    fn depth(&self) -> SqlQuery {
        SqlQuery {
            text: "SELECT CAST(count(*) AS TEXT), \
                   CAST((julianday('now') - julianday(min(created_at))) * 86400.0 AS TEXT) \
                   FROM fraiseql_outbox WHERE published_at IS NULL AND error IS NULL"
                .into(),
            params: vec![],
        }
    }

    fn inbox_insert(&self, consumer: &str, event_id: &str) -> SqlQuery {
        SqlQuery {
            text: "INSERT OR IGNORE INTO fraiseql_inbox (consumer, event_id) VALUES (?1, ?2)"
                .into(),
            params: vec![Param::Text(consumer.into()), Param::Text(event_id.into())],
        }
    }

    fn handler_call(&self, handler: &str, body: &str, headers: Option<&str>) -> SqlQuery {
        let mut params = vec![Param::Text(body.into())];
        let (columns, values) = match headers {
            Some(h) => {
                params.push(Param::Text(h.into()));
                ("event, headers", "?1, ?2")
            }
            None => ("event", "?1"),
        };
        SqlQuery {
            text: format!(
                "INSERT INTO {} ({columns}) VALUES ({values})",
                self.ident(handler)
            ),
            params,
        }
    }

    fn dead_letter(
        &self,
        consumer: &str,
        subject: &str,
        event_id: &str,
        body: &str,
        headers: &str,
        error: &str,
        deliveries: u32,
    ) -> SqlQuery {
        SqlQuery {
            text: "INSERT INTO fraiseql_dead_letter \
                   (consumer, subject, event_id, body, headers, error, deliveries) \
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                .into(),
            params: vec![
                Param::Text(consumer.into()),
                Param::Text(subject.into()),
                Param::Text(event_id.into()),
                Param::Text(body.into()),
                Param::Text(headers.into()),
                Param::Text(error.into()),
                Param::Int(i64::from(deliveries)),
            ],
        }
    }

    fn lease_take(&self, holder: &str, ttl_secs: u64) -> SqlQuery {
        SqlQuery {
            text: format!(
                "INSERT INTO fraiseql_relay_lease (name, holder, expires_at) \
                 VALUES ('relay', ?1, {EPOCH} + ?2) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE fraiseql_relay_lease.holder = excluded.holder \
                 OR fraiseql_relay_lease.expires_at < {EPOCH}"
            ),
            params: vec![Param::Text(holder.into()), Param::Int(ttl_secs as i64)],
        }
    }

    fn lease_release(&self, holder: &str) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql_relay_lease WHERE name = 'relay' AND holder = ?1".into(),
            params: vec![Param::Text(holder.into())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(n: usize) -> String {
        let p: Vec<(String, String)> = (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
        let refs: Vec<(&str, String)> = p.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        Sqlite.object(&refs)
    }

    #[test]
    fn narrow_objects_are_one_call() {
        assert_eq!(object(2), "json_object('k0', v0, 'k1', v1)");
        assert_eq!(object(0), "json_object()");
    }

    #[test]
    fn wide_objects_add_chunks_with_json_set() {
        let sql = object(120);
        assert!(
            sql.starts_with("json_set(json_set(json_object('k0', v0,"),
            "{sql}"
        );
        assert!(sql.contains("'k49', v49), '$.\"k50\"', v50,"), "{sql}");
        assert!(
            sql.contains("'$.\"k99\"', v99), '$.\"k100\"', v100,"),
            "{sql}"
        );
        assert!(sql.ends_with("'$.\"k119\"', v119)"), "{sql}");
    }

    #[test]
    fn like_escapes_with_backslash() {
        assert_eq!(Sqlite.like("x", "?1", false), "x LIKE ?1 ESCAPE '\\'");
        assert_eq!(
            Sqlite.like("x", "?1", true),
            "lower(x) LIKE lower(?1) ESCAPE '\\'"
        );
    }

    #[test]
    fn check_and_order_pieces() {
        assert!(Sqlite.holds_json(SqlType::Text));
        assert!(Sqlite
            .missing_mutation("fn_x", "db")
            .starts_with("view 'fn_x'"));
        assert_eq!(
            Sqlite.order_key("x", false, true, true),
            "x ASC NULLS FIRST"
        );
        assert_eq!(Sqlite.concat(&["?1", "'%'"]), "?1 || '%'");
        assert_eq!(Sqlite.json_row("?1"), "(SELECT json(?1) AS data)");
    }
}
