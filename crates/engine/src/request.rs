//! `prepare`: query text -> a validated operation, first stop of the request path. Parses
//! and validates with apollo-compiler against the executable schema, selects the operation,
//! and enforces the depth/alias/field limits, all before any database is touched. The result
//! depends only on (schema, query text, operation name), so the server caches it.

use crate::config::{QueryDefaults, ValidationConfig};
use crate::error::{ErrorCode, GraphQLError, Location};
use crate::schema::{executable_sdl, CompiledSchema};
use apollo_compiler::collections::HashMap;
use apollo_compiler::diagnostic::Diagnostic;
use apollo_compiler::executable::{ExecutableDocument, Selection, SelectionSet};
use apollo_compiler::schema::Implementers;
use apollo_compiler::validation::{DiagnosticData, Valid};
use apollo_compiler::{Name, Schema};
use std::sync::Arc;

mod unique_input_fields;

/// The compiled schema together with its executable GraphQL form and the settings that
/// shape requests. Built once at startup (and on reload), shared by every request.
#[derive(Debug)]
pub struct ApiSchema {
    pub compiled: Arc<CompiledSchema>,
    /// The printed executable SDL (what introspection shows).
    pub sdl: String,
    pub graphql: Valid<Schema>,
    pub implementers: HashMap<Name, Implementers>,
    pub defaults: QueryDefaults,
    pub limits: ValidationConfig,
    pub introspection: bool,
    /// Some type, field or root field has an `@auth` requirement or injects token claims
    /// (else `authorize` has nothing to check and skips its walk).
    pub guarded: bool,
    /// An Apollo Federation subgraph (`[federation] enabled`): the served schema then has
    /// `_entities` and `_service`.
    pub subgraph: Option<Subgraph>,
}

/// What a subgraph answers `_service` and `_entities` with.
#[derive(Debug)]
pub struct Subgraph {
    /// The SDL `_service { sdl }` answers with.
    pub sdl: String,
    /// The entities and their keys.
    pub entities: Vec<crate::schema::EntityKey>,
}

impl ApiSchema {
    /// Builds the executable schema; fails only if generated names collide with authored ones.
    pub fn new(
        compiled: CompiledSchema,
        defaults: QueryDefaults,
        limits: ValidationConfig,
        introspection: bool,
    ) -> Result<Self, String> {
        Self::build(compiled, defaults, limits, introspection, None)
    }

    /// The executable schema `config` asks for: with its query defaults, validation limits
    /// and introspection, an Apollo Federation subgraph when `[federation] enabled`.
    pub fn for_config(
        compiled: CompiledSchema,
        config: &crate::config::Config,
    ) -> Result<Self, String> {
        Self::build(
            compiled,
            config.query_defaults.clone(),
            config.validation.clone(),
            config.server.introspection,
            config
                .federation
                .enabled
                .then_some(config.federation.entities.as_slice()),
        )
    }

    fn build(
        compiled: CompiledSchema,
        defaults: QueryDefaults,
        limits: ValidationConfig,
        introspection: bool,
        entities: Option<&[crate::config::EntityConfig]>,
    ) -> Result<Self, String> {
        let mut sdl = executable_sdl(&compiled, &defaults);
        let subgraph = match entities {
            Some(declared) => {
                let entities = crate::schema::entity_keys(&compiled, declared)?;
                sdl.push_str(&crate::schema::served_additions(&entities));
                Some(Subgraph {
                    sdl: crate::schema::subgraph_sdl(&compiled, &defaults, &entities),
                    entities,
                })
            }
            None => None,
        };
        let graphql = Schema::parse_and_validate(sdl.as_str(), "schema.graphql")
            .map_err(|e| format!("generated GraphQL schema is invalid: {}", e.errors))?;
        let implementers = graphql.implementers_map();
        let guarded = compiled
            .types
            .values()
            .any(|t| !t.access.is_open() || t.fields.values().any(|f| !f.access.is_open()))
            || compiled
                .queries
                .values()
                .any(|q| !q.access.is_open() || !q.inject.is_empty())
            || compiled
                .mutations
                .values()
                .any(|m| !m.access.is_open() || !m.inject.is_empty())
            || compiled.subscriptions.values().any(|s| !s.access.is_open());
        Ok(Self {
            guarded,
            subgraph,
            compiled: Arc::new(compiled),
            sdl,
            graphql,
            implementers,
            defaults,
            limits,
            introspection,
        })
    }
}

/// Which root type an operation runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

