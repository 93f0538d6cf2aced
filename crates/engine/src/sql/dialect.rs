//! The [`Dialect`] trait: every difference between databases, as small expression builders.
//! `read.rs` and `mutation.rs` compose statements from these pieces and never spell SQL that
//! differs between dialects themselves. Arguments named `base` are SQL expressions holding a
//! JSON value (a row's `data`, a nested object, an array element).

use super::read::Renderer;
use super::{CallSql, Param, SqlQuery};
use crate::catalog::{Function, SqlType};
use crate::config::DatabaseKind;
use crate::error::GraphQLError;
use crate::plan::{Mutate, Related};
use crate::schema::ScalarKind;

/// SQL spelled per database.
pub trait Dialect: Sync {
    fn kind(&self) -> DatabaseKind;

    /// The placeholder for parameter `n` (1-based) holding `param`, with the cast that makes
    /// the database infer the bound type.
    fn placeholder(&self, n: usize, param: &Param) -> String;

    /// The statement that hands a request's settings (`app.user_id` = the token's `sub`) to
    /// SQL on a connection, session-level, names and values bound; `None` when there is
    /// nothing to send. The server decides when to send it (`db/settings.rs`).
    fn session_prelude(&self, _settings: &[(String, String)]) -> Option<SqlQuery> {
        None
    }

