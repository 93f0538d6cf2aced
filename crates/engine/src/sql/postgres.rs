//! PostgreSQL: `json_build_object` (keeps key order, unlike jsonb), `json_agg`, `->`/`->>`
//! on the `jsonb` data column, typed casts for comparisons, `$n::type` placeholders.

use super::dialect::{push_literal, push_pairs, Dialect};
use super::mutation::schema_error;
use super::read::Renderer;
use super::CallSql;
use super::{json_text, Param, SqlQuery};
use crate::catalog::{Function, FunctionReturn, SqlType};
use crate::config::DatabaseKind;
use crate::error::{ErrorCode, GraphQLError};
use crate::plan::{canonical_uuid, Mutate};
use crate::schema::ScalarKind;
use serde_json::Value as Json;

/// The PostgreSQL dialect.
pub(crate) struct Postgres;

/// Pairs per `json_build_object` call (it takes at most 100 arguments).
const CHUNK_PAIRS: usize = 50;

/// `'a'->'b'` path steps; keys are schema identifiers, quoted as literals anyway.
fn push_steps(out: &mut String, path: &[String], last_text: bool) {
    for (i, k) in path.iter().enumerate() {
        out.push_str(if last_text && i + 1 == path.len() {
            "->>"
        } else {
            "->"
        });
        push_literal(out, k);
    }
}

fn cast_for(kind: ScalarKind) -> Option<&'static str> {
    match kind {
        ScalarKind::Int | ScalarKind::Float | ScalarKind::Decimal => Some("numeric"),
        ScalarKind::Boolean => Some("boolean"),
        ScalarKind::DateTime => Some("timestamptz"),
        ScalarKind::Date => Some("date"),
        // A UUID compares as its lowercase canonical text, as on SQLite (values are
        // normalised when planned), so a stored value that is not a UUID cannot fail a cast.
        ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid | ScalarKind::Json => None,
    }
}

fn column_cast(column: SqlType) -> Option<&'static str> {
    match column {
        SqlType::Uuid => Some("uuid"),
        SqlType::Integer => Some("int8"),
        SqlType::Numeric => Some("numeric"),
        SqlType::Boolean => Some("boolean"),
        SqlType::Timestamp => Some("timestamptz"),
        SqlType::Date => Some("date"),
        SqlType::Text | SqlType::Json | SqlType::Jsonb | SqlType::Other => None,
    }
}