/// A parsed, validated operation, ready to plan with variables.
#[derive(Debug)]
pub struct Prepared {
    pub document: Valid<ExecutableDocument>,
    pub operation_name: Option<String>,
    pub kind: OperationKind,
    /// The operation selects `__schema` or `__type`.
    pub introspection: bool,
    /// How deep its selection nests (a root field alone is 1).
    pub depth: usize,
    /// How many fields it selects, through fragments.
    pub fields: usize,
}

impl Prepared {
    /// The selected operation.
    pub fn operation(&self) -> &apollo_compiler::executable::Operation {
        // `prepare` checked that this operation exists.
        match self.document.operations.get(self.operation_name.as_deref()) {
            Ok(op) => op,
            Err(_) => unreachable!("prepare verified the operation exists"),
        }
    }
}

fn bad(code: ErrorCode, message: impl Into<String>) -> Vec<GraphQLError> {
    vec![GraphQLError::new(code, message)]
}

/// Parses, validates and checks limits.
pub fn prepare(
    api: &ApiSchema,
    query: &str,
    operation_name: Option<&str>,
) -> Result<Prepared, Vec<GraphQLError>> {
    let ast = apollo_compiler::ast::Document::parse(query, "query.graphql")
        .map_err(|e| parse_error(e.errors.iter()))?;
    let duplicates = unique_input_fields::check(&ast);
    let document = match ast.to_executable_validate(&api.graphql) {
        Ok(document) if duplicates.is_empty() => document,
        Ok(_) => return Err(capped(duplicates)),
        Err(e) => {
            let mut errors = validation_errors(api, &ast, e.errors.iter());
            errors.extend(duplicates);
            return Err(capped(errors));
        }
    };
    let operation = document
        .operations
        .get(operation_name)
        .map_err(|e| bad(ErrorCode::GraphqlValidationFailed, e.message().to_string()))?;
    let kind = match operation.operation_type {
        apollo_compiler::executable::OperationType::Query => OperationKind::Query,
        apollo_compiler::executable::OperationType::Mutation => OperationKind::Mutation,
        apollo_compiler::executable::OperationType::Subscription => OperationKind::Subscription,
    };
    let introspection = operation
        .root_fields(&document)
        .any(|f| f.name == "__schema" || f.name == "__type");
    if introspection {
        if !api.introspection {
            return Err(bad(
                ErrorCode::GraphqlValidationFailed,
                "introspection is disabled on this server",
            ));
        }
        apollo_compiler::introspection::check_max_depth(&document, operation)
            .map_err(|e| bad(ErrorCode::GraphqlValidationFailed, e.message().to_string()))?;
    }
    let mut shape = Shape::default();
    shape.walk(&document, &operation.selection_set, 1);
    let limits = &api.limits;
    if shape.max_depth > limits.max_query_depth {
        return Err(bad(
            ErrorCode::GraphqlValidationFailed,
            format!(
                "query depth {} exceeds the maximum of {}",
                shape.max_depth, limits.max_query_depth
            ),
        ));
    }
    if shape.aliases > limits.max_aliases {
        return Err(bad(
            ErrorCode::GraphqlValidationFailed,
            format!(
                "query uses {} aliases; the maximum is {}",
                shape.aliases, limits.max_aliases
            ),
        ));
    }
    if shape.fields > limits.max_fields {
        return Err(bad(
            ErrorCode::GraphqlValidationFailed,
            format!("query selects more than {} fields", limits.max_fields),
        ));
    }
    let operation_name = operation.name.as_ref().map(|n| n.to_string());
    Ok(Prepared {
        document,
        operation_name,
        kind,
        introspection,
        depth: shape.max_depth,
        fields: shape.fields,
    })
}

/// A parse failure as one client error: the first syntax error, as graphql-js reports it.
/// apollo's parser recovers and goes on, and what it reports after the first error follows
/// from it (`{ orders { ` is "expected a Selection" and then "expected R_CURLY", both at the
/// end of the text; `{ orders { id ` reported the same error twice).
fn parse_error<'a>(
    mut errors: impl Iterator<Item = Diagnostic<'a, DiagnosticData>>,
) -> Vec<GraphQLError> {
    errors
        .next()
        .map(|d| error_of(ErrorCode::GraphqlParseFailed, &d))
        .into_iter()
        .collect()
}

/// The most validation errors one response lists (graphql-js stops at 100 as well): a
/// document of ten thousand misspelt fields gets a bounded answer.
const MAX_ERRORS: usize = 100;

