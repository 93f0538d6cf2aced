//! Input values of a request turned into plan data: `where` objects into [`Filter`] trees,
//! `orderBy` lists into [`OrderKey`]s, and argument values read as their scalar types (see
//! [`super::scalar`]) with enum names mapped to stored values. Every refusal is a
//! `BAD_USER_INPUT` naming the argument path (`where._or.1.createdAt.gt`).
//!
//! Nulls inside a `where` are refused: `{status: null}` or `{gt: null}` would otherwise make
//! a condition disappear and return every row (a known failure of GraphQL-over-SQL engines);
//! `isNull` is how to ask for nulls. `where: null` itself means "no filter", like an absent
//! `where`. A single value where a list is expected (`in: PAID`, `_or: {…}`) is a
//! one-element list, as GraphQL's input coercion says.

use super::build::user_error;
use super::model::{Connection, Filter, Op, OrderKey, Target};
use super::scalar::{
    canonical_uuid, has_nul, is_cursor_datetime, is_date, is_datetime, is_int_text, is_number_text,
    pattern_problem, MAX_PATTERN_BYTES,
};
use crate::error::GraphQLError;
use crate::schema::{CompiledSchema, ObjectType, ScalarKind, TypeRef};
use serde_json::Value as Json;

/// `path.key`, the argument path used in messages.
fn join(path: &str, key: impl std::fmt::Display) -> String {
    format!("{path}.{key}")
}

/// A value as shown in a message: JSON (so control characters stay escaped and a message is
/// one line), cut to a readable length.
fn shown(value: &Json) -> String {
    const MAX: usize = 64;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn null_in_where(path: &str) -> GraphQLError {
    user_error(format!(
        "`{path}` is null; leave it out for no condition, or use `isNull` to match nulls"
    ))
}

/// A list input, or a single value coerced to a one-element list.
fn as_list(value: &Json) -> std::borrow::Cow<'_, [Json]> {
    match value {
        Json::Array(items) => std::borrow::Cow::Borrowed(items.as_slice()),
        other => std::borrow::Cow::Owned(vec![other.clone()]),
    }
}

/// A `<Type>WhereInput` value as a filter; `None` when it sets no condition.
pub(crate) fn filter_from_where(
    schema: &CompiledSchema,
    ty: &ObjectType,
    value: &Json,
    prefix: &[String],
) -> Result<Option<Filter>, GraphQLError> {
    where_at(schema, ty, value, prefix, "where")
}

/// [`filter_from_where`] for the value at argument path `at`.
fn where_at(
    schema: &CompiledSchema,
    ty: &ObjectType,
    value: &Json,
    prefix: &[String],
    at: &str,
) -> Result<Option<Filter>, GraphQLError> {
    let Json::Object(map) = value else {
        return Err(user_error(format!("`{at}` must be an object")));
    };
    let mut all = Vec::new();
    for (name, v) in map {
        let here = join(at, name);
        if v.is_null() {
            return Err(null_in_where(&here));
        }
        match name.as_str() {
            "_and" | "_or" => {
                let mut parts = Vec::new();
                // An item without conditions is true: it vanishes from an AND and makes an
                // OR true. An empty `_or` is false (matches nothing), an empty `_and` true.
                let mut always = false;
                for (i, item) in as_list(v).iter().enumerate() {
                    let item_at = join(&here, i);
                    if item.is_null() {
                        return Err(null_in_where(&item_at));
                    }
                    match where_at(schema, ty, item, prefix, &item_at)? {
                        Some(f) => parts.push(f),
                        None => always = true,
                    }
                }
                if name == "_and" {
                    if !parts.is_empty() {
                        all.push(Filter::And(parts));
                    }
                } else if !always {
                    all.push(Filter::Or(parts));
                }
            }
            "_not" => match where_at(schema, ty, v, prefix, &here)? {
                Some(f) => all.push(Filter::Not(Box::new(f))),
                // NOT of no condition: nothing matches.
                None => all.push(Filter::Or(Vec::new())),
            },
            field_name => {
                let field = ty
                    .fields
                    .get(field_name)
                    .filter(|f| f.in_data() && !f.ty.list)
                    .ok_or_else(|| {
                        user_error(format!(
                            "`{field_name}` cannot be filtered on `{}`",
                            ty.name
                        ))
                    })?;
                let mut path = prefix.to_vec();
                path.push(field.key.clone());
                if let Some(nested) = schema.types.get(&field.ty.name) {
                    if let Some(f) = where_at(schema, nested, v, &path, &here)? {
                        all.push(f);
                    }
                    continue;
                }
                let enum_name = schema.enums.get(&field.ty.name).map(|e| e.name.as_str());
                let kind = ScalarKind::of(&field.ty.name).unwrap_or(ScalarKind::Text);
                all.extend(operators(
                    schema,
                    Target { path, kind },
                    enum_name,
                    v,
                    &here,
                )?);
            }
        }
    }
    Ok(match all.len() {
        0 => None,
        1 => all.pop(),
        _ => Some(Filter::And(all)),
    })
}

