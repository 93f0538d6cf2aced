//! MySQL and MariaDB: `JSON_OBJECT`/`JSON_ARRAYAGG`, `JSON_EXTRACT`/`JSON_VALUE` paths,
//! backquoted identifiers, `?` placeholders put into text order by [`Mysql::finish`].
//! Written for MariaDB 10.6+ (CI runs 10.11); where MySQL 8 differs, the method says so.
//!
//! What the driver (`db/mysql.rs`) guarantees for every connection, and this file relies on:
//! `sql_mode` includes `NO_BACKSLASH_ESCAPES` (a backslash in a string literal is a plain
//! character, as in standard SQL, so [`Dialect::literal`] only doubles quotes and
//! `ESCAPE '\'` means backslash), the character set is `utf8mb4`, and
//! `group_concat_max_len` is raised (MariaDB cuts `JSON_ARRAYAGG` at that length).
//!
//! Text compares and sorts byte by byte without padding (`utf8mb4_nopad_bin`), as on
//! PostgreSQL with the C collation and on SQLite: `'a' <> 'A'` and `'a' <> 'a '`, where the
//! server's default collation would say both are equal.

use super::dialect::{order_clause, page_clause, push_literal, push_pairs, Dialect, Rows};
use super::mutation::schema_error;
use super::outbox::{literal, seq_list, trigger_name, Capture, Outbox};
use super::read::Renderer;
use super::{remote, CallSql, Param, SqlQuery};
use crate::catalog::{Function, SqlType};
use crate::config::{DatabaseKind, Op};
use crate::error::GraphQLError;
use crate::plan::{Mutate, Related};
use crate::schema::ScalarKind;
use serde_json::Value as Json;

/// The MySQL/MariaDB dialect.
pub(crate) struct Mysql;

/// Numbers compare as exact decimals: 65 digits, 30 after the point (MariaDB's widest), so
/// 19.99 < 20.4 and 0.1 + 0.2 style surprises of DOUBLE never happen.
const DECIMAL: &str = "DECIMAL(65,30)";

/// Text as utf8mb4 compared byte by byte, without padding. `utf8mb4_nopad_bin` is MariaDB's
/// name; MySQL 8's equivalent is `utf8mb4_0900_bin`, and `JSON_VALUE` needs MySQL 8.0.21.
fn binary_text(expr: &str) -> String {
    format!("(CONVERT({expr} USING utf8mb4) COLLATE utf8mb4_nopad_bin)")
}

/// An RFC 3339 text (`Z`, `±hh:mm` or no offset, `T` or `t`) as a UTC `DATETIME(6)`. MySQL
/// and MariaDB parse neither the `T` nor the offset, so both are taken apart here.
fn utc_datetime(text: &str) -> String {
    format!(
        "CONVERT_TZ(CAST(REPLACE(REPLACE(REGEXP_REPLACE({text}, '([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$', ''), 'T', ' '), 't', ' ') AS DATETIME(6)), \
         IF({text} REGEXP '[+-][0-9]{{2}}:[0-9]{{2}}$', RIGHT({text}, 6), '+00:00'), '+00:00')"
    )
}

/// `'$."a"."b"'`: keys are GraphQL names from the schema; quoted so any key is one step.
fn json_path(path: &[String]) -> String {
    let mut p = String::from("$");
    for k in path {
        p.push_str(".\"");
        p.push_str(&k.replace('\\', "\\\\").replace('"', "\\\""));
        p.push('"');
    }
    let mut out = String::with_capacity(p.len() + 2);
    push_literal(&mut out, &p);
    out
}

/// A value cast to compare as `kind` (the same on both sides of a comparison).
fn typed(value: &str, kind: ScalarKind) -> String {
    match kind {
        ScalarKind::Int | ScalarKind::Float | ScalarKind::Decimal => {
            format!("CAST({value} AS {DECIMAL})")
        }
        ScalarKind::DateTime => utc_datetime(value),
        ScalarKind::Date => format!("CAST({value} AS DATE)"),
        // MariaDB 10.7+: a canonical form, so equal JSON values compare equal (MySQL 8
        // compares its JSON type natively and has no JSON_NORMALIZE).
        ScalarKind::Json => format!("JSON_NORMALIZE({value})"),
        ScalarKind::Boolean => value.to_string(),
        ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid => binary_text(value),
    }
}

