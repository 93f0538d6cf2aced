//! SQLite catalog introspection: tables and views from `sqlite_master`, their columns from
//! `pragma_table_info`. SQLite has no functions; a mutation "function" is a view named like
//! the function whose `INSTEAD OF INSERT` trigger does the work, so every `fn_*` view is
//! also listed as a function taking its columns and returning a `mutation_response`.

use super::sqlite::run;
use super::DbError;
use deadpool_sqlite::Object;
use fraiseql_engine::catalog::{
    Catalog, Function, FunctionParam, FunctionReturn, Relation, SqlType,
};
use std::time::Duration;

/// `(relation, kind, columns as (name, declared type))`.
type Listing = Vec<(String, String, Vec<(String, String)>)>;

/// Reads the catalog through one pooled connection, within the statement timeout.
pub(super) async fn load(conn: &Object, limit: Option<Duration>) -> Result<Catalog, DbError> {
    let listing: Listing = run(conn, limit, |c| {
        let mut relations = c.prepare(
            "SELECT name, type FROM sqlite_master \
                 WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 ORDER BY name",
        )?;
        let names = relations
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut columns = c.prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
        let mut out = Vec::with_capacity(names.len());
        for (name, kind) in names {
            let cols = columns
                .query_map([&name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            out.push((name, kind, cols));
        }
        Ok(out)
    })
    .await?;
    Ok(catalog(listing))
}

fn catalog(listing: Listing) -> Catalog {
    let mut catalog = Catalog::default();
    for (name, kind, columns) in listing {
        let relation = Relation {
            columns: columns
                .iter()
                .map(|(c, t)| (c.clone(), SqlType::from_name(t)))
                .collect(),
        };
        if kind == "view" && name.starts_with("fn_") {
            let params = columns
                .iter()
                .map(|(c, t)| FunctionParam {
                    name: c.clone(),
                    type_name: if t.trim().is_empty() {
                        "text".into()
                    } else {
                        t.clone()
                    },
                    // Inserting into a view leaves unnamed columns NULL.
                    has_default: true,
                })
                .collect();
            let function = Function {
                params,
                returns: FunctionReturn::MutationResponse,
            };
            catalog
                .functions
                .insert(format!("main.{name}"), function.clone());
            catalog.functions.insert(name.clone(), function);
        }
        catalog
            .relations
            .insert(format!("main.{name}"), relation.clone());
        catalog.relations.insert(name, relation);
    }
    catalog
}