impl Dialect for Postgres {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Postgresql
    }

    fn holds_json(&self, column: SqlType) -> bool {
        matches!(column, SqlType::Json | SqlType::Jsonb)
    }

    fn missing_mutation(&self, function: &str, database: &str) -> String {
        format!("function '{function}' does not exist in database '{database}'")
    }

    fn no_limit_count(&self) -> &'static str {
        "ALL"
    }

    fn placeholder(&self, n: usize, param: &Param) -> String {
        let ty = match param {
            Param::Text(_) => "text",
            Param::Int(_) => "int8",
            Param::Float(_) => "float8",
            Param::Bool(_) => "bool",
        };
        format!("${n}::{ty}")
    }

    fn json_at(&self, base: &str, path: &[String]) -> String {
        let mut out = String::with_capacity(base.len() + 16 * path.len());
        out.push_str(base);
        push_steps(&mut out, path, false);
        out
    }

    fn text_at(&self, base: &str, path: &[String]) -> String {
        let mut out = String::with_capacity(base.len() + 16 * path.len() + 2);
        out.push('(');
        out.push_str(base);
        push_steps(&mut out, path, true);
        out.push(')');
        out
    }

    fn typed_at(&self, base: &str, path: &[String], kind: ScalarKind) -> String {
        if kind == ScalarKind::Json {
            return self.json_at(base, path);
        }
        match cast_for(kind) {
            Some(t) => format!("{}::{t}", self.text_at(base, path)),
            None => self.text_at(base, path),
        }
    }

    fn bind_value(&self, value: &Json, kind: ScalarKind) -> Param {
        match (kind, value) {
            (ScalarKind::Boolean, Json::Bool(b)) => Param::Bool(*b),
            (ScalarKind::Json, v) => Param::Text(v.to_string()),
            (_, v) => Param::Text(json_text(v)),
        }
    }

    fn typed_param(&self, placeholder: &str, kind: ScalarKind) -> String {
        match (kind, cast_for(kind)) {
            (ScalarKind::Json, _) => format!("{placeholder}::jsonb"),
            (ScalarKind::Boolean, _) => placeholder.to_string(),
            (_, Some(t)) => format!("{placeholder}::{t}"),
            (_, None) => placeholder.to_string(),
        }
    }

    fn column_param(&self, placeholder: &str, column: SqlType) -> String {
        match column_cast(column) {
            Some("boolean") => placeholder.to_string(),
            Some(t) => format!("{placeholder}::{t}"),
            None => placeholder.to_string(),
        }
    }

    fn in_list(&self, expr: &str, list: &str, kind: ScalarKind, column: Option<SqlType>) -> String {
        let cast = match column {
            Some(c) => column_cast(c),
            None => cast_for(kind),
        };
        let array = format!("ARRAY(SELECT jsonb_array_elements_text({list}::jsonb))");
        match cast {
            Some(t) => format!("{expr} = ANY({array}::{t}[])"),
            None => format!("{expr} = ANY({array})"),
        }
    }

    fn bind_list(&self, values: &[Json]) -> Param {
        // A text[] literal would need its own escaping; a JSON array is unambiguous.
        Param::Text(
            Json::Array(values.iter().map(|v| Json::String(json_text(v))).collect()).to_string(),
        )
    }

    fn like(&self, expr: &str, pattern: &str, ilike: bool) -> String {
        // Backslash is PostgreSQL's default escape; spelt out so it does not depend on it.
        let op = if ilike { "ILIKE" } else { "LIKE" };
        format!("{expr} {op} {pattern} ESCAPE E'\\\\'")
    }

    fn object(&self, pairs: &[(&str, String)]) -> String {
        // json_build_object takes at most 100 arguments: wider objects are built in 50-pair
        // chunks joined as text, which keeps the key order (jsonb would sort the keys). Only
        // the outermost brace of each chunk is cut (`left(…, -1)` drops the last character,
        // `substr(…, 2)` the first), so a nested object or a string ending in a brace at a
        // chunk's edge keeps its own.
        let chunk = |out: &mut String, pairs: &[(&str, String)]| {
            out.push_str("json_build_object(");
            push_pairs(out, pairs);
            out.push(')');
        };
        let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        let mut out = String::with_capacity(size + 32);
        if pairs.len() <= CHUNK_PAIRS {
            chunk(&mut out, pairs);
            return out;
        }
        let last = (pairs.len() - 1) / CHUNK_PAIRS;
        out.push('(');
        for (i, c) in pairs.chunks(CHUNK_PAIRS).enumerate() {
            if i > 0 {
                out.push_str(" || ', ' || ");
            }
            let mut text = String::new();
            chunk(&mut text, c);
            text.push_str("::text");
            if i < last {
                text = format!("left({text}, -1)");
            }
            if i > 0 {
                text = format!("substr({text}, 2)");
            }
            out.push_str(&text);
        }
        out.push_str(")::json");
        out
    }

    fn aggregate(&self, expr: &str) -> String {
        format!("coalesce(json_agg({expr}), '[]'::json)")
    }

    fn if_object(&self, base: &str, path: &[String], then: &str) -> String {
        format!(
            "CASE WHEN jsonb_typeof({}) = 'object' THEN {then} END",
            self.json_at(base, path)
        )
    }

    fn object_array(&self, base: &str, path: &[String], alias: &str, element: &str) -> String {
        let arr = self.json_at(base, path);
        format!(
            "CASE WHEN jsonb_typeof({arr}) = 'array' THEN (SELECT coalesce(json_agg({element} ORDER BY {alias}.ord), '[]'::json) FROM jsonb_array_elements({arr}) WITH ORDINALITY AS {alias}(value, ord)) END"
        )
    }

    fn element_base(&self, alias: &str) -> String {
        format!("{alias}.value")
    }

    fn embed(&self, subquery: &str) -> String {
        subquery.to_string()
    }

    fn to_text(&self, expr: &str) -> String {
        format!("({expr})::text")
    }

    fn json_bool(&self, expr: &str) -> String {
        format!("({expr})")
    }

    fn cursor(&self, values: &[String]) -> String {
        format!(
            "encode(convert_to(json_build_array({})::text, 'UTF8'), 'hex')",
            values.join(", ")
        )
    }

    fn json_array(&self, items: &[String]) -> String {
        format!("json_build_array({})", items.join(", "))
    }

    fn key_rows(&self, placeholder: &str) -> String {
        format!("jsonb_array_elements_text({placeholder}::jsonb) AS k(v)")
    }

    fn mutation_call(
        &self,
        r: &mut Renderer<'_>,
        m: &Mutate,
        f: &Function,
        bound: &[(usize, Json)],
    ) -> Result<CallSql, GraphQLError> {
        // A value the parameter's cast would reject is the client's mistake: say so
        // before the call instead of passing on PostgreSQL's error (22P02).
        for (k, (i, v)) in bound.iter().enumerate() {
            let not_uuid = v.as_str().is_some_and(|s| canonical_uuid(s).is_none());
            if f.params[*i].type_name == "uuid" && not_uuid {
                let name = m.args.get(k).map_or("argument", |(key, _)| key.as_str());
                return Err(GraphQLError::new(
                    ErrorCode::BadUserInput,
                    format!("`{name}` expects a UUID (8-4-4-4-12 hex digits)"),
                ));
            }
        }
        let args: Vec<String> = bound
            .iter()
            .map(|(i, v)| {
                let p = &f.params[*i];
                format!("{} => {}", r.d.ident(&p.name), pg_arg(r, v, &p.type_name))
            })
            .collect();
        let call = format!("{}({})", r.d.ident(&m.function), args.join(", "));
        match &f.returns {
            FunctionReturn::MutationResponse => {
                let text = format!("SELECT to_jsonb(m)::text FROM {call} m");
                Ok(CallSql::Response(SqlQuery { text, params: std::mem::take(&mut r.params) }))
            }
            FunctionReturn::Rows { .. } => {
                let obj = r.selection(&m.selection, "m.data");
                let text = if m.list {
                    let agg = r.d.aggregate("q.r");
                    format!("SELECT ({agg})::text FROM (SELECT {obj} AS r FROM {call} m) q")
                } else {
                    format!("SELECT ({obj})::text FROM {call} m LIMIT 1")
                };
                Ok(CallSql::Rows(SqlQuery { text, params: std::mem::take(&mut r.params) }))
            }
            FunctionReturn::Procedure => Err(schema_error(format!(
                "`{}` is a procedure; on PostgreSQL a mutation calls a function",
                m.function
            ))),
            FunctionReturn::Other(t) => Err(schema_error(format!(
                "function `{}` returns {t}; a mutation function must return mutation_response or SETOF a view",
                m.function
            ))),
        }
    }

    fn json_row(&self, placeholder: &str) -> String {
        format!("(SELECT {placeholder}::jsonb AS data)")
    }
}