    /// A quoted identifier, schema-qualified names quoted per part.
    fn ident(&self, name: &str) -> String {
        let mut out = String::with_capacity(name.len() + 2);
        for (i, part) in name.split('.').enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push('"');
            out.push_str(&part.replace('"', "\"\""));
            out.push('"');
        }
        out
    }

    /// The JSON value at `path` below `base`, for projection.
    fn json_at(&self, base: &str, path: &[String]) -> String;

    /// The value at `path` as SQL text (strings unquoted), for comparisons and joins.
    fn text_at(&self, base: &str, path: &[String]) -> String;

    /// The value at `path` cast so that it compares as `kind` (numbers numerically, ...).
    fn typed_at(&self, base: &str, path: &[String], kind: ScalarKind) -> String;

    /// How a filter value of `kind` is bound.
    fn bind_value(&self, value: &serde_json::Value, kind: ScalarKind) -> Param;

    /// A bound placeholder cast to compare as `kind` (pairs with [`Dialect::typed_at`]).
    fn typed_param(&self, placeholder: &str, kind: ScalarKind) -> String;

    /// A bound placeholder cast to compare with a column of type `column`.
    fn column_param(&self, placeholder: &str, column: SqlType) -> String;

    /// `expr IN (list)`: the list is bound as one parameter (see [`Dialect::bind_list`]).
    fn in_list(
        &self,
        expr: &str,
        list_placeholder: &str,
        kind: ScalarKind,
        column: Option<SqlType>,
    ) -> String;

    /// How a list of values is bound for [`Dialect::in_list`].
    fn bind_list(&self, values: &[serde_json::Value]) -> Param;

    /// SQL `LIKE`: `pattern` is a SQL expression; case-insensitive when `ilike`. On every
    /// dialect `\` is the escape character (`\%`, `\_`, `\\` match literally; `\` before
    /// another character matches that character), and LIKE is case-sensitive otherwise
    /// (SQLite connections set `case_sensitive_like`). The planner refuses a pattern ending
    /// in a lone `\` (PostgreSQL raises an error there, SQLite matches nothing).
    fn like(&self, expr: &str, pattern: &str, ilike: bool) -> String;

    /// A JSON object built from `(key, json expression)` pairs, keys in this order.
    fn object(&self, pairs: &[(&str, String)]) -> String;

    /// JSON array of `expr` over the rows of the enclosing query (`[]` when none), in the
    /// order the rows arrive from the enclosing query's derived table (see
    /// [`Dialect::list`]).
    fn aggregate(&self, expr: &str) -> String;

    /// `then` when the value at `path` below `base` is a JSON object, else NULL.
    fn if_object(&self, base: &str, path: &[String], then: &str) -> String;

    /// A JSON array built from the elements of the JSON array at `path` below `base`;
    /// `element` is the object built from each element, referring to `alias` (the element's
    /// JSON value expression is `element_base(alias)`). NULL when the value is not an array.
    /// Elements keep their array order: PostgreSQL orders `json_agg` by the element's
    /// ordinality, SQLite's `json_each` yields them in order. MySQL has no ordered
    /// `JSON_ARRAYAGG`: that dialect will use `JSON_TABLE(… FOR ORDINALITY)` and restate the
    /// order (MariaDB 10.5+: `JSON_ARRAYAGG(… ORDER BY ord)`).
    fn object_array(&self, base: &str, path: &[String], alias: &str, element: &str) -> String;

    /// The JSON value expression of an element bound by `object_array`'s alias.
    fn element_base(&self, alias: &str) -> String;

    /// A scalar subquery's JSON result used inside another JSON value.
    fn embed(&self, subquery: &str) -> String;

    /// A root field's JSON expression as the text column the server reads.
    fn to_text(&self, expr: &str) -> String;

    /// A SQL boolean as a JSON boolean.
    fn json_bool(&self, expr: &str) -> String;

    /// The opaque cursor of a row: hex of the JSON array of `values` (JSON expressions).
    fn cursor(&self, values: &[String]) -> String;

    /// A JSON array of SQL values (text, numbers, JSON).
    fn json_array(&self, items: &[String]) -> String;

    /// A key read with [`Dialect::text_at`] as text for a key comparison, so that keys match
    /// as text whatever their JSON type (a key from another database arrives as text).
    fn key_text(&self, expr: &str) -> String {
        expr.to_string()
    }

    /// A `FROM` item aliased `alias` with one JSON column `v`: the elements of the JSON
    /// array bound at `placeholder` (the representations an `_entities` read joins).
    fn json_rows(&self, placeholder: &str, alias: &str) -> String;

    /// The JSON value expression of an element of [`Dialect::json_rows`] aliased `alias`.
    fn element_json(&self, alias: &str) -> String {
        format!("{alias}.v")
    }

    /// A computed field's SQL value `expr` as the JSON value of a field of `kind` (numbers
    /// as numbers of that kind, text as strings); NULL stays NULL. Booleans are made by
    /// [`Dialect::json_bool`].
    fn computed(&self, expr: &str, kind: ScalarKind) -> String;

    /// One step's part of a statement reading relations into this database
    /// (`remote.rs`): rows `(step, key, JSON)` for the keys in the JSON array `keys`.
    fn step_select(
        &self,
        r: &mut Renderer<'_>,
        step: usize,
        related: &Related,
        keys: String,
    ) -> String {
        super::remote::step_select(r, step, related, keys)
    }

    /// A `FROM` item `k` with one text column `v`: the strings of the JSON array bound at
    /// `placeholder`, compared like the dialect's text (the keys of a step in another
    /// database, see `remote.rs`).
    fn key_rows(&self, placeholder: &str) -> String;

    /// One `ORDER BY` key: `expr` ascending or descending, with nulls first or last (when
    /// `nullable`: see [`OrderKey::nullable`](crate::plan::OrderKey)). The standard
    /// `NULLS FIRST`/`NULLS LAST` serves PostgreSQL and SQLite (3.30+; the bundled library is
    /// newer), and costs nothing where there are no nulls. MySQL/MariaDB reject that syntax
    /// and sort nulls first ascending: they override this with an `expr IS NULL` key before
    /// the value key, left out when the key cannot be null.
    fn order_key(
        &self,
        expr: &str,
        descending: bool,
        nulls_first: bool,
        _nullable: bool,
    ) -> String {
        format!(
            "{expr} {} NULLS {}",
            if descending { "DESC" } else { "ASC" },
            if nulls_first { "FIRST" } else { "LAST" }
        )
    }

    /// String concatenation of SQL text expressions (a LIKE pattern around a bound value):
    /// the standard `||`, as PostgreSQL and SQLite read it. MySQL/MariaDB read `||` as
    /// logical OR (`contains` would match every row) and will override this with
    /// `CONCAT(a, b, …)`.
    fn concat(&self, parts: &[&str]) -> String {
        parts.join(" || ")
    }

    /// The rows `rows` picks, as a FROM clause aliased `rows.alias`, in the pick's order.
    ///
    /// A view is read through a derived table so its `data` expression is evaluated once
    /// per row: over a plain view reference PostgreSQL and SQLite inline the view and
    /// evaluate `data` once per reference, so ten fields built the entity's JSON ten times
    /// (2.7x slower on the benchmark's `v_order`). A derived table with an OFFSET is never
    /// pulled up into the outer query; over a table it costs nothing measurable. For a
    /// relation the filter refers to the parent row, so the derived table is correlated,
    /// which PostgreSQL and SQLite accept (MySQL/MariaDB do not: see `mysql.rs`).
    fn rows(&self, rows: &Rows<'_>) -> String {
        let order = order_clause(rows.order);
        if !rows.fence {
            let page = page_clause(rows.limit, rows.offset);
            return format!("{} {}{}{order}{page}", rows.from, rows.alias, rows.filter);
        }
        // OFFSET always (it is the fence), after a LIMIT always (SQLite requires one).
        let limit = rows.limit.unwrap_or(self.no_limit_count());
        let page = page_clause(Some(limit), Some(rows.offset.unwrap_or("0")));
        format!(
            "(SELECT * FROM {} {t}{}{order}{page}) {t}",
            rows.from,
            rows.filter,
            t = rows.alias
        )
    }

    /// The count in a LIMIT clause that limits nothing (SQLite accepts OFFSET only after a
    /// LIMIT).
    fn no_limit_count(&self) -> &'static str;

    /// The JSON object `object` (a JSON expression over the row) of the first row `rows`
    /// picks (its limit is 1), or NULL.
    fn one(&self, object: &str, rows: &Rows<'_>) -> String {
        format!("(SELECT {object} FROM {})", self.rows(rows))
    }

    /// A JSON array of `object` (a JSON expression over the rows) for each row `rows` picks,
    /// in the pick's order (`[]` when none): PostgreSQL's `json_agg` and SQLite's
    /// `json_group_array` aggregate in the order the ordered derived table yields its rows.
    fn list(&self, object: &str, rows: &Rows<'_>) -> String {
        let agg = self.aggregate("q.r");
        format!(
            "(SELECT {agg} FROM (SELECT {object} AS r FROM {}) q)",
            self.rows(rows)
        )
    }

    /// The statement as the driver sends it. Placeholders are numbered in bind order; a
    /// dialect whose placeholders are positional (MySQL's `?`) rewrites them here into text
    /// order, repeating a value used twice.
    fn finish(&self, q: SqlQuery) -> SqlQuery {
        q
    }

    /// The statements that perform mutation `m` by calling its function `f` with `bound`
    /// arguments (the function's parameter index and the argument's value), binding
    /// through `r`. PostgreSQL calls the function with named arguments cast to the
    /// parameters' types; SQLite, which has no functions, inserts into a view with an
    /// `INSTEAD OF INSERT` trigger and takes the response from `fraiseql_mutation_response`.
    /// MySQL/MariaDB will `CALL` a stored procedure whose result set has the
    /// `mutation_response` columns (arguments positional: `?` in parameter order).
    fn mutation_call(
        &self,
        r: &mut Renderer<'_>,
        m: &Mutate,
        f: &Function,
        bound: &[(usize, serde_json::Value)],
    ) -> Result<CallSql, GraphQLError>;

    /// A one-row derived table (without alias) whose `data` column is the JSON text bound
    /// at `placeholder`, read as JSON (a mutation's returned entity).
    fn json_row(&self, placeholder: &str) -> String;

    /// Whether a view's `data` column of catalog type `column` holds the row's JSON: PostgreSQL
    /// wants `json`/`jsonb`; SQLite stores JSON as text of any declared type. MySQL/MariaDB
    /// will accept `JSON` (on MariaDB an alias of `LONGTEXT` with a JSON check).
    fn holds_json(&self, column: SqlType) -> bool;

    /// What `fraiseql check` says when mutation function `function` is missing from
    /// `database` (the object a mutation calls differs per dialect).
    fn missing_mutation(&self, function: &str, database: &str) -> String;

    /// The statements that create a tenant's database `database` (`fraiseql tenant
    /// create`), and its login `owner` when the tenant URL's user names the tenant; empty
    /// where a database is a file (SQLite). Names are validated tenant ids, quoted anyway.
    fn create_database(&self, _database: &str, _owner: Option<&str>) -> Vec<String> {
        Vec::new()
    }

    /// The statements that drop what [`Dialect::create_database`] made.
    fn drop_database(&self, _database: &str, _owner: Option<&str>) -> Vec<String> {
        Vec::new()
    }

    /// The statement that lists the server's databases (one name per row), where a
    /// database is not a file.
    fn database_names(&self) -> Option<&'static str> {
        None
    }

    /// A SQL string literal.
    fn literal(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        push_literal(&mut out, s);
        out
    }
}

