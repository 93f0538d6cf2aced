//! Errors as clients see them: one [`ErrorCode`] enum serialised into `extensions.code`, and
//! the GraphQL error entry. Every stage maps its own failures into these; messages are safe
//! to show, details belong in the log.

use serde::Serialize;
use std::fmt;

/// Stable error codes (`extensions.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request body or query text could not be parsed.
    GraphqlParseFailed,
    /// The operation does not fit the schema, or breaks a depth/alias/field limit.
    GraphqlValidationFailed,
    /// A variable or argument value is wrong (type, page size, malformed cursor).
    BadUserInput,
    /// The request is not a valid GraphQL-over-HTTP request (no query, bad JSON, wrong method).
    BadRequest,
    /// The request body exceeds `max_request_size`.
    RequestTooLarge,
    /// The response would exceed `max_response_size`, so it was not sent.
    ResponseTooLarge,
    /// The server is in read-only mode, or a mutation was sent over GET.
    MutationNotAllowed,
    Unauthenticated,
    Forbidden,
    /// A mutation reported `failed:not_found`/`not_found`.
    NotFound,
    /// A unique violation or a `conflict:*` status.
    Conflict,
    /// A mutation reported a failure status not covered by another code.
    MutationFailed,
    /// The database could not be reached.
    DatabaseUnavailable,
    /// The database rejected the statement.
    DatabaseError,
    /// The operation took longer than its deadline.
    Timeout,
    /// The server is overloaded or shutting down.
    ServiceUnavailable,
    PersistedQueryNotFound,
    InternalServerError,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::BadRequest => "BAD_REQUEST",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            Self::MutationNotAllowed => "MUTATION_NOT_ALLOWED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::MutationFailed => "MUTATION_FAILED",
            Self::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Self::DatabaseError => "DATABASE_ERROR",
            Self::Timeout => "TIMEOUT",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A position in the query text (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One element of an error's response path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A GraphQL error entry: `{"message", "locations", "path", "extensions": {"code", ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphQLError {
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<PathSegment>,
    pub extensions: Extensions,
}

/// `extensions` of an error: the code plus optional context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extensions {
    pub code: ErrorCode,
    /// The database involved, for database failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Extra safe context (mutation status, SQL hint, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl GraphQLError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            locations: Vec::new(),
            path: Vec::new(),
            extensions: Extensions {
                code,
                database: None,
                extra: serde_json::Map::new(),
            },
        }
    }

    /// Sets the response path (a field error).
    pub fn at(mut self, path: Vec<PathSegment>) -> Self {
        self.path = path;
        self
    }

    /// Names the database involved.
    pub fn database(mut self, name: &str) -> Self {
        self.extensions.database = Some(name.to_string());
        self
    }

    /// Adds a safe extension entry.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.extra.insert(key.to_string(), value.into());
        self
    }

    /// Adds source locations.
    pub fn located(mut self, locations: Vec<Location>) -> Self {
        self.locations = locations;
        self
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.extensions.code
    }
}