/// A PostgreSQL argument expression cast to the parameter's type.
fn pg_arg(r: &mut Renderer<'_>, v: &Json, type_name: &str) -> String {
    if v.is_null() {
        return format!("NULL::{type_name}");
    }
    let text = match v {
        Json::String(s) => s.clone(),
        Json::Object(_) | Json::Array(_) if !type_name.ends_with("[]") => v.to_string(),
        other => other.to_string(),
    };
    if let Some(elem) = type_name.strip_suffix("[]") {
        let p = r.bind(Param::Text(if v.is_array() {
            v.to_string()
        } else {
            format!("[{text}]")
        }));
        return format!("ARRAY(SELECT jsonb_array_elements_text({p}::jsonb))::{elem}[]");
    }
    let p = r.bind(Param::Text(text));
    if type_name == "text" {
        p
    } else {
        format!("{p}::{type_name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    }

    fn object(n: usize) -> String {
        let p = pairs(n);
        let refs: Vec<(&str, String)> = p.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        Postgres.object(&refs)
    }

    #[test]
    fn narrow_objects_are_one_call() {
        assert_eq!(object(2), "json_build_object('k0', v0, 'k1', v1)");
        assert_eq!(object(50).matches("json_build_object(").count(), 1);
    }

    #[test]
    fn wide_objects_cut_only_the_outer_brace_of_each_chunk() {
        let sql = object(120);
        assert_eq!(sql.matches("json_build_object(").count(), 3);
        // No trim of brace characters, which ate a nested object's own `}` (issue 9).
        assert!(!sql.contains("trim("), "{sql}");
        assert!(
            sql.starts_with("(left(json_build_object('k0', v0,"),
            "{sql}"
        );
        assert!(
            sql.contains("v49)::text, -1) || ', ' || substr(left(json_build_object('k50'"),
            "{sql}"
        );
        assert!(
            sql.contains("v99)::text, -1), 2) || ', ' || substr(json_build_object('k100'"),
            "{sql}"
        );
        assert!(sql.ends_with("v119)::text, 2))::json"), "{sql}");
    }

    #[test]
    fn like_escapes_with_backslash() {
        assert_eq!(Postgres.like("x", "$1", false), "x LIKE $1 ESCAPE E'\\\\'");
        assert_eq!(Postgres.like("x", "$1", true), "x ILIKE $1 ESCAPE E'\\\\'");
    }

    #[test]
    fn check_and_order_pieces() {
        assert!(Postgres.holds_json(SqlType::Jsonb) && Postgres.holds_json(SqlType::Json));
        assert!(!Postgres.holds_json(SqlType::Text));
        assert!(Postgres
            .missing_mutation("fn_x", "db")
            .starts_with("function 'fn_x'"));
        assert_eq!(
            Postgres.order_key("x", true, false, true),
            "x DESC NULLS LAST"
        );
        assert_eq!(Postgres.concat(&["'%'", "$1", "'%'"]), "'%' || $1 || '%'");
        assert_eq!(Postgres.json_row("$1"), "(SELECT $1::jsonb AS data)");
    }
}
