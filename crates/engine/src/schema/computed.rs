//! Computed fields: `@computed(sql: "…")` makes a field a SQL expression instead of a key of
//! the row's `data`. `{name}` in the expression stands for a field of the type (`{a.b}` for
//! a field of a nested object), read from the row; for a field named by the field's
//! `@requires(fields:)` set (Apollo Federation), `_entities` reads the value the
//! representation brought instead, which is how a subgraph computes a field from fields
//! another subgraph owns. `{{` and `}}` are literal braces.
//!
//! The expression is the schema author's SQL, written for the database the type lives in;
//! values only ever reach it as bound parameters or column reads. It must not hold what
//! would change the statement around it: parameters (`?`, `$1`), `;`, or comments.

use super::federation::key_parts;
use super::model::{CompiledSchema, Field, ObjectType, ScalarKind};

/// One part of a computed field's expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ComputedPart {
    /// SQL text, as written.
    Sql(String),
    /// A field of the type.
    Field(FieldRef),
}

/// A field an expression reads: where a representation holds it (GraphQL names), where the
/// row's `data` does (data keys), its kind, and whether `@requires` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    pub graphql: Vec<String>,
    pub data: Vec<String>,
    pub kind: ScalarKind,
    pub required: bool,
}

/// The parts of computed field `field` of `ty`, every `{name}` resolved; an error says what
/// is wrong with the expression or the `@requires` set.
pub fn computed_parts(
    schema: &CompiledSchema,
    ty: &ObjectType,
    field: &Field,
) -> Result<Vec<ComputedPart>, String> {
    let Some(sql) = &field.computed else {
        return Ok(Vec::new());
    };
    let required = match &field.federation.requires {
        Some(set) => key_parts(schema, ty, set).map_err(|e| format!("@requires: {e}"))?,
        None => Vec::new(),
    };
    let mut parts = Vec::new();
    for piece in split(sql)? {
        match piece {
            Piece::Sql(text) => parts.push(ComputedPart::Sql(text)),
            Piece::Name(path) => {
                let first = &path[0];
                let own = ty
                    .fields
                    .values()
                    .find(|f| &f.name == first || &f.key == first);
                if own.is_some_and(|f| f.computed.is_some()) {
                    return Err(format!("`{{{}}}` is itself computed", path.join(".")));
                }
                let set = nested_set(&path);
                let leaves = key_parts(schema, ty, &set)
                    .map_err(|e| format!("`{{{}}}`: {e}", path.join(".")))?;
                for leaf in leaves {
                    let is_required = required.iter().any(|r| r.graphql == leaf.graphql);
                    parts.push(ComputedPart::Field(FieldRef {
                        graphql: leaf.graphql,
                        data: leaf.data,
                        kind: leaf.kind,
                        required: is_required,
                    }));
                }
            }
        }
    }
    Ok(parts)
}

/// `a.b.c` as a field set: `a { b { c } }`.
fn nested_set(path: &[String]) -> String {
    let mut out = path.join(" { ");
    for _ in 1..path.len() {
        out.push_str(" }");
    }
    out
}

enum Piece {
    Sql(String),
    Name(Vec<String>),
}

/// The expression cut into SQL text and `{name}`s, after refusing what would change the
/// statement it is put in.
fn split(sql: &str) -> Result<Vec<Piece>, String> {
    if sql.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    for (bad, what) in [
        ("?", "a parameter (`?`)"),
        (";", "`;`"),
        ("--", "a comment (`--`)"),
        ("/*", "a comment (`/*`)"),
    ] {
        if sql.contains(bad) {
            return Err(format!("the expression holds {what}"));
        }
    }
    let bytes = sql.as_bytes();
    if bytes
        .windows(2)
        .any(|w| w[0] == b'$' && w[1].is_ascii_digit())
    {
        return Err("the expression holds a parameter (`$1`)".into());
    }
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") || rest.starts_with("}}") {
            text.push(c);
            rest = &rest[2..];
            continue;
        }
        if c == '{' {
            if let Some(end) = rest.find('}') {
                let inner = rest[1..end].trim();
                let names: Vec<String> = inner.split('.').map(|s| s.trim().to_owned()).collect();
                if !inner.is_empty() && names.iter().all(|n| super::naming::is_graphql_name(n)) {
                    if !text.is_empty() {
                        out.push(Piece::Sql(std::mem::take(&mut text)));
                    }
                    out.push(Piece::Name(names));
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !text.is_empty() {
        out.push(Piece::Sql(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Result<Vec<String>, String> {
        Ok(split(sql)?
            .into_iter()
            .map(|p| match p {
                Piece::Sql(s) => format!("sql:{s}"),
                Piece::Name(n) => format!("name:{}", n.join(".")),
            })
            .collect())
    }

    #[test]
    fn names_in_braces_are_fields_and_the_rest_is_sql() {
        assert_eq!(
            names("ROUND(1.0 * {total} / NULLIF({dims.size}, 0))").unwrap(),
            [
                "sql:ROUND(1.0 * ",
                "name:total",
                "sql: / NULLIF(",
                "name:dims.size",
                "sql:, 0))"
            ]
        );
        assert_eq!(
            names("'{{1,2}}' || {a}").unwrap(),
            ["sql:'{1,2}' || ", "name:a"]
        );
        // Not a name: kept as SQL.
        assert_eq!(names("'{1,2}'").unwrap(), ["sql:'{1,2}'"]);
    }

    #[test]
    fn what_would_change_the_statement_is_refused() {
        for bad in [
            "{a} ?",
            "$1 + {a}",
            "{a}; DROP TABLE t",
            "{a} -- rest",
            "{a} /* c */",
            "  ",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
