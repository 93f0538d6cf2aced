//! Schema: the authored input (`schema.json` or `schema.graphql`) compiled into the model the
//! planner reads, and the executable GraphQL SDL generated from it.

mod compile;
mod computed;
mod federation;
mod graphql;
mod input;
mod model;
mod naming;
mod sdl;
mod type_ref;

pub use compile::{compile, CompileError, CompileErrors, DEFAULT_DATABASE};
pub use computed::{computed_parts, ComputedPart, FieldRef};
pub use federation::{
    entity_keys, key_parts, served_additions, subgraph_sdl, EntityKey, Key, KeyPart,
    FEDERATION_SPEC,
};
pub use graphql::{auto_params, executable_sdl};
pub use input::*;
pub use model::*;
pub use naming::{camel_case, is_graphql_name, is_sql_identifier, snake_case};
pub use sdl::parse_sdl;
pub use type_ref::TypeRef;

use serde::{Deserialize, Serialize};

/// The on-disk form of a compiled schema (`schema.compiled.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompiledDocument {
    /// Marks the file as compiled output; only `1` exists.
    pub compiled_version: u32,
    pub schema: CompiledSchema,
}

/// Compiles schema text of any accepted kind: SDL (`.graphql`/`.gql`), authored
/// `schema.json`, or an already compiled document (recognised by `compiled_version`).
pub fn load_schema(text: &str, origin: &str) -> Result<CompiledSchema, CompileErrors> {
    let one = |message: String| {
        CompileErrors(vec![CompileError {
            path: origin.into(),
            message,
        }])
    };
    if origin.ends_with(".graphql") || origin.ends_with(".gql") || origin.ends_with(".graphqls") {
        return compile(&parse_sdl(text, origin)?);
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| one(format!("invalid JSON: {e}")))?;
    if value.get("compiled_version").is_some() {
        let doc: CompiledDocument = serde_json::from_value(value)
            .map_err(|e| one(format!("invalid compiled schema: {e}")))?;
        if doc.compiled_version != 1 {
            return Err(one(format!(
                "unsupported compiled_version {}",
                doc.compiled_version
            )));
        }
        return Ok(doc.schema);
    }
    let input: SchemaInput =
        serde_json::from_value(value).map_err(|e| one(format!("invalid schema.json: {e}")))?;
    compile(&input)
}
