//! The [`Dialect`] trait: every difference between databases, as small expression builders.
//! `read.rs` and `mutation.rs` compose statements from these pieces and never spell SQL that
//! differs between dialects themselves. Arguments named `base` are SQL expressions holding a
//! JSON value (a row's `data`, a nested object, an array element).

use super::read::Renderer;
use super::{CallSql, Param};
use crate::catalog::{Function, SqlType};
use crate::config::DatabaseKind;
use crate::error::GraphQLError;
use crate::plan::Mutate;
use crate::schema::ScalarKind;

/// SQL spelled per database.
pub trait Dialect: Sync {
    fn kind(&self) -> DatabaseKind;

    /// The placeholder for parameter `n` (1-based) holding `param`, with the cast that makes
    /// the database infer the bound type.
    fn placeholder(&self, n: usize, param: &Param) -> String;

    /// A quoted identifier, schema-qualified names quoted per part.
    fn ident(&self, name: &str) -> String {
        let mut out = String::with_capacity(name.len() + 2);
        for (i, part) in name.split('.').enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push('"');
            out.push_str(part);
            out.push('"');
        }
        out
    }

    /// A LIMIT clause that limits nothing (SQLite accepts OFFSET only after a LIMIT).
    fn no_limit(&self) -> &'static str;

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

    /// One `ORDER BY` key: `expr` ascending or descending, with nulls first or last. The
    /// standard `NULLS FIRST`/`NULLS LAST` serves PostgreSQL and SQLite (3.30+; the bundled
    /// library is newer). MySQL/MariaDB reject that syntax and sort nulls first ascending:
    /// they will override this with an `expr IS NULL` key before the value key
    /// (`expr IS NULL DESC, expr ASC` for nulls first).
    fn order_key(&self, expr: &str, descending: bool, nulls_first: bool) -> String {
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

    /// The rows of the view `view` (already quoted) that `clauses` (` WHERE … ORDER BY …`),
    /// `limit` and `offset` (placeholders or literals; `None` limits nothing) pick, as a
    /// derived table aliased `t` whose `t.data` the projection reads.
    ///
    /// Why a derived table: a projection reads `t.data` once per selected field, and over a
    /// plain view reference PostgreSQL and SQLite inline the view and evaluate its `data`
    /// expression once per reference, so ten fields built the entity's JSON ten times (2.7x
    /// slower on the benchmark's `v_order`). A derived table with an OFFSET is never pulled
    /// up into the outer query, so `data` is computed once per row; over a table it costs
    /// nothing measurable. Its row order is the order the outer aggregate sees.
    ///
    /// For a relation the clauses refer to the parent row, so the derived table is
    /// correlated: PostgreSQL and SQLite accept that; MariaDB and MySQL before 8.0.14 reject
    /// an outer reference inside a derived table, so their dialect will read the view
    /// directly (`FROM view t WHERE … ORDER BY … LIMIT …`) or use a `LATERAL` derived table
    /// on MySQL 8.0.14+.
    fn derived_rows(
        &self,
        view: &str,
        t: &str,
        clauses: &str,
        limit: Option<&str>,
        offset: Option<&str>,
    ) -> String {
        // OFFSET always (it is the fence), after a LIMIT always (SQLite requires one).
        let limit = match limit {
            Some(l) => format!("LIMIT {l}"),
            None => self.no_limit().to_string(),
        };
        format!(
            "(SELECT * FROM {view} {t}{clauses} {limit} OFFSET {}) {t}",
            offset.unwrap_or("0")
        )
    }

    /// A JSON array of `object` (a JSON expression over the rows) for each row of `rows` (a
    /// FROM clause: a [`Dialect::derived_rows`] table, or a CTE with its own `WHERE … ORDER
    /// BY`), in the rows' order: PostgreSQL's `json_agg` and
    /// SQLite's `json_group_array` aggregate in the order the ordered derived table yields
    /// its rows. MySQL's `JSON_ARRAYAGG` guarantees no order and takes no `ORDER BY`
    /// (MariaDB 10.5+ takes one): that dialect will aggregate with the sort keys restated
    /// inside the aggregate, or build the array with `GROUP_CONCAT(… ORDER BY …)`.
    fn list(&self, object: &str, rows: &str) -> String {
        let agg = self.aggregate("q.r");
        format!("(SELECT {agg} FROM (SELECT {object} AS r FROM {rows}) q)")
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

    /// A SQL string literal.
    fn literal(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        push_literal(&mut out, s);
        out
    }
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