/// The rows a list or a single object reads: `FROM from alias` with a filter, an order and a
/// page. Every part is already SQL.
pub struct Rows<'a> {
    /// A quoted view name, or a CTE's name.
    pub from: &'a str,
    pub alias: &'a str,
    /// ` WHERE …`, or empty.
    pub filter: &'a str,
    /// `ORDER BY` keys (each from [`Dialect::order_key`]); empty for none.
    pub order: &'a [String],
    /// Placeholders or literals; `None` limits (or skips) nothing.
    pub limit: Option<&'a str>,
    pub offset: Option<&'a str>,
    /// Read a view through a derived table (see [`Dialect::rows`]); false for a CTE.
    pub fence: bool,
    /// The filter refers to an enclosing row (a relation).
    pub correlated: bool,
}

/// ` ORDER BY k1, k2`, or nothing.
pub(crate) fn order_clause(keys: &[String]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", keys.join(", "))
    }
}

/// ` LIMIT l OFFSET o`, each part only when given.
pub(crate) fn page_clause(limit: Option<&str>, offset: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(l) = limit {
        out.push_str(" LIMIT ");
        out.push_str(l);
    }
    if let Some(o) = offset {
        out.push_str(" OFFSET ");
        out.push_str(o);
    }
    out
}

/// Appends `s` as a SQL string literal (quotes doubled).
pub(crate) fn push_literal(out: &mut String, s: &str) {
    out.push('\'');
    for (i, part) in s.split('\'').enumerate() {
        if i > 0 {
            out.push_str("''");
        }
        out.push_str(part);
    }
    out.push('\'');
}

/// `k1, v1, k2, v2, …` for a JSON object builder: keys as literals, values as given.
pub(crate) fn push_pairs(out: &mut String, pairs: &[(&str, String)]) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_literal(out, k);
        out.push_str(", ");
        out.push_str(v);
    }
}

/// Escapes `%`, `_` and `\` so a value matches literally inside a LIKE pattern.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
