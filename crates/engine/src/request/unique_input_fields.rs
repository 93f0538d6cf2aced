//! Validation rule "Input Object Field Uniqueness" (GraphQL spec 5.6.3), part of `prepare`:
//! `{gt: "1", gt: "1000"}` names `gt` twice, and a request that does so is refused instead of
//! silently keeping one of the values. apollo-compiler does not check it, so this walks every
//! literal value of the document: field and directive arguments in operations and fragments,
//! and variable default values, through nested objects and lists.

use crate::error::{ErrorCode, GraphQLError, Location};
use apollo_compiler::ast::{Argument, Definition, Document, Selection, Value};
use apollo_compiler::parser::SourceMap;
use apollo_compiler::{Name, Node};
use std::collections::HashMap;

/// One error per repeated input field name (graphql-js's message), located at both names.
pub(super) fn check(document: &Document) -> Vec<GraphQLError> {
    let mut values: Vec<&Node<Value>> = Vec::new();
    for definition in &document.definitions {
        match definition {
            Definition::OperationDefinition(op) => {
                for var in &op.variables {
                    values.extend(var.default_value.as_ref());
                    directive_values(&var.directives, &mut values);
                }
                directive_values(&op.directives, &mut values);
                selection_values(&op.selection_set, &mut values);
            }
            Definition::FragmentDefinition(frag) => {
                directive_values(&frag.directives, &mut values);
                selection_values(&frag.selection_set, &mut values);
            }
            // Type-system definitions are refused by executable validation already.
            _ => {}
        }
    }
    let mut errors = Vec::new();
    // An explicit stack: values nest as deep as the parser allows.
    while let Some(value) = values.pop() {
        match &**value {
            Value::Object(fields) => {
                // A map, not a scan of the earlier fields: an object can be 100k fields wide.
                let mut first: HashMap<&str, &Name> = HashMap::with_capacity(fields.len());
                for (name, v) in fields {
                    match first.get(name.as_str()) {
                        Some(earlier) => errors.push(duplicate(earlier, name, &document.sources)),
                        None => {
                            first.insert(name.as_str(), name);
                        }
                    }
                    values.push(v);
                }
            }
            Value::List(items) => values.extend(items.iter()),
            _ => {}
        }
    }
    // The stack visits values out of text order; report them in it.
    errors.sort_by_key(|e| e.locations.first().map(|l| (l.line, l.column)));
    errors
}

fn duplicate(first: &Name, again: &Name, sources: &SourceMap) -> GraphQLError {
    let locations = [first, again]
        .iter()
        .filter_map(|n| n.location()?.line_column(sources))
        .map(|lc| Location {
            line: lc.line,
            column: lc.column,
        })
        .collect();
    GraphQLError::new(
        ErrorCode::GraphqlValidationFailed,
        format!("There can be only one input field named \"{again}\"."),
    )
    .located(locations)
}

fn directive_values<'a>(
    directives: &'a apollo_compiler::ast::DirectiveList,
    out: &mut Vec<&'a Node<Value>>,
) {
    for d in directives.iter() {
        argument_values(&d.arguments, out);
    }
}

fn argument_values<'a>(arguments: &'a [Node<Argument>], out: &mut Vec<&'a Node<Value>>) {
    out.extend(arguments.iter().map(|a| &a.value));
}

fn selection_values<'a>(set: &'a [Selection], out: &mut Vec<&'a Node<Value>>) {
    let mut sets = vec![set];
    while let Some(set) = sets.pop() {
        for selection in set {
            match selection {
                Selection::Field(f) => {
                    argument_values(&f.arguments, out);
                    directive_values(&f.directives, out);
                    sets.push(&f.selection_set);
                }
                Selection::FragmentSpread(s) => directive_values(&s.directives, out),
                Selection::InlineFragment(i) => {
                    directive_values(&i.directives, out);
                    sets.push(&i.selection_set);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(query: &str) -> Vec<(String, Vec<(usize, usize)>)> {
        let doc = Document::parse(query, "q.graphql").unwrap();
        check(&doc)
            .into_iter()
            .map(|e| {
                let locs = e.locations.iter().map(|l| (l.line, l.column)).collect();
                (e.message, locs)
            })
            .collect()
    }

    #[test]
    fn a_repeated_field_is_named_at_both_places() {
        assert_eq!(
            messages(r#"{ orders(where: {total: {gt: "1", gt: "1000"}}) { id } }"#),
            vec![(
                "There can be only one input field named \"gt\".".to_string(),
                vec![(1, 26), (1, 35)]
            )]
        );
    }

    #[test]
    fn distinct_fields_and_same_names_in_sibling_objects_pass() {
        assert!(
            messages(r#"{ a(w: {x: {gt: 1}, y: {gt: 2}}, v: [{gt: 1}, {gt: 2}]) }"#).is_empty()
        );
    }

    #[test]
    fn every_value_position_is_checked() {
        let query = r#"
query ($v: In = {a: 1, a: 2}) @d(x: {b: 1, b: 1}) {
  f(l: [[{c: 1, c: 2}]]) @include(if: true) { g(o: {n: {d: 1, d: 2}}) }
  ... on Q @d(x: {e: 1, e: 1}) { h }
  ...F @d(x: {f: 1, f: 1})
}
fragment F on Q @d(x: {g: 1, g: 1}) { i(x: {h: 1, h: 1}) }
"#;
        let names: Vec<String> = messages(query).into_iter().map(|(m, _)| m).collect();
        let expected: Vec<String> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|n| format!("There can be only one input field named \"{n}\"."))
            .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_wide_object_is_checked_in_linear_time() {
        let fields: Vec<String> = (0..100_000).map(|i| format!("f{i}: 1")).collect();
        let query = format!("{{ f(x: {{{}, f7: 2}}) }}", fields.join(", "));
        let found = messages(&query);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].0,
            "There can be only one input field named \"f7\"."
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 2_000;
        let query = format!("{{ f(x: {}1{}) }}", "[".repeat(depth), "]".repeat(depth));
        // The parser may refuse this itself (recursion limit); when it parses, the walk copes.
        if let Ok(doc) = Document::parse(query, "q.graphql") {
            assert!(check(&doc).is_empty());
        }
    }
}