impl Dialect for Mysql {
    /// User variables named like the settings (`@`app.user_id``), values bound. They stay
    /// on the connection until the server changes them for another statement's settings;
    /// views cannot read user variables (a MySQL rule), stored functions and procedures can.
    fn session_prelude(&self, settings: &[(String, String)]) -> Option<SqlQuery> {
        if settings.is_empty() {
            return None;
        }
        let sets: Vec<String> = settings
            .iter()
            .map(|(k, _)| format!("@`{}` = ?", k.replace('`', "``")))
            .collect();
        Some(SqlQuery {
            text: format!("SET {}", sets.join(", ")),
            params: settings
                .iter()
                .map(|(_, v)| Param::Text(v.clone()))
                .collect(),
        })
    }

    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Mysql
    }

    /// A user (from any host) with every privilege on the database, when there is one.
    fn create_database(&self, database: &str, owner: Option<&str>) -> Vec<String> {
        let mut out = vec![format!("CREATE DATABASE {}", self.ident(database))];
        if let Some(o) = owner {
            let user = format!("{}@'%'", self.literal(o));
            out.push(format!("CREATE USER {user}"));
            out.push(format!("GRANT ALL ON {}.* TO {user}", self.ident(database)));
        }
        out
    }

    fn drop_database(&self, database: &str, owner: Option<&str>) -> Vec<String> {
        let mut out = vec![format!("DROP DATABASE IF EXISTS {}", self.ident(database))];
        if let Some(o) = owner {
            out.push(format!("DROP USER IF EXISTS {}@'%'", self.literal(o)));
        }
        out
    }

    fn database_names(&self) -> Option<&'static str> {
        Some("SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata ORDER BY 1")
    }

    fn holds_json(&self, column: SqlType) -> bool {
        // MariaDB's JSON is LONGTEXT (with a JSON_VALID check); a view's JSON_OBJECT column
        // is VARCHAR, MEDIUMTEXT or LONGTEXT in the collation of the connection that created
        // the view, which the catalog reads as `Other` unless that collation is exact (the
        // server's default is not). MySQL 8 has a real JSON type. Numbers and dates are not
        // JSON objects; what a text holds, the first row shows.
        matches!(
            column,
            SqlType::Json | SqlType::Jsonb | SqlType::Text | SqlType::Other
        )
    }

    fn missing_mutation(&self, function: &str, database: &str) -> String {
        format!(
            "procedure '{function}' does not exist in database '{database}' \
             (on MySQL/MariaDB a mutation is a stored procedure whose result set has the \
             mutation_response columns)"
        )
    }

    fn ident(&self, name: &str) -> String {
        let mut out = String::with_capacity(name.len() + 2);
        for (i, part) in name.split('.').enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push('`');
            out.push_str(&part.replace('`', "``"));
            out.push('`');
        }
        out
    }

    fn no_limit_count(&self) -> &'static str {
        "18446744073709551615"
    }

    /// `?n`: numbered so [`Mysql::finish`] can put the values into text order (MySQL's `?`
    /// is positional, and the text order differs from the bind order in `list`).
    fn placeholder(&self, n: usize, _param: &Param) -> String {
        format!("?{n}")
    }

    fn json_at(&self, base: &str, path: &[String]) -> String {
        format!("JSON_EXTRACT({base}, {})", json_path(path))
    }

    fn text_at(&self, base: &str, path: &[String]) -> String {
        // JSON_VALUE: NULL for a JSON null (as PostgreSQL's ->> and SQLite's ->>), strings
        // unescaped, true/false as 1/0.
        binary_text(&format!("JSON_VALUE({base}, {})", json_path(path)))
    }

    fn typed_at(&self, base: &str, path: &[String], kind: ScalarKind) -> String {
        let value = format!("JSON_VALUE({base}, {})", json_path(path));
        match kind {
            ScalarKind::Json => typed(&self.json_at(base, path), kind),
            _ => typed(&value, kind),
        }
    }

    fn bind_value(&self, value: &Json, kind: ScalarKind) -> Param {
        match (kind, value) {
            // JSON_VALUE reads true/false as 1/0.
            (ScalarKind::Boolean, Json::Bool(b)) => Param::Int(i64::from(*b)),
            (ScalarKind::Json, v) => Param::Text(v.to_string()),
            // Numbers go as text and are cast to DECIMAL(65,30) in SQL: exact.
            (k, Json::String(s)) if k.is_numeric() => Param::Text(s.trim().to_string()),
            // Text as given: `'a '` is not `'a'`.
            (_, Json::String(s)) => Param::Text(s.clone()),
            (_, other) => Param::Text(other.to_string()),
        }
    }

    fn typed_param(&self, placeholder: &str, kind: ScalarKind) -> String {
        typed(placeholder, kind)
    }

    fn column_param(&self, placeholder: &str, column: SqlType) -> String {
        // Text columns are only used when their collation is binary and not padded (the
        // catalog maps others to `Other`), so the value compares in the column's collation
        // and its index serves.
        match column {
            SqlType::Integer | SqlType::Numeric => format!("CAST({placeholder} AS {DECIMAL})"),
            SqlType::Timestamp => utc_datetime(placeholder),
            SqlType::Date => format!("CAST({placeholder} AS DATE)"),
            _ => placeholder.to_string(),
        }
    }

    fn in_list(&self, expr: &str, list: &str, kind: ScalarKind, column: Option<SqlType>) -> String {
        let value = match column {
            Some(c) => self.column_param("j.v", c),
            None => typed("j.v", kind),
        };
        format!(
            "{expr} IN (SELECT {value} FROM JSON_TABLE({list}, '$[*]' COLUMNS (v LONGTEXT PATH '$')) j)"
        )
    }

    fn bind_list(&self, values: &[Json]) -> Param {
        Param::Text(Json::Array(values.to_vec()).to_string())
    }

    fn like(&self, expr: &str, pattern: &str, ilike: bool) -> String {
        // The binary collation makes LIKE case-sensitive (the default collation is not).
        let expr = binary_text(expr);
        if ilike {
            format!("LOWER({expr}) LIKE LOWER({pattern}) ESCAPE '\\'")
        } else {
            format!("{expr} LIKE {pattern} ESCAPE '\\'")
        }
    }

    /// `||` is logical OR here (unless `PIPES_AS_CONCAT`): `'%' || ? || '%'` would be true for
    /// every row.
    fn concat(&self, parts: &[&str]) -> String {
        format!("CONCAT({})", parts.join(", "))
    }

    /// NULLs sort first ascending and last descending, and `NULLS FIRST/LAST` is not
    /// accepted: an `IS NULL` key before the value places them. A key that cannot be null
    /// goes without it: MariaDB keeps the constant `IS NULL` key in the sort, which then
    /// cannot follow the column's index, and `ORDER BY id LIMIT 100` would sort every row
    /// of the view (building each row's JSON first).
    fn order_key(&self, expr: &str, descending: bool, nulls_first: bool, nullable: bool) -> String {
        let direction = if descending { "DESC" } else { "ASC" };
        if !nullable {
            return format!("{expr} {direction}");
        }
        format!(
            "({expr} IS NULL) {}, {expr} {direction}",
            if nulls_first { "DESC" } else { "ASC" },
        )
    }

    fn object(&self, pairs: &[(&str, String)]) -> String {
        let mut out = String::from("JSON_OBJECT(");
        push_pairs(&mut out, pairs);
        out.push(')');
        out
    }

    fn aggregate(&self, expr: &str) -> String {
        format!("COALESCE(JSON_ARRAYAGG({expr}), JSON_ARRAY())")
    }

    fn if_object(&self, base: &str, path: &[String], then: &str) -> String {
        format!(
            "CASE WHEN JSON_TYPE({}) = 'OBJECT' THEN {then} END",
            self.json_at(base, path)
        )
    }

    /// `JSON_TABLE … FOR ORDINALITY` numbers the elements and the aggregate restates that
    /// order (MariaDB's `JSON_ARRAYAGG` takes an `ORDER BY`; MySQL 8's does not, and would
    /// need the array rebuilt with `GROUP_CONCAT(… ORDER BY ord)`).
    fn object_array(&self, base: &str, path: &[String], alias: &str, element: &str) -> String {
        let arr = self.json_at(base, path);
        format!(
            "CASE WHEN JSON_TYPE({arr}) = 'ARRAY' THEN (SELECT COALESCE(JSON_ARRAYAGG({element} ORDER BY {alias}.ord), JSON_ARRAY()) \
             FROM JSON_TABLE({arr}, '$[*]' COLUMNS (ord FOR ORDINALITY, value JSON PATH '$')) AS {alias}) END"
        )
    }

    /// JSON_TABLE's columns are `utf8mb4_bin` whatever the connection says; JSON_OBJECT
    /// refuses to mix that with the connection's collation (error 1271), so the element is
    /// given ours explicitly.
    fn element_base(&self, alias: &str) -> String {
        binary_text(&format!("{alias}.value"))
    }

    fn embed(&self, subquery: &str) -> String {
        // MariaDB keeps a subquery's JSON type, so JSON_OBJECT nests it as JSON, not text.
        subquery.to_string()
    }

    fn to_text(&self, expr: &str) -> String {
        expr.to_string()
    }

    fn json_bool(&self, expr: &str) -> String {
        format!("JSON_EXTRACT(IF({expr}, 'true', 'false'), '$')")
    }

    fn cursor(&self, values: &[String]) -> String {
        format!("LOWER(HEX(JSON_ARRAY({})))", values.join(", "))
    }

    fn json_array(&self, items: &[String]) -> String {
        format!("JSON_ARRAY({})", items.join(", "))
    }

    /// In the connection's collation, so a key compares with text columns exactly.
    fn key_rows(&self, placeholder: &str) -> String {
        format!(
            "JSON_TABLE({placeholder}, '$[*]' COLUMNS (v TEXT CHARACTER SET utf8mb4 \
             COLLATE utf8mb4_nopad_bin PATH '$')) k"
        )
    }

    fn json_rows(&self, placeholder: &str, alias: &str) -> String {
        format!("JSON_TABLE({placeholder}, '$[*]' COLUMNS (v JSON PATH '$')) {alias}")
    }

    fn computed(&self, expr: &str, kind: ScalarKind) -> String {
        match kind {
            ScalarKind::Int => format!("CAST(({expr}) AS SIGNED)"),
            ScalarKind::Float => format!("CAST(({expr}) AS DOUBLE)"),
            ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid => {
                format!("CAST(({expr}) AS CHAR)")
            }
            ScalarKind::Json => format!("JSON_EXTRACT({expr}, '$')"),
            _ => format!("({expr})"),
        }
    }

    /// A list step numbers each key's rows with a window and aggregates the page, instead of
    /// one correlated `JSON_ARRAYAGG(… ORDER BY … LIMIT …)` per key: MariaDB 10.11 fails that
    /// one with "Invalid use of group function" (1111) when a prepared statement runs again
    /// and the order reads the view's `data` (which aggregates itself, like `v_order`'s
    /// items). Keys without rows give no row; the caller reads that as `[]`.
    fn step_select(
        &self,
        r: &mut Renderer<'_>,
        step: usize,
        related: &Related,
        keys: String,
    ) -> String {
        if !related.list {
            return remote::step_select(r, step, related, keys);
        }
        // `?n` marks are put in text order by `finish`, so binding order is free here.
        let t = r.alias();
        let data = format!("{t}.data");
        let obj = r.selection(&related.selection, &data);
        let mut on = r.key_match(related, &t, "k.v");
        if let Some(f) = &related.filter {
            on = format!("{on} AND {}", r.filter(f, &t, &related.view));
        }
        let order = r.order_by(&related.order, &t, Some(&related.view), false);
        let list = r.bind(Param::Text(keys));
        let mut page = String::new();
        if related.offset > 0 {
            let offset = r.bind(Param::Int(
                i64::try_from(related.offset).unwrap_or(i64::MAX),
            ));
            page.push_str(&format!(" AND q.n > {offset}"));
        }
        if let Some(limit) = related.limit {
            let last = related.offset.saturating_add(limit);
            let last = r.bind(Param::Int(i64::try_from(last).unwrap_or(i64::MAX)));
            page.push_str(&format!(" AND q.n <= {last}"));
        }
        format!(
            "SELECT {}, q.v, COALESCE(JSON_ARRAYAGG(q.r ORDER BY q.n), JSON_ARRAY()) \
             FROM (SELECT k.v, {obj} AS r, ROW_NUMBER() OVER (PARTITION BY k.v{}) AS n \
             FROM {} JOIN {} {t} ON {on}) q WHERE 1 = 1{page} GROUP BY q.v",
            self.literal(&step.to_string()),
            order_clause(&order),
            self.key_rows(&list),
            self.ident(&related.view),
        )
    }

    /// A relation's rows cannot be a derived table: MariaDB (and MySQL before 8.0.14, which
    /// added `LATERAL`) reject a reference to the enclosing row inside one. They are read
    /// from the view directly.
    fn one(&self, object: &str, rows: &Rows<'_>) -> String {
        if !rows.correlated {
            return format!("(SELECT {object} FROM {})", self.rows(rows));
        }
        format!(
            "(SELECT {object} FROM {} {}{}{}{})",
            rows.from,
            rows.alias,
            rows.filter,
            order_clause(rows.order),
            page_clause(rows.limit, rows.offset)
        )
    }

    /// `JSON_ARRAYAGG` keeps no order of its own: the pick's order is restated inside it.
    /// A relation (correlated) pages inside the aggregate (`JSON_ARRAYAGG(… ORDER BY … LIMIT
    /// … OFFSET …)`, MariaDB 10.5+; MySQL 8 has neither and would need `LATERAL`).
    ///
    /// A root list numbers its page's rows in a derived table and aggregates the finished
    /// objects: MariaDB 10.11 fails with "Invalid use of group function" (1111) when an
    /// aggregate in a scalar subquery takes an object holding a relation over a view that
    /// itself aggregates (`v_order`'s items), while the same relation one level deeper works.
    fn list(&self, object: &str, rows: &Rows<'_>) -> String {
        let order = order_clause(rows.order);
        if rows.correlated || !rows.fence {
            let page = page_clause(rows.limit, rows.offset);
            return format!(
                "(SELECT COALESCE(JSON_ARRAYAGG({object}{order}{page}), JSON_ARRAY()) FROM {} {}{})",
                rows.from, rows.alias, rows.filter
            );
        }
        format!(
            "(SELECT COALESCE(JSON_ARRAYAGG(q.r ORDER BY q.n), JSON_ARRAY()) \
             FROM (SELECT {object} AS r, ROW_NUMBER() OVER ({}) AS n FROM {}) q)",
            order.trim_start(),
            self.rows(rows)
        )
    }

    /// Rewrites every `?n` into `?` and lists the values in text order, a value used twice
    /// (a datetime compared through [`utc_datetime`]) bound twice. Our own SQL holds `?` only
    /// as placeholders outside literals and quoted identifiers, which are skipped.
    fn finish(&self, q: SqlQuery) -> SqlQuery {
        let mut text = String::with_capacity(q.text.len());
        let mut params = Vec::with_capacity(q.params.len());
        let mut chars = q.text.chars().peekable();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            if let Some(open) = quote {
                // A doubled quote inside is the quote itself: leaving and re-entering gives
                // the same result.
                if c == open {
                    quote = None;
                }
                text.push(c);
                continue;
            }
            match c {
                '\'' | '`' | '"' => {
                    quote = Some(c);
                    text.push(c);
                }
                '?' => {
                    let mut n = 0usize;
                    while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                        n = n * 10 + d as usize;
                        chars.next();
                    }
                    text.push('?');
                    if let Some(p) = n.checked_sub(1).and_then(|i| q.params.get(i)) {
                        params.push(p.clone());
                    }
                }
                _ => text.push(c),
            }
        }
        SqlQuery { text, params }
    }

    /// `CALL procedure(?, …)` with every parameter in declared order: one an argument binds,
    /// NULL for the others (a procedure parameter has no default). The first result set is
    /// read with its column names (see [`CallSql::Procedure`]).
    fn mutation_call(
        &self,
        r: &mut Renderer<'_>,
        m: &Mutate,
        f: &Function,
        bound: &[(usize, Json)],
    ) -> Result<CallSql, GraphQLError> {
        if !matches!(f.returns, crate::catalog::FunctionReturn::Procedure) {
            return Err(schema_error(format!(
                "`{}` is a function; on MySQL/MariaDB a mutation calls a stored procedure",
                m.function
            )));
        }
        let args: Vec<String> = (0..f.params.len())
            .map(|i| match bound.iter().find(|(p, _)| *p == i) {
                None | Some((_, Json::Null)) => "NULL".to_string(),
                Some((_, v)) => r.bind(mysql_value(v)),
            })
            .collect();
        let text = format!("CALL {}({})", r.d.ident(&m.function), args.join(", "));
        Ok(CallSql::Procedure(SqlQuery {
            text,
            params: std::mem::take(&mut r.params),
        }))
    }

    fn json_row(&self, placeholder: &str) -> String {
        format!("(SELECT JSON_EXTRACT({placeholder}, '$') AS data)")
    }
}

