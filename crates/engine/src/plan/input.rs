//! Input values of a request turned into plan data: `where` objects into [`Filter`] trees,
//! `orderBy` lists into [`OrderKey`]s, and argument values checked per scalar (a `Decimal`
//! must be numeric, a `UUID` well-formed) with enum names mapped to stored values.

use super::build::user_error;
use super::model::{Filter, Op, OrderKey, Target};
use crate::error::GraphQLError;
use crate::schema::{CompiledSchema, ObjectType, ScalarKind, TypeRef};
use serde_json::Value as Json;

/// A `<Type>WhereInput` value as a filter; `None` when it sets no condition.
pub(crate) fn filter_from_where(
    schema: &CompiledSchema,
    ty: &ObjectType,
    value: &Json,
    prefix: &[String],
) -> Result<Option<Filter>, GraphQLError> {
    let Json::Object(map) = value else {
        return Err(user_error("where must be an object"));
    };
    let mut all = Vec::new();
    for (name, v) in map {
        if v.is_null() {
            continue;
        }
        match name.as_str() {
            "_and" | "_or" => {
                let items = v
                    .as_array()
                    .ok_or_else(|| user_error(format!("{name} must be a list")))?;
                let mut parts = Vec::new();
                for item in items {
                    if let Some(f) = filter_from_where(schema, ty, item, prefix)? {
                        parts.push(f);
                    }
                }
                if !parts.is_empty() {
                    all.push(if name == "_and" {
                        Filter::And(parts)
                    } else {
                        Filter::Or(parts)
                    });
                }
            }
            "_not" => {
                if let Some(f) = filter_from_where(schema, ty, v, prefix)? {
                    all.push(Filter::Not(Box::new(f)));
                }
            }
            field_name => {
                let field = ty
                    .fields
                    .get(field_name)
                    .filter(|f| f.relation.is_none() && !f.ty.list)
                    .ok_or_else(|| {
                        user_error(format!(
                            "`{field_name}` cannot be filtered on `{}`",
                            ty.name
                        ))
                    })?;
                let mut path = prefix.to_vec();
                path.push(field.key.clone());
                if let Some(nested) = schema.types.get(&field.ty.name) {
                    if let Some(f) = filter_from_where(schema, nested, v, &path)? {
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
                    field_name,
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

/// The conditions of one `<Scalar>Filter` object.
fn operators(
    schema: &CompiledSchema,
    target: Target,
    enum_name: Option<&str>,
    value: &Json,
    field_name: &str,
) -> Result<Vec<Filter>, GraphQLError> {
    let Json::Object(ops) = value else {
        return Err(user_error(format!(
            "filter on `{field_name}` must be an object"
        )));
    };
    let mut out = Vec::new();
    for (op_name, v) in ops {
        if v.is_null() {
            continue;
        }
        if op_name == "isNull" {
            let is_null = v
                .as_bool()
                .ok_or_else(|| user_error("isNull must be a boolean"))?;
            out.push(Filter::IsNull {
                target: target.clone(),
                is_null,
            });
            continue;
        }
        let op = Op::from_name(op_name)
            .ok_or_else(|| user_error(format!("unknown operator `{op_name}` on `{field_name}`")))?;
        let value = match op {
            Op::In | Op::Nin => {
                let items = v
                    .as_array()
                    .ok_or_else(|| user_error(format!("{op_name} takes a list")))?;
                let mut checked = Vec::with_capacity(items.len());
                for item in items {
                    checked.push(scalar_input(
                        schema,
                        enum_name,
                        target.kind,
                        item,
                        field_name,
                    )?);
                }
                Json::Array(checked)
            }
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith | Op::Like | Op::ILike => {
                match v {
                    Json::String(_) => v.clone(),
                    _ => {
                        return Err(user_error(format!(
                            "{op_name} on `{field_name}` takes a string"
                        )))
                    }
                }
            }
            _ => scalar_input(schema, enum_name, target.kind, v, field_name)?,
        };
        out.push(Filter::Compare {
            target: target.clone(),
            op,
            value,
        });
    }
    Ok(out)
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
            continue;
        }
        let field = ty
            .fields
            .get(name)
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
        out.push(OrderKey {
            target: Target { path, kind },
            descending,
            nulls_first,
        });
    }
    Ok(())
}

/// Checks one scalar or enum input value and normalises it for binding.
pub(crate) fn scalar_input(
    schema: &CompiledSchema,
    enum_name: Option<&str>,
    kind: ScalarKind,
    value: &Json,
    field_name: &str,
) -> Result<Json, GraphQLError> {
    if let Some(e) = enum_name.and_then(|n| schema.enums.get(n)) {
        let name = value.as_str().unwrap_or_default();
        return e
            .stored(name)
            .map(|s| Json::String(s.to_string()))
            .ok_or_else(|| user_error(format!("`{name}` is not a value of enum {}", e.name)));
    }
    let bad = |what: &str| user_error(format!("`{field_name}` expects {what}, got {value}"));
    match kind {
        ScalarKind::Decimal | ScalarKind::Float | ScalarKind::Int => match value {
            Json::Number(_) => Ok(value.clone()),
            Json::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                Ok(value.clone())
            }
            _ => Err(bad("a number")),
        },
        ScalarKind::Boolean => match value {
            Json::Bool(_) => Ok(value.clone()),
            _ => Err(bad("a boolean")),
        },
        ScalarKind::Id => match value {
            Json::String(_) => Ok(value.clone()),
            Json::Number(n) => Ok(Json::String(n.to_string())),
            _ => Err(bad("an ID")),
        },
        ScalarKind::DateTime | ScalarKind::Date | ScalarKind::Text => match value {
            Json::String(_) => Ok(value.clone()),
            _ => Err(bad("a string")),
        },
        ScalarKind::Json => Ok(value.clone()),
    }
}

/// A mutation argument value: input object keys become snake_case data keys, enum names
/// become stored values, scalars are checked.
pub(crate) fn input_value(
    schema: &CompiledSchema,
    ty: &TypeRef,
    value: &Json,
    field_name: &str,
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
        let items = match value {
            Json::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut out = Vec::with_capacity(items.len());
        for i in &items {
            out.push(input_value(schema, &item_ty, i, field_name)?);
        }
        return Ok(Json::Array(out));
    }
    if let Some(input) = schema.inputs.get(&ty.name) {
        let Json::Object(map) = value else {
            return Err(user_error(format!("`{field_name}` expects an object")));
        };
        let mut out = serde_json::Map::new();
        for f in input.fields.values() {
            if let Some(v) = map.get(&f.name) {
                out.insert(f.key.clone(), input_value(schema, &f.ty, v, &f.name)?);
            }
        }
        return Ok(Json::Object(out));
    }
    let enum_name = schema.enums.get(&ty.name).map(|e| e.name.as_str());
    let kind = ScalarKind::of(&ty.name).unwrap_or(ScalarKind::Text);
    scalar_input(schema, enum_name, kind, value, field_name)
}
