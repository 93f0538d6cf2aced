//! PostgreSQL catalog introspection: the columns of every view and table and the signature
//! of every function outside the system schemas, read from `pg_catalog`. Names are stored
//! as `schema.name` and, when the search path reaches them (`pg_*_is_visible`), also
//! unqualified, the way an unqualified name in a statement resolves.

use super::postgres::statement_error;
use super::DbError;
use fraiseql_engine::catalog::{Catalog, Function, FunctionParam, FunctionReturn, SqlType};
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

const RELATIONS: &str = "\
SELECT n.nspname::text, c.relname::text, pg_catalog.pg_table_is_visible(c.oid), \
       a.attname::text, t.typname::text \
FROM pg_catalog.pg_class c \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
ORDER BY n.nspname, c.relname, a.attnum";

/// One row per function. `proargtypes` lists the input parameters (IN, INOUT, VARIADIC);
/// `proargnames`/`proargmodes` cover all parameters when OUT ones exist, so names are
/// filtered by mode below.
const FUNCTIONS: &str = "\
SELECT n.nspname::text, p.proname::text, pg_catalog.pg_function_is_visible(p.oid), \
       coalesce(p.proargnames, ARRAY[]::text[]), \
       coalesce(p.proargmodes::text[], ARRAY[]::text[]), \
       ARRAY(SELECT pg_catalog.format_type(a.t, NULL) \
             FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i) ORDER BY a.i), \
       p.pronargdefaults::int4, p.proretset, \
       pg_catalog.format_type(p.prorettype, NULL), rt.typname::text, rt.typtype::text, \
       rc.relname::text, rc.relkind::text, pg_catalog.pg_table_is_visible(rc.oid), rn.nspname::text \
FROM pg_catalog.pg_proc p \
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
JOIN pg_catalog.pg_type rt ON rt.oid = p.prorettype \
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = rt.typrelid \
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
WHERE p.prokind = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
ORDER BY n.nspname, p.proname, p.oid";

/// Every relation a view reads, through the views it reads (its own row first): name, kind
/// (`r`, `p`, `v`, `m`, `f`), whether row-level security is on, and whether a view reads as
/// its caller (`security_invoker`).
const EXPOSURE: &str = "\
WITH RECURSIVE rel(oid) AS ( \
  SELECT $1::text::regclass::oid \
  UNION \
  SELECT d.refobjid FROM rel \
  JOIN pg_catalog.pg_rewrite r ON r.ev_class = rel.oid \
  JOIN pg_catalog.pg_depend d ON d.objid = r.oid \
   AND d.classid = 'pg_catalog.pg_rewrite'::regclass \
   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> rel.oid) \
SELECT c.relname::text, c.relkind::text, c.relrowsecurity, \
       coalesce('security_invoker=true' = ANY (c.reloptions) \
             OR 'security_invoker=on' = ANY (c.reloptions), false) \
FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid";

/// What a view reads, for `fraiseql check` under the row strategy.
pub(super) async fn exposure(client: &Client, view: &str) -> Result<Vec<Exposed>, DbError> {
    let rows = client
        .query(EXPOSURE, &[&view])
        .await
        .map_err(statement_error)?;
    Ok(rows
        .iter()
        .map(|r| Exposed {
            name: r.get(0),
            view: matches!(r.get::<_, String>(1).as_str(), "v" | "m"),
            row_security: r.get(2),
            invoker: r.get(3),
        })
        .collect())
}

/// One relation a view reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exposed {
    pub(crate) name: String,
    /// A view (else a table).
    pub(crate) view: bool,
    /// Row-level security is enabled (tables).
    pub(crate) row_security: bool,
    /// `security_invoker` (views): the policies of its tables apply to the caller.
    pub(crate) invoker: bool,
}

/// Reads the catalog through one pooled connection (the caller guards it, see
/// `postgres::guarded`).
pub(super) async fn load(client: &Client) -> Result<Catalog, DbError> {
    let mut catalog = Catalog::default();

    let rows = client
        .query(RELATIONS, &[])
        .await
        .map_err(statement_error)?;
    // Unqualified names are what the search path resolves: visible relations only.
    for row in &rows {
        let schema: String = col(row, 0)?;
        let name: String = col(row, 1)?;
        let visible: bool = col(row, 2)?;
        let column: String = col(row, 3)?;
        let ty = SqlType::from_name(&col::<String>(row, 4)?);
        catalog
            .relations
            .entry(format!("{schema}.{name}"))
            .or_default()
            .columns
            .insert(column.clone(), ty);
        if visible {
            catalog
                .relations
                .entry(name)
                .or_default()
                .columns
                .insert(column, ty);
        }
    }

    let rows = client
        .query(FUNCTIONS, &[])
        .await
        .map_err(statement_error)?;
    for row in &rows {
        let schema: String = col(row, 0)?;
        let name: String = col(row, 1)?;
        let visible: bool = col(row, 2)?;
        let function = function(row)?;
        // Of overloaded functions the first (lowest oid) one stands for the name.
        catalog
            .functions
            .entry(format!("{schema}.{name}"))
            .or_insert_with(|| function.clone());
        if visible {
            catalog.functions.entry(name).or_insert(function);
        }
    }
    Ok(catalog)
}

fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, DbError> {
    row.try_get(i)
        .map_err(|e| DbError::query(format!("reading the catalog: {e}")))
}

fn function(row: &Row) -> Result<Function, DbError> {
    let names: Vec<String> = col(row, 3)?;
    let modes: Vec<String> = col(row, 4)?;
    let types: Vec<String> = col(row, 5)?;
    let defaults = col::<i32>(row, 6)?.max(0) as usize;
    let retset: bool = col(row, 7)?;
    let return_type: String = col(row, 8)?;
    let return_typname: String = col(row, 9)?;
    let return_typtype: String = col(row, 10)?;
    let relation: Option<String> = col(row, 11)?;
    let relkind: Option<String> = col(row, 12)?;
    let relation_visible: Option<bool> = col(row, 13)?;
    let relation_schema: Option<String> = col(row, 14)?;

    // Input parameter names: with modes present, only IN (i), INOUT (b) and VARIADIC (v).
    let input_names: Vec<String> = if modes.is_empty() {
        names
    } else {
        names
            .into_iter()
            .zip(modes.iter())
            .filter(|(_, m)| matches!(m.as_str(), "i" | "b" | "v"))
            .map(|(n, _)| n)
            .collect()
    };
    let count = types.len();
    let params = types
        .into_iter()
        .enumerate()
        .map(|(i, type_name)| FunctionParam {
            name: input_names.get(i).cloned().unwrap_or_default(),
            type_name,
            // Defaults belong to the last `pronargdefaults` input parameters.
            has_default: i + defaults >= count,
        })
        .collect();

    let returns = if return_typname == "mutation_response" && return_typtype == "c" {
        FunctionReturn::MutationResponse
    } else {
        match (retset, relation, relkind.as_deref()) {
            (true, Some(rel), Some("r" | "v" | "m" | "p" | "f")) => {
                let relation = match (relation_visible, relation_schema) {
                    (Some(false), Some(schema)) => format!("{schema}.{rel}"),
                    _ => rel,
                };
                FunctionReturn::Rows { relation }
            }
            _ if retset => FunctionReturn::Other(format!("SETOF {return_type}")),
            _ => FunctionReturn::Other(return_type),
        }
    };
    Ok(Function { params, returns })
}
