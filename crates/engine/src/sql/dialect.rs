//! The [`Dialect`] trait: every difference between databases, as small expression builders.
//! `read.rs` and `mutation.rs` compose statements from these pieces and never spell SQL that
//! differs between dialects themselves. Arguments named `base` are SQL expressions holding a
//! JSON value (a row's `data`, a nested object, an array element).

use super::Param;
use crate::catalog::SqlType;
use crate::config::DatabaseKind;
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

    /// JSON array of `expr` over the rows of the enclosing query (`[]` when none).
    fn aggregate(&self, expr: &str) -> String;

    /// `then` when the value at `path` below `base` is a JSON object, else NULL.
    fn if_object(&self, base: &str, path: &[String], then: &str) -> String;

    /// A JSON array built from the elements of the JSON array at `path` below `base`;
    /// `element` is the object built from each element, referring to `alias` (the element's
    /// JSON value expression is `element_base(alias)`). NULL when the value is not an array.
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