/// The conditions of one `<Scalar>Filter` object at argument path `at`.
fn operators(
    schema: &CompiledSchema,
    target: Target,
    enum_name: Option<&str>,
    value: &Json,
    at: &str,
) -> Result<Vec<Filter>, GraphQLError> {
    let Json::Object(ops) = value else {
        return Err(user_error(format!("`{at}` must be an object of operators")));
    };
    let mut out = Vec::new();
    for (op_name, v) in ops {
        let here = join(at, op_name);
        if v.is_null() {
            return Err(null_in_where(&here));
        }
        if op_name == "isNull" {
            let is_null = v
                .as_bool()
                .ok_or_else(|| user_error(format!("`{here}` must be a boolean")))?;
            out.push(Filter::IsNull {
                target: target.clone(),
                is_null,
            });
            continue;
        }
        let op = Op::from_name(op_name)
            .ok_or_else(|| user_error(format!("unknown operator `{here}`")))?;
        let value = match op {
            Op::In | Op::Nin => {
                let items = as_list(v);
                let mut checked = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    checked.push(scalar_input(
                        schema,
                        enum_name,
                        target.kind,
                        item,
                        &join(&here, i),
                    )?);
                }
                Json::Array(checked)
            }
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith | Op::Like | Op::ILike => {
                pattern_input(op, v, &here)?
            }
            _ => scalar_input(schema, enum_name, target.kind, v, &here)?,
        };
        out.push(Filter::Compare {
            target: target.clone(),
            op,
            value,
        });
    }
    Ok(out)
}

/// The string of a pattern operator: no NUL, at most [`MAX_PATTERN_BYTES`], and for
/// `like`/`ilike` a pattern every dialect reads alike (`\` escapes, as in PostgreSQL).
fn pattern_input(op: Op, value: &Json, at: &str) -> Result<Json, GraphQLError> {
    let Json::String(s) = value else {
        return Err(user_error(format!(
            "`{at}` expects a string, got {}",
            shown(value)
        )));
    };
    if s.contains('\0') {
        return Err(user_error(format!(
            "`{at}` must not contain a NUL character"
        )));
    }
    let problem = if matches!(op, Op::Like | Op::ILike) {
        pattern_problem(s)
    } else {
        (s.len() > MAX_PATTERN_BYTES).then(|| {
            format!(
                "is longer than {MAX_PATTERN_BYTES} bytes ({} bytes)",
                s.len()
            )
        })
    };
    match problem {
        Some(p) => Err(user_error(format!("`{at}` {p}"))),
        None => Ok(value.clone()),
    }
}

/// An `orderBy` value (a list, or one object) as sort keys in priority order.
pub(crate) fn order_from_input(
    schema: &CompiledSchema,
    ty: &ObjectType,
    value: &Json,
) -> Result<Vec<OrderKey>, GraphQLError> {
    let mut out = Vec::new();
    match value {
        Json::Array(items) => {
            for item in items {
                order_object(schema, ty, item, &[], &mut out)?;
            }
        }
        other => order_object(schema, ty, other, &[], &mut out)?,
    }
    Ok(out)
}