/// An argument as the value the procedure's parameter converts from: numbers and strings as
/// text (exact; the server converts to the declared type), booleans as 0/1, objects and
/// arrays as JSON text.
fn mysql_value(v: &Json) -> Param {
    match v {
        Json::Bool(b) => Param::Int(i64::from(*b)),
        Json::Number(n) => n
            .as_i64()
            .map(Param::Int)
            .unwrap_or_else(|| Param::Text(n.to_string())),
        Json::String(s) => Param::Text(s.clone()),
        other => Param::Text(other.to_string()),
    }
}

/// Events on MySQL/MariaDB: tables `fraiseql_*` in the database itself. Capture runs in AFTER
/// triggers (one per rule and operation), which first take the row lock of the table's entry
/// in `fraiseql_outbox_order`: the next writer of that table waits there until this
/// transaction ends, so `seq` order is commit order per table. A payload view is read by the
/// relay when it publishes (MySQL has no trigger that runs at commit).
impl Outbox for Mysql {
    fn outbox_tables(&self) -> Vec<String> {
        let text = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS fraiseql_outbox (
                    seq BIGINT AUTO_INCREMENT PRIMARY KEY,
                    id CHAR(36) {text} NOT NULL UNIQUE,
                    subject VARCHAR(1024) {text} NOT NULL,
                    op VARCHAR(10) {text} NOT NULL,
                    source VARCHAR(255) {text},
                    row_data LONGTEXT {text} NOT NULL,
                    old_data LONGTEXT {text},
                    body LONGTEXT {text},
                    view_name VARCHAR(255) {text},
                    view_key VARCHAR(255) {text},
                    tenant VARCHAR(255) {text},
                    created_at DATETIME(6) NOT NULL,
                    published_at DATETIME(6) NULL,
                    error TEXT {text},
                    KEY outbox_waiting (published_at, error(1), seq)
                ) ENGINE=InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS fraiseql_outbox_order (
                    source VARCHAR(255) {text} PRIMARY KEY,
                    n BIGINT NOT NULL
                ) ENGINE=InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS fraiseql_inbox (
                    consumer VARCHAR(255) {text} NOT NULL,
                    event_id VARCHAR(255) {text} NOT NULL,
                    processed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                    PRIMARY KEY (consumer, event_id)
                ) ENGINE=InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS fraiseql_dead_letter (
                    id BIGINT AUTO_INCREMENT PRIMARY KEY,
                    consumer VARCHAR(255) {text} NOT NULL,
                    subject VARCHAR(1024) {text} NOT NULL,
                    event_id VARCHAR(255) {text} NOT NULL,
                    body LONGTEXT {text} NOT NULL,
                    headers LONGTEXT {text},
                    error TEXT {text} NOT NULL,
                    deliveries INT NOT NULL,
                    failed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ) ENGINE=InnoDB"
            ),
        ]
    }

    fn installed_triggers(&self) -> SqlQuery {
        SqlQuery {
            text:
                "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
                   WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'fraiseql\\_capture\\_%'"
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
                .map(|c| format!("{}, {row}.{}", literal(c), self.ident(c)))
                .collect();
            format!("JSON_OBJECT({})", pairs.join(", "))
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
            let lock = if rule.table_order {
                format!(
                    "INSERT INTO fraiseql_outbox_order (source, n) VALUES ({}, 1) \
                     ON DUPLICATE KEY UPDATE n = n + 1;\n",
                    literal(&rule.table)
                )
            } else {
                String::new()
            };
            let mut body = format!(
                "{lock}INSERT INTO fraiseql_outbox (id, subject, op, source, row_data, old_data, \
                 view_name, view_key, tenant, created_at) VALUES (UUID(), {subject}, {op_name}, \
                 {table}, {row_json}, {old}, {view}, {key}, NULLIF(@`app.tenant_id`, ''), \
                 UTC_TIMESTAMP(6));",
                table = literal(&rule.table),
                subject = literal(&rule.subject),
                op_name = literal(op.as_str()),
                row_json = json(row),
            );
            if let Some(condition) = &rule.condition {
                let columns: Vec<String> = rule
                    .columns
                    .iter()
                    .map(|c| format!("{row}.{} AS {}", self.ident(c), self.ident(c)))
                    .collect();
                body = format!(
                    "IF EXISTS (SELECT 1 FROM (SELECT {}) AS r WHERE ({condition})) THEN\n{body}\nEND IF;",
                    columns.join(", ")
                );
            }
            out.push(format!("DROP TRIGGER IF EXISTS {name}"));
            out.push(format!(
                "CREATE TRIGGER {name} AFTER {} ON {} FOR EACH ROW\nBEGIN\n{body}\nEND",
                op.as_str(),
                self.ident(&rule.table)
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
            text: "SELECT CAST(seq AS CHAR), id, subject, op, source, body, row_data, old_data, \
                   view_name, view_key, tenant, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') \
                   FROM fraiseql_outbox AS o WHERE published_at IS NULL AND error IS NULL \
                   ORDER BY o.seq LIMIT ?"
                .into(),
            params: vec![Param::Int(limit as i64)],
        }
    }

    fn view_body(&self, view: &str, key: &str, value: &str) -> SqlQuery {
        SqlQuery {
            text: format!(
                "SELECT data FROM {} WHERE {} = ? LIMIT 1",
                self.ident(view),
                self.ident(key)
            ),
            params: vec![Param::Text(value.into())],
        }
    }

    fn mark_published(&self, seqs: &[i64]) -> SqlQuery {
        let (marks, params) = seq_list(seqs, 1, |_, _| "?".into());
        SqlQuery {
            text: format!(
                "UPDATE fraiseql_outbox SET published_at = UTC_TIMESTAMP(6) WHERE seq IN ({marks})"
            ),
            params,
        }
    }

    fn mark_failed(&self, seq: i64, error: &str) -> SqlQuery {
        SqlQuery {
            text: "UPDATE fraiseql_outbox SET error = ? WHERE seq = ?".into(),
            params: vec![Param::Text(error.into()), Param::Int(seq)],
        }
    }

    fn purge(&self, age_secs: u64) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql_outbox \
                   WHERE published_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND"
                .into(),
            params: vec![Param::Int(age_secs.min(i64::MAX as u64) as i64)],
        }
    }

    fn purge_inbox(&self, age_secs: u64) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql_inbox WHERE processed_at < NOW(6) - INTERVAL ? SECOND"
                .into(),
            params: vec![Param::Int(age_secs.min(i64::MAX as u64) as i64)],
        }
    }

    fn depth(&self) -> SqlQuery {
        SqlQuery {
            text: "SELECT CAST(COUNT(*) AS CHAR), \
                   CAST(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) / 1000000 AS CHAR) \
                   FROM fraiseql_outbox WHERE published_at IS NULL AND error IS NULL"
                .into(),
            params: vec![],
        }
    }

    fn inbox_insert(&self, consumer: &str, event_id: &str) -> SqlQuery {
        SqlQuery {
            text: "INSERT IGNORE INTO fraiseql_inbox (consumer, event_id) VALUES (?, ?)".into(),
            params: vec![Param::Text(consumer.into()), Param::Text(event_id.into())],
        }
    }

    fn handler_call(&self, handler: &str, body: &str, headers: Option<&str>) -> SqlQuery {
        let mut params = vec![Param::Text(body.into())];
        let args = match headers {
            Some(h) => {
                params.push(Param::Text(h.into()));
                "?, ?"
            }
            None => "?",
        };
        SqlQuery {
            text: format!("CALL {}({args})", self.ident(handler)),
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
                   VALUES (?, ?, ?, ?, ?, ?, ?)"
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

    fn lease_take(&self, _holder: &str, _ttl_secs: u64) -> SqlQuery {
        // A named lock per database, held by the relay's own connection.
        SqlQuery {
            text: "SELECT CAST(GET_LOCK(CONCAT('fraiseql.relay.', MD5(DATABASE())), 0) AS CHAR)"
                .into(),
            params: vec![],
        }
    }

    fn lease_release(&self, _holder: &str) -> SqlQuery {
        SqlQuery {
            text: "SELECT CAST(RELEASE_LOCK(CONCAT('fraiseql.relay.', MD5(DATABASE()))) AS CHAR)"
                .into(),
            params: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish(text: &str, params: Vec<Param>) -> SqlQuery {
        Mysql.finish(SqlQuery {
            text: text.into(),
            params,
        })
    }

    #[test]
    fn placeholders_are_put_in_text_order() {
        let q = finish(
            "SELECT ?2, ?1, ?2 FROM t WHERE a = '?1' AND `b?1` = ?3",
            vec![Param::Int(1), Param::Int(2), Param::Text("x".into())],
        );
        assert_eq!(q.text, "SELECT ?, ?, ? FROM t WHERE a = '?1' AND `b?1` = ?");
        assert_eq!(
            q.params,
            [
                Param::Int(2),
                Param::Int(1),
                Param::Int(2),
                Param::Text("x".into())
            ]
        );
    }

    #[test]
    fn quotes_inside_literals_do_not_end_them() {
        let q = finish("SELECT 'it''s ?1', ?1", vec![Param::Int(7)]);
        assert_eq!(q.text, "SELECT 'it''s ?1', ?");
        assert_eq!(q.params, [Param::Int(7)]);
    }

    #[test]
    fn text_is_bound_as_given_and_numbers_trimmed() {
        let text = Mysql.bind_value(&Json::String(" a ".into()), ScalarKind::Text);
        assert_eq!(text, Param::Text(" a ".into()));
        let number = Mysql.bind_value(&Json::String(" 1.5 ".into()), ScalarKind::Decimal);
        assert_eq!(number, Param::Text("1.5".into()));
    }

    #[test]
    fn identifiers_use_backquotes() {
        assert_eq!(Mysql.ident("v_order"), "`v_order`");
        assert_eq!(Mysql.ident("app.v`x"), "`app`.`v``x`");
    }

    #[test]
    fn pieces_that_differ_from_standard_sql() {
        assert_eq!(Mysql.concat(&["'%'", "?1"]), "CONCAT('%', ?1)");
        assert_eq!(
            Mysql.order_key("x", false, false, true),
            "(x IS NULL) ASC, x ASC"
        );
        assert_eq!(
            Mysql.order_key("x", true, true, true),
            "(x IS NULL) DESC, x DESC"
        );
        assert_eq!(Mysql.order_key("x", true, true, false), "x DESC");
        assert_eq!(
            Mysql.like("x", "?1", false),
            "(CONVERT(x USING utf8mb4) COLLATE utf8mb4_nopad_bin) LIKE ?1 ESCAPE '\\'"
        );
        assert_eq!(json_path(&["a".into(), "b c".into()]), "'$.\"a\".\"b c\"'");
        assert!(Mysql.holds_json(SqlType::Text) && Mysql.holds_json(SqlType::Other));
        assert!(!Mysql.holds_json(SqlType::Integer));
        assert!(Mysql
            .missing_mutation("fn_x", "db")
            .starts_with("procedure 'fn_x'"));
    }
}
