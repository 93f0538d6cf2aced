//! Response assembly, the last stop of the request path: the JSON text each statement
//! returned is spliced into `{"data":{…},"errors":[…]}` as is — never parsed into a value
//! tree — with keys in selection order.

use crate::error::GraphQLError;
use std::io::Write;

/// The value of one root field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RootValue<'a> {
    /// Ready JSON text (from the database, or serialised here).
    Raw(&'a str),
    Null,
}

/// Writes a response with `data` (root keys in order) and optional `errors`.
pub fn assemble(
    out: &mut Vec<u8>,
    roots: &[(&str, RootValue<'_>)],
    errors: &[GraphQLError],
    extensions: Option<&str>,
) {
    out.extend_from_slice(b"{\"data\":{");
    for (i, (key, value)) in roots.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        match value {
            RootValue::Raw(text) => out.extend_from_slice(text.as_bytes()),
            RootValue::Null => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    if !errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        write_errors(out, errors);
    }
    // A JSON object's text (`{"ftv1": "…"}`), written as it is.
    if let Some(extensions) = extensions {
        out.extend_from_slice(b",\"extensions\":");
        out.extend_from_slice(extensions.as_bytes());
    }
    out.push(b'}');
}

/// Writes a request-error response: `errors` only, no `data` key.
pub fn request_error(out: &mut Vec<u8>, errors: &[GraphQLError]) {
    out.extend_from_slice(b"{\"errors\":");
    write_errors(out, errors);
    out.push(b'}');
}

fn write_errors(out: &mut Vec<u8>, errors: &[GraphQLError]) {
    // Serialising a plain struct into a Vec cannot fail; fall back to a fixed text anyway.
    if serde_json::to_writer(&mut *out, errors).is_err() {
        let _ = out.write_all(b"[{\"message\":\"internal error\"}]");
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, PathSegment};

    #[test]
    fn splices_text_in_order() {
        let mut out = Vec::new();
        let err = GraphQLError::new(
            ErrorCode::DatabaseUnavailable,
            "Database 'analytics' unavailable",
        )
        .at(vec![PathSegment::Key("stats".into())])
        .database("analytics");
        assemble(
            &mut out,
            &[
                ("b", RootValue::Raw("[1,2]")),
                ("a", RootValue::Null),
                ("stats", RootValue::Null),
            ],
            &[err],
            None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"data":{"b":[1,2],"a":null,"stats":null},"errors":[{"message":"Database 'analytics' unavailable","path":["stats"],"extensions":{"code":"DATABASE_UNAVAILABLE","database":"analytics"}}]}"#
        );
    }
}