fn order_object(
    schema: &CompiledSchema,
    ty: &ObjectType,
    value: &Json,
    prefix: &[String],
    out: &mut Vec<OrderKey>,
) -> Result<(), GraphQLError> {
    let Json::Object(map) = value else {
        return Err(user_error("orderBy items must be objects"));
    };
    for (name, dir) in map {
        if dir.is_null() {
            // Dropping it would sort differently from what was asked, silently (as a null
            // inside `where` would filter differently).
            return Err(user_error(format!(
                "`orderBy` gives `{name}` null; leave it out, or give a direction such as ASC"
            )));
        }
        let field = ty
            .fields
            .get(name)
            .filter(|f| f.in_data())
            .ok_or_else(|| user_error(format!("cannot order `{}` by `{name}`", ty.name)))?;
        let mut path = prefix.to_vec();
        path.push(field.key.clone());
        if let Some(nested) = schema.types.get(&field.ty.name) {
            order_object(schema, nested, dir, &path, out)?;
            continue;
        }
        let kind = ScalarKind::of(&field.ty.name).unwrap_or(ScalarKind::Text);
        let (descending, nulls_first) = match dir.as_str() {
            Some("ASC") => (false, false),
            Some("DESC") => (true, true),
            Some("ASC_NULLS_FIRST") => (false, true),
            Some("ASC_NULLS_LAST") => (false, false),
            Some("DESC_NULLS_FIRST") => (true, true),
            Some("DESC_NULLS_LAST") => (true, false),
            _ => return Err(user_error(format!("invalid sort direction for `{name}`"))),
        };
        // A nested field may be null whatever its type says: its parent object may be.
        let nullable = !prefix.is_empty() || !field.ty.non_null;
        out.push(OrderKey {
            target: Target { path, kind },
            descending,
            nulls_first,
            nullable,
        });
    }
    Ok(())
}

/// Reads one scalar or enum input value at argument path `at` as its type, normalised for
/// binding (enum names become stored values, UUIDs lowercase, integer IDs strings).
pub(crate) fn scalar_input(
    schema: &CompiledSchema,
    enum_name: Option<&str>,
    kind: ScalarKind,
    value: &Json,
    at: &str,
) -> Result<Json, GraphQLError> {
    if let Some(e) = enum_name.and_then(|n| schema.enums.get(n)) {
        return value
            .as_str()
            .and_then(|name| e.stored(name))
            .map(|s| Json::String(s.to_string()))
            .ok_or_else(|| {
                user_error(format!(
                    "`{at}` expects a value of enum {}, got {}",
                    e.name,
                    shown(value)
                ))
            });
    }
    let bad = |what: &str| user_error(format!("`{at}` expects {what}, got {}", shown(value)));
    let text = |what: &str, ok: fn(&str) -> bool| match value {
        Json::String(s) if ok(s) => Ok(value.clone()),
        _ => Err(bad(what)),
    };
    match kind {
        ScalarKind::Decimal | ScalarKind::Float => match value {
            // JSON numbers are finite: serde_json refuses `1e400` in variables, and literals
            // out of range never become numbers (see `collect::to_json`).
            Json::Number(_) => Ok(value.clone()),
            _ => text("a finite number", is_number_text),
        },
        ScalarKind::Int => match value {
            Json::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
                Ok(value.clone())
            }
            _ => text("an integer within 32 bits", is_int_text),
        },
        ScalarKind::Boolean => match value {
            Json::Bool(_) => Ok(value.clone()),
            _ => Err(bad("a boolean")),
        },
        ScalarKind::Id => match value {
            Json::String(s) if !s.contains('\0') => Ok(value.clone()),
            Json::Number(n) if n.is_i64() || n.is_u64() => Ok(Json::String(n.to_string())),
            _ => Err(bad("an ID (a string or an integer, without NUL)")),
        },
        ScalarKind::Uuid => match value.as_str().and_then(canonical_uuid) {
            Some(u) => Ok(Json::String(u)),
            None => Err(bad("a UUID (8-4-4-4-12 hex digits)")),
        },
        ScalarKind::DateTime => text(
            "a DateTime with an offset (2024-01-31T09:30:00Z)",
            is_datetime,
        ),
        ScalarKind::Date => text("a Date (YYYY-MM-DD)", is_date),
        ScalarKind::Text => text("a string without NUL", |s| !s.contains('\0')),
        ScalarKind::Json if has_nul(value) => Err(user_error(format!(
            "`{at}` must not contain a NUL character"
        ))),
        ScalarKind::Json => Ok(value.clone()),
    }
}

