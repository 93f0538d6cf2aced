//! MySQL/MariaDB catalog introspection from `information_schema`: the columns of every view
//! and table of the connection's database and the parameters of its stored procedures (a
//! mutation calls a procedure). Names are stored unqualified and as `database.name`.
//!
//! Column types are decided here, before `SqlType::from_name`: `tinyint(1)` is a boolean,
//! and a text column counts as text only with a binary collation that does not pad
//! (`utf8mb4_nopad_bin`, MySQL 8's `*_0900_bin`, `binary`). Under any other collation `'a' =
//! 'A'` or `'a' = 'a '`, so the engine compares the JSON value instead (exact, but without
//! the column's index); a long text of another collation is taken for JSON (MariaDB's JSON
//! type is LONGTEXT), never for comparisons.

use super::mysql::{fetch_rows, MyConn};
use super::DbError;
use fraiseql_engine::catalog::{Catalog, Function, FunctionParam, FunctionReturn, SqlType};
use fraiseql_engine::sql::SqlQuery;

const COLUMNS: &str = "\
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(COLLATION_NAME, '') \
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
ORDER BY TABLE_NAME, ORDINAL_POSITION";

/// One row per procedure parameter (a procedure without any gives one row of NULLs).
const PROCEDURES: &str = "\
SELECT r.ROUTINE_SCHEMA, r.ROUTINE_NAME, p.PARAMETER_NAME, p.PARAMETER_MODE, p.DATA_TYPE \
FROM information_schema.ROUTINES r \
LEFT JOIN information_schema.PARAMETERS p \
  ON p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA AND p.SPECIFIC_NAME = r.ROUTINE_NAME \
  AND p.ORDINAL_POSITION > 0 \
WHERE r.ROUTINE_SCHEMA = DATABASE() AND r.ROUTINE_TYPE = 'PROCEDURE' \
ORDER BY r.ROUTINE_NAME, p.ORDINAL_POSITION";

/// Reads the catalog through one pooled connection.
pub(super) async fn load(conn: &mut MyConn) -> Result<Catalog, DbError> {
    let mut catalog = Catalog::default();
    let query = |text: &str| SqlQuery {
        text: text.to_string(),
        params: Vec::new(),
    };
    for row in fetch_rows(conn, &query(COLUMNS)).await? {
        let [schema, table, column, data_type, column_type, collation] = texts(row)?;
        let ty = column_type_of(&data_type, &column_type, &collation);
        for name in [format!("{schema}.{table}"), table] {
            catalog
                .relations
                .entry(name)
                .or_default()
                .columns
                .insert(column.clone(), ty);
        }
    }
    for row in fetch_rows(conn, &query(PROCEDURES)).await? {
        let [schema, name, param, mode, data_type] = row
            .try_into()
            .map_err(|_| DbError::query("reading the catalog: unexpected procedure row"))?;
        let (Some(schema), Some(name)) = (schema, name) else {
            continue;
        };
        let entry = catalog
            .functions
            .entry(name.clone())
            .or_insert_with(|| Function {
                params: Vec::new(),
                returns: FunctionReturn::Procedure,
            });
        if let Some(param) = param {
            entry.params.push(FunctionParam {
                name: param,
                type_name: data_type.unwrap_or_default().to_ascii_lowercase(),
                // A procedure parameter has no default: one no argument binds is NULL.
                // OUT parameters are not supported (CALL would need a variable).
                has_default: mode.as_deref() != Some("OUT"),
            });
        }
        let function = entry.clone();
        catalog
            .functions
            .insert(format!("{schema}.{name}"), function);
    }
    Ok(catalog)
}

fn texts<const N: usize>(row: Vec<Option<String>>) -> Result<[String; N], DbError> {
    let row: Vec<String> = row.into_iter().map(Option::unwrap_or_default).collect();
    row.try_into()
        .map_err(|_| DbError::query("reading the catalog: unexpected column count"))
}

/// The engine's view of a column (see the module header).
fn column_type_of(data_type: &str, column_type: &str, collation: &str) -> SqlType {
    let data_type = data_type.to_ascii_lowercase();
    if column_type.eq_ignore_ascii_case("tinyint(1)") {
        return SqlType::Boolean;
    }
    if data_type == "uuid" {
        return SqlType::Uuid;
    }
    let ty = SqlType::from_name(&data_type);
    if ty != SqlType::Text {
        return ty;
    }
    let collation = collation.to_ascii_lowercase();
    let exact = collation.ends_with("nopad_bin")
        || collation.ends_with("_0900_bin")
        || collation == "binary";
    match (exact, data_type.as_str()) {
        (true, _) => SqlType::Text,
        (false, "longtext") => SqlType::Json,
        (false, _) => SqlType::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::column_type_of;
    use fraiseql_engine::catalog::SqlType;

    #[test]
    fn text_columns_count_only_with_an_exact_collation() {
        assert_eq!(
            column_type_of("char", "char(36)", "utf8mb4_nopad_bin"),
            SqlType::Text
        );
        assert_eq!(
            column_type_of("varchar", "varchar(20)", "utf8mb4_general_ci"),
            SqlType::Other
        );
        assert_eq!(
            column_type_of("varchar", "varchar(20)", "utf8mb4_bin"),
            SqlType::Other,
            "utf8mb4_bin pads: 'a' = 'a '"
        );
        assert_eq!(
            column_type_of("longtext", "longtext", "utf8mb4_bin"),
            SqlType::Json
        );
        assert_eq!(
            column_type_of("tinyint", "tinyint(1)", ""),
            SqlType::Boolean
        );
        assert_eq!(column_type_of("int", "int(11)", ""), SqlType::Integer);
        assert_eq!(
            column_type_of("decimal", "decimal(10,2)", ""),
            SqlType::Numeric
        );
        assert_eq!(column_type_of("uuid", "uuid", ""), SqlType::Uuid);
        assert_eq!(
            column_type_of("datetime", "datetime", ""),
            SqlType::Timestamp
        );
    }
}
