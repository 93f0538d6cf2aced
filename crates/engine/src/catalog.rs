//! What one database holds, as plain data: the columns of views and the signatures of
//! functions. The server reads it from the database's system catalog; the planner uses it to
//! filter on real (indexed) columns and to call functions with the right parameters, and
//! `fraiseql check` compares it with the schema. Planning works without it (JSON paths only).

use indexmap::IndexMap;
use std::collections::HashMap;

/// The SQL type family of a column or parameter, as far as planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    Uuid,
    Text,
    Integer,
    Numeric,
    Boolean,
    Timestamp,
    Date,
    Json,
    Jsonb,
    /// Anything else, or undeclared (SQLite expressions).
    Other,
}

impl SqlType {
    /// Maps a PostgreSQL `format_type`/`udt_name`, a SQLite declared type or a MySQL
    /// `DATA_TYPE` (the MySQL catalog decides booleans and text collations before this).
    pub fn from_name(name: &str) -> Self {
        let n = name.to_ascii_lowercase();
        let n = n.trim();
        match n {
            "uuid" => Self::Uuid,
            "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" | "name"
            | "citext" | "tinytext" | "mediumtext" | "longtext" => Self::Text,
            "int2" | "int4" | "int8" | "smallint" | "integer" | "bigint" | "int" | "tinyint"
            | "mediumint" => Self::Integer,
            "numeric" | "decimal" | "real" | "float4" | "float8" | "double precision"
            | "double" | "float" => Self::Numeric,
            "bool" | "boolean" => Self::Boolean,
            "timestamptz"
            | "timestamp"
            | "timestamp with time zone"
            | "timestamp without time zone"
            | "datetime" => Self::Timestamp,
            "date" => Self::Date,
            "json" => Self::Json,
            "jsonb" => Self::Jsonb,
            _ if n.starts_with("varchar")
                || n.starts_with("character")
                || n.starts_with("text") =>
            {
                Self::Text
            }
            _ if n.starts_with("numeric") || n.starts_with("decimal") => Self::Numeric,
            _ if n.starts_with("timestamp") => Self::Timestamp,
            _ => Self::Other,
        }
    }
}

/// A view or table and its columns, in declared order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Relation {
    pub columns: IndexMap<String, SqlType>,
}

/// One parameter of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionParam {
    pub name: String,
    /// Type name as the database spells it (`text`, `numeric`, `jsonb`), used for casts.
    pub type_name: String,
    pub has_default: bool,
}

/// What a function returns.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionReturn {
    /// The `mutation_response` composite type (status, message, entity_id, ...).
    MutationResponse,
    /// Rows of a view or table (`SETOF v_order`); they carry a `data` column.
    Rows { relation: String },
    /// A stored procedure (MySQL/MariaDB): what it returns is seen only when it runs (a
    /// result set with the `mutation_response` columns, or rows of a view).
    Procedure,
    /// Anything else (not usable as a mutation).
    Other(String),
}

/// A function's signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub params: Vec<FunctionParam>,
    pub returns: FunctionReturn,
}

/// Everything known about one database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Views and tables by name (unqualified and schema-qualified both present).
    pub relations: HashMap<String, Relation>,
    pub functions: HashMap<String, Function>,
}

impl Catalog {
    /// The type of column `column` of `relation`, when both exist.
    pub fn column(&self, relation: &str, column: &str) -> Option<SqlType> {
        self.relations.get(relation)?.columns.get(column).copied()
    }
}
