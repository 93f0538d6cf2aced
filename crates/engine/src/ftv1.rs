//! Apollo Federation inline traces: a subgraph request with
//! `apollo-federation-include-trace: ftv1` is answered with `extensions.ftv1`, Apollo's
//! protobuf `Trace` (reports.proto: the fields a gateway reads) in base64. The tree follows
//! the response: a node per selected field (response name, field name, its type and its
//! parent type), a node per list index, each error on the node at its path (at the root when
//! its path leads nowhere). FraiseQL reads a whole operation in one statement per database,
//! so every field's node spans the time its root field's statements took: the execution,
//! from planning to the assembled rows.

use crate::error::{GraphQLError, PathSegment};
use crate::request::Prepared;
use base64::Engine;
use prost::Message;
use serde_json::Value;
use std::time::Duration;

/// The request headers a gateway asks for a trace with — what Apollo's gateway and router
/// send, and the spelling of Apollo's compatibility notes (and of the issue) — and the value.
pub const HEADERS: [&str; 2] = [
    "apollo-federation-include-trace",
    "apollo-federated-include-trace",
];
pub const FTV1: &str = "ftv1";

#[derive(Clone, PartialEq, prost::Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Trace {
    #[prost(message, optional, tag = "3")]
    end_time: Option<Timestamp>,
    #[prost(message, optional, tag = "4")]
    start_time: Option<Timestamp>,
    #[prost(uint64, tag = "11")]
    duration_ns: u64,
    #[prost(message, optional, tag = "14")]
    root: Option<Node>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Node {
    #[prost(oneof = "Id", tags = "1, 2")]
    id: Option<Id>,
    #[prost(string, tag = "3")]
    r#type: String,
    #[prost(uint64, tag = "8")]
    start_time: u64,
    #[prost(uint64, tag = "9")]
    end_time: u64,
    #[prost(message, repeated, tag = "11")]
    error: Vec<TraceError>,
    #[prost(message, repeated, tag = "12")]
    child: Vec<Node>,
    #[prost(string, tag = "13")]
    parent_type: String,
    #[prost(string, tag = "14")]
    original_field_name: String,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Id {
    #[prost(string, tag = "1")]
    ResponseName(String),
    #[prost(uint32, tag = "2")]
    Index(u32),
}

#[derive(Clone, PartialEq, prost::Message)]
struct TraceError {
    #[prost(string, tag = "1")]
    message: String,
    #[prost(message, repeated, tag = "2")]
    location: Vec<Location>,
    #[prost(string, tag = "4")]
    json: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Location {
    #[prost(uint32, tag = "1")]
    line: u32,
    #[prost(uint32, tag = "2")]
    column: u32,
}

/// The `ftv1` value for an operation that started `started` after the Unix epoch, took
/// `elapsed`, and answered `data` (root response keys to values) with `errors`.
pub fn encode(
    prepared: &Prepared,
    data: &serde_json::Map<String, Value>,
    errors: &[GraphQLError],
    started: Duration,
    elapsed: Duration,
) -> String {
    let end = elapsed.as_nanos() as u64;
    let walk = Walk {
        doc: &prepared.document,
        end,
    };
    let operation = prepared.operation();
    let mut root = Node {
        child: walk.fields(&operation.selection_set, Some(data)),
        ..Node::default()
    };
    for e in errors {
        let node = at_path(&mut root, &e.path);
        node.error.push(TraceError {
            message: e.message.clone(),
            location: e
                .locations
                .iter()
                .map(|l| Location {
                    line: l.line as u32,
                    column: l.column as u32,
                })
                .collect(),
            json: serde_json::to_string(e).unwrap_or_default(),
        });
    }
    let timestamp = |d: Duration| Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    };
    let trace = Trace {
        start_time: Some(timestamp(started)),
        end_time: Some(timestamp(started + elapsed)),
        duration_ns: end,
        root: Some(root),
    };
    base64::engine::general_purpose::STANDARD.encode(trace.encode_to_vec())
}

struct Walk<'a> {
    doc: &'a apollo_compiler::executable::ExecutableDocument,
    end: u64,
}

impl<'a> Walk<'a> {
    /// A node per response key of `set` over `value` (an object of the set's type, or one
    /// of an abstract type naming itself by `__typename`).
    fn fields(
        &self,
        set: &'a apollo_compiler::executable::SelectionSet,
        value: Option<&serde_json::Map<String, Value>>,
    ) -> Vec<Node> {
        let typename = value
            .and_then(|v| v.get("__typename"))
            .and_then(Value::as_str);
        let mut seen = Vec::new();
        let mut out = Vec::new();
        self.collect(set, typename, &mut seen, &mut out, value);
        out
    }