/// The value of a declared query argument that filters by equality (`order(id:)`): a list
/// argument (`byCode(code: [ID!])`) filters with `in` and takes a single value as a list of
/// one; each item is read like any scalar input.
pub(crate) fn argument_value(
    schema: &CompiledSchema,
    enum_name: Option<&str>,
    kind: ScalarKind,
    value: &Json,
    list: bool,
    at: &str,
) -> Result<Json, GraphQLError> {
    if !list {
        return scalar_input(schema, enum_name, kind, value, at);
    }
    let items = as_list(value);
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(scalar_input(schema, enum_name, kind, item, &join(at, i))?);
    }
    Ok(Json::Array(out))
}

/// Checks the decoded Relay cursors of `c` against the sort keys they stand for, so a forged
/// cursor is refused like any other malformed value instead of failing a cast in SQL.
pub(crate) fn check_cursors(
    schema: &CompiledSchema,
    c: &mut Connection,
    order: &[OrderKey],
) -> Result<(), GraphQLError> {
    for (name, cursor) in [("after", &mut c.after), ("before", &mut c.before)] {
        let Some(values) = cursor else { continue };
        for (v, key) in values.iter_mut().zip(order) {
            if v.is_null() {
                continue; // a null sort key: the keyset condition handles it
            }
            let read = match (key.target.kind, &*v) {
                (ScalarKind::DateTime, Json::String(s)) if is_cursor_datetime(s) => Ok(v.clone()),
                (kind, _) => scalar_input(schema, None, kind, v, name),
            };
            *v = read.map_err(|_| user_error(format!("invalid {name} cursor")))?;
        }
    }
    Ok(())
}

/// A mutation argument value at argument path `at`: input object keys become snake_case
/// data keys, enum names become stored values, scalars are read as their types. A null is
/// kept (it sets a nullable column to null); GraphQL validation has refused it where the
/// type is non-null.
pub(crate) fn input_value(
    schema: &CompiledSchema,
    ty: &TypeRef,
    value: &Json,
    at: &str,
) -> Result<Json, GraphQLError> {
    if value.is_null() {
        return Ok(Json::Null);
    }
    if ty.list {
        let item_ty = TypeRef {
            list: false,
            non_null: ty.item_non_null,
            ..ty.clone()
        };
        let items = as_list(value);
        let mut out = Vec::with_capacity(items.len());
        for (n, i) in items.iter().enumerate() {
            out.push(input_value(schema, &item_ty, i, &join(at, n))?);
        }
        return Ok(Json::Array(out));
    }
    if let Some(input) = schema.inputs.get(&ty.name) {
        let Json::Object(map) = value else {
            return Err(user_error(format!("`{at}` expects an object")));
        };
        let mut out = serde_json::Map::new();
        for f in input.fields.values() {
            if let Some(v) = map.get(&f.name) {
                let value = input_value(schema, &f.ty, v, &join(at, &f.name))?;
                out.insert(f.key.clone(), value);
            }
        }
        return Ok(Json::Object(out));
    }
    let enum_name = schema.enums.get(&ty.name).map(|e| e.name.as_str());
    let kind = ScalarKind::of(&ty.name).unwrap_or(ScalarKind::Text);
    scalar_input(schema, enum_name, kind, value, at)
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