/// Validation diagnostics as client errors, each reported once and without the errors that
/// only follow from another one, so a misspelt field is reported alone:
/// - apollo drops an undefined field before checking its parent, so a parent whose written
///   selection set held only misspelt fields was also "must have a subselection set";
/// - a fragment whose type condition is undefined is dropped, and each spread of it was
///   also "cannot find fragment";
/// - a variable of an undefined type was also "cannot be used for argument ...".
///
/// The kind of a diagnostic is only exposed as `unstable_error_name` (public but hidden in
/// apollo-compiler's docs); tests/prepare.rs pins the exact errors, so a rename shows there.
fn validation_errors<'a>(
    api: &ApiSchema,
    ast: &apollo_compiler::ast::Document,
    errors: impl Iterator<Item = Diagnostic<'a, DiagnosticData>>,
) -> Vec<GraphQLError> {
    use apollo_compiler::ast::Definition;
    use std::collections::HashSet;
    let written = fields_with_selections(ast);
    let mut fragments = HashSet::new();
    let mut untyped_variables = HashSet::new();
    for definition in &ast.definitions {
        match definition {
            Definition::FragmentDefinition(f) => {
                fragments.insert(format!(
                    "cannot find fragment `{}` in this document",
                    f.name
                ));
            }
            Definition::OperationDefinition(op) => {
                for v in &op.variables {
                    if !api.graphql.types.contains_key(v.ty.inner_named_type()) {
                        untyped_variables.insert(v.name.as_str().to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let mut seen = HashSet::new();
    let mut out: Vec<GraphQLError> = Vec::new();
    for d in errors {
        let error = error_of(ErrorCode::GraphqlValidationFailed, &d);
        let follow_on = match d.error.unstable_error_name() {
            Some("MissingSubselection") => error
                .locations
                .first()
                .is_some_and(|l| written.contains(&(l.line, l.column))),
            Some("UndefinedFragment") => fragments.contains(&error.message),
            // "variable `$x` of type `Nope` cannot be used for argument ..."
            Some("DisallowedVariableUsage") => error
                .message
                .strip_prefix("variable `$")
                .and_then(|rest| rest.split_once('`'))
                .is_some_and(|(name, _)| untyped_variables.contains(name)),
            _ => false,
        };
        let key = (
            error.message.clone(),
            error
                .locations
                .iter()
                .map(|l| (l.line, l.column))
                .collect::<Vec<_>>(),
        );
        if !follow_on && seen.insert(key) {
            out.push(error);
        }
    }
    out
}

/// At most [`MAX_ERRORS`] errors, and a last one saying that more were left out.
fn capped(mut errors: Vec<GraphQLError>) -> Vec<GraphQLError> {
    if errors.len() > MAX_ERRORS {
        errors.truncate(MAX_ERRORS);
        errors.push(GraphQLError::new(
            ErrorCode::GraphqlValidationFailed,
            format!("too many validation errors; only the first {MAX_ERRORS} are listed"),
        ));
    }
    errors
}

fn error_of(code: ErrorCode, d: &Diagnostic<'_, DiagnosticData>) -> GraphQLError {
    let json = d.to_json();
    let locations = json
        .locations
        .iter()
        .map(|l| Location {
            line: l.line,
            column: l.column,
        })
        .collect();
    GraphQLError::new(code, json.message).located(locations)
}

/// Where the query text has a field with a non-empty selection set.
fn fields_with_selections(
    ast: &apollo_compiler::ast::Document,
) -> std::collections::HashSet<(usize, usize)> {
    use apollo_compiler::ast::{Definition, Selection as AstSelection};
    let mut sets: Vec<&[AstSelection]> = ast
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::OperationDefinition(op) => Some(op.selection_set.as_slice()),
            Definition::FragmentDefinition(f) => Some(f.selection_set.as_slice()),
            _ => None,
        })
        .collect();
    let mut found = std::collections::HashSet::new();
    while let Some(set) = sets.pop() {
        for selection in set {
            match selection {
                AstSelection::Field(f) if !f.selection_set.is_empty() => {
                    if let Some(lc) = f.location().and_then(|s| s.line_column(&ast.sources)) {
                        found.insert((lc.line, lc.column));
                    }
                    sets.push(&f.selection_set);
                }
                AstSelection::InlineFragment(i) => sets.push(&i.selection_set),
                _ => {}
            }
        }
    }
    found
}

/// Size of an operation after fragment expansion. Introspection fields count like any other:
/// 2,000 aliased `__schema` selections would otherwise build a response of tens of megabytes.
#[derive(Default)]
struct Shape {
    max_depth: usize,
    aliases: usize,
    fields: usize,
}

/// Counting stops here: anything larger is rejected anyway, and fragments can multiply work.
const COUNT_CAP: usize = 100_000;

impl Shape {
    fn walk(&mut self, doc: &ExecutableDocument, set: &SelectionSet, depth: usize) {
        if self.fields > COUNT_CAP {
            return;
        }
        for sel in &set.selections {
            match sel {
                Selection::Field(f) => {
                    self.fields += 1;
                    if f.alias.is_some() {
                        self.aliases += 1;
                    }
                    if !f.selection_set.selections.is_empty() {
                        // `__Type.ofType` unwraps one list/non-null wrapper: a single value
                        // that is null past the type's last wrapper, so its nesting cannot
                        // multiply the response (the field count still bounds it). The
                        // standard IntrospectionQuery nests it 7 to 9 deep below
                        // `__schema.types.fields.args.type` (depth 5), which would otherwise
                        // need a `max_query_depth` of 14 just for GraphiQL.
                        let wrapper = set.ty == "__Type" && f.name == "ofType";
                        let depth = if wrapper {
                            depth.saturating_sub(1)
                        } else {
                            depth
                        };
                        self.max_depth = self.max_depth.max(depth);
                        self.walk(doc, &f.selection_set, depth + 1);
                    }
                }
                Selection::FragmentSpread(s) => {
                    if let Some(frag) = doc.fragments.get(&s.fragment_name) {
                        self.walk(doc, &frag.selection_set, depth);
                    }
                }
                Selection::InlineFragment(i) => self.walk(doc, &i.selection_set, depth),
            }
        }
    }
}

/// Answers the introspection root fields (`__schema`, `__type`) of a query; the result maps
/// each such response key to its value.
pub fn introspect(
    api: &ApiSchema,
    prepared: &Prepared,
    variables: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, Vec<GraphQLError>> {
    let operation = prepared.operation();
    let coerced = coerce(api, operation, variables).map_err(|e| vec![e])?;
    let response = apollo_compiler::introspection::partial_execute(
        &api.graphql,
        &api.implementers,
        &prepared.document,
        operation,
        &coerced,
    )
    .map_err(|e| bad(ErrorCode::GraphqlValidationFailed, e.message().to_string()))?;
    Ok(response
        .data
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), from_apollo(v)))
        .collect())
}

/// Coerces request variables to the operation's declared types (GraphQL spec rules).
pub(crate) fn coerce(
    api: &ApiSchema,
    operation: &apollo_compiler::executable::Operation,
    variables: &serde_json::Map<String, serde_json::Value>,
) -> Result<apollo_compiler::validation::Valid<apollo_compiler::response::JsonMap>, GraphQLError> {
    let raw: apollo_compiler::response::JsonMap = variables
        .iter()
        .map(|(k, v)| (k.as_str().into(), to_apollo(v)))
        .collect();
    apollo_compiler::request::coerce_variable_values(&api.graphql, operation, &raw)
        .map_err(|e| GraphQLError::new(ErrorCode::BadUserInput, clipped(e.message().to_string())))
}

/// apollo's coercion messages quote the offending value whole (`could not coerce variable
/// n: <value> to type Int`); a 1 MB variable would come back in the error. Keep the start,
/// which names the variable, and the end, which names the expected type.
fn clipped(message: String) -> String {
    const HEAD: usize = 160;
    const TAIL: usize = 60;
    let chars = message.chars().count();
    if chars <= HEAD + TAIL + 1 {
        return message;
    }
    let head: String = message.chars().take(HEAD).collect();
    let tail: String = message.chars().skip(chars - TAIL).collect();
    format!("{head}…{tail}")
}

/// serde_json -> apollo-compiler's JSON (a direct walk: a serde round trip costs several
/// times more on every request with variables).
pub(crate) fn to_apollo(v: &serde_json::Value) -> apollo_compiler::response::JsonValue {
    use apollo_compiler::response::JsonValue as A;
    match v {
        serde_json::Value::Null => A::Null,
        serde_json::Value::Bool(b) => A::Bool(*b),
        serde_json::Value::Number(n) => A::Number(n.clone()),
        serde_json::Value::String(s) => A::String(s.as_str().into()),
        serde_json::Value::Array(items) => A::Array(items.iter().map(to_apollo).collect()),
        serde_json::Value::Object(map) => A::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), to_apollo(v)))
                .collect(),
        ),
    }
}

/// apollo-compiler's JSON -> serde_json.
pub(crate) fn from_apollo(v: &apollo_compiler::response::JsonValue) -> serde_json::Value {
    use apollo_compiler::response::JsonValue as A;
    match v {
        A::Null => serde_json::Value::Null,
        A::Bool(b) => serde_json::Value::Bool(*b),
        A::Number(n) => serde_json::Value::Number(n.clone()),
        A::String(s) => serde_json::Value::String(s.as_str().to_owned()),
        A::Array(items) => serde_json::Value::Array(items.iter().map(from_apollo).collect()),
        A::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_owned(), from_apollo(v)))
                .collect(),
        ),
    }
}