    fn collect(
        &self,
        set: &'a apollo_compiler::executable::SelectionSet,
        typename: Option<&str>,
        seen: &mut Vec<&'a str>,
        out: &mut Vec<Node>,
        value: Option<&serde_json::Map<String, Value>>,
    ) {
        use apollo_compiler::executable::Selection;
        let applies = |condition: &str| {
            typename.is_none_or(|t| t == condition) || condition == set.ty.as_str()
        };
        for selection in &set.selections {
            match selection {
                Selection::Field(f) => {
                    let key = f.response_key().as_str();
                    if seen.contains(&key) || value.is_some_and(|v| !v.contains_key(key)) {
                        continue;
                    }
                    seen.push(key);
                    let mut node = Node {
                        id: Some(Id::ResponseName(key.to_owned())),
                        r#type: f.definition.ty.to_string(),
                        parent_type: set.ty.to_string(),
                        original_field_name: f.name.to_string(),
                        start_time: 0,
                        end_time: self.end,
                        ..Node::default()
                    };
                    node.child = self.value(&f.selection_set, value.and_then(|v| v.get(key)));
                    out.push(node);
                }
                Selection::InlineFragment(i) => {
                    let condition = i.type_condition.as_ref().map(|c| c.as_str());
                    if condition.is_none_or(applies) {
                        self.collect(&i.selection_set, typename, seen, out, value);
                    }
                }
                Selection::FragmentSpread(s) => {
                    if let Some(fragment) = self.doc.fragments.get(&s.fragment_name) {
                        if applies(fragment.type_condition().as_str()) {
                            self.collect(&fragment.selection_set, typename, seen, out, value);
                        }
                    }
                }
            }
        }
    }

    /// The nodes below a field whose value is `value`.
    fn value(
        &self,
        set: &'a apollo_compiler::executable::SelectionSet,
        value: Option<&Value>,
    ) -> Vec<Node> {
        match value {
            Some(Value::Object(map)) if !set.selections.is_empty() => self.fields(set, Some(map)),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Node {
                    id: Some(Id::Index(i as u32)),
                    child: self.value(set, Some(item)),
                    ..Node::default()
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The node at `path` below `root`, or the deepest one on the way that exists.
fn at_path<'n>(root: &'n mut Node, path: &[PathSegment]) -> &'n mut Node {
    let Some((first, rest)) = path.split_first() else {
        return root;
    };
    let found = root.child.iter().position(|c| match (&c.id, first) {
        (Some(Id::ResponseName(n)), PathSegment::Key(k)) => n == k,
        (Some(Id::Index(i)), PathSegment::Index(j)) => *i as usize == *j,
        _ => false,
    });
    match found {
        Some(i) => at_path(&mut root.child[i], rest),
        None => root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_follows_the_response_and_decodes_as_apollos_message() {
        let sdl = r#"
            type Product @source(view: "v_product") { id: ID! name: String! tags: [Tag!]! }
            type Tag { label: String! }
            type Query { products: [Product!]! }
        "#;
        let schema = crate::schema::load_schema(sdl, "schema.graphql").unwrap();
        let api =
            crate::request::ApiSchema::new(schema, Default::default(), Default::default(), true)
                .unwrap();
        let prepared =
            crate::request::prepare(&api, "{ products { id n: name tags { label } } }", None)
                .unwrap();
        let data = serde_json::json!({"products": [
            {"id": "p1", "n": "Anvil", "tags": [{"label": "heavy"}]},
        ]});
        let error = GraphQLError::new(crate::error::ErrorCode::DatabaseError, "boom").at(vec![
            PathSegment::Key("products".into()),
            PathSegment::Index(0),
        ]);
        let text = encode(
            &prepared,
            data.as_object().unwrap(),
            &[error],
            Duration::from_secs(1_700_000_000),
            Duration::from_millis(3),
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let trace = Trace::decode(bytes.as_slice()).unwrap();
        assert_eq!(trace.duration_ns, 3_000_000);
        assert_eq!(trace.start_time.unwrap().seconds, 1_700_000_000);
        let root = trace.root.unwrap();
        let products = &root.child[0];
        assert_eq!(products.id, Some(Id::ResponseName("products".into())));
        assert_eq!(
            (products.r#type.as_str(), products.parent_type.as_str()),
            ("[Product!]", "Query")
        );
        let first = &products.child[0];
        assert_eq!(first.id, Some(Id::Index(0)));
        assert_eq!(first.error.len(), 1, "the error is at its path");
        assert!(first.error[0].json.contains("\"DATABASE_ERROR\""));
        let names: Vec<(String, String)> = first
            .child
            .iter()
            .map(|c| match &c.id {
                Some(Id::ResponseName(n)) => (n.clone(), c.original_field_name.clone()),
                _ => panic!("a field node"),
            })
            .collect();
        assert_eq!(
            names,
            [
                ("id".to_owned(), "id".to_owned()),
                ("n".to_owned(), "name".to_owned()),
                ("tags".to_owned(), "tags".to_owned())
            ]
        );
        let label = &first.child[2].child[0].child[0];
        assert_eq!(
            (label.parent_type.as_str(), label.r#type.as_str()),
            ("Tag", "String!")
        );
    }

    #[test]
    fn errors_land_on_the_node_at_their_path_or_the_deepest_one_on_the_way() {
        let node = |name: &str, child: Vec<Node>| Node {
            id: Some(Id::ResponseName(name.into())),
            child,
            ..Node::default()
        };
        let mut root = Node {
            child: vec![node(
                "a",
                vec![Node {
                    id: Some(Id::Index(0)),
                    child: vec![node("b", vec![])],
                    ..Node::default()
                }],
            )],
            ..Node::default()
        };
        let key = |k: &str| PathSegment::Key(k.into());
        at_path(&mut root, &[key("a"), PathSegment::Index(0), key("b")])
            .error
            .push(TraceError::default());
        at_path(&mut root, &[key("a"), PathSegment::Index(7)])
            .error
            .push(TraceError::default());
        at_path(&mut root, &[key("nowhere")])
            .error
            .push(TraceError::default());
        assert_eq!(root.error.len(), 1);
        assert_eq!(root.child[0].error.len(), 1);
        assert_eq!(root.child[0].child[0].child[0].error.len(), 1);
    }
}
