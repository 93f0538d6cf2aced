//! Prints the executable GraphQL schema (SDL) of a compiled schema: the authored types plus
//! everything generated for them — `<Type>WhereInput`, `<Type>OrderByInput`, scalar filters,
//! Relay connection types and the automatic list arguments. The server validates requests
//! against it and serves it through introspection; `fraiseql sdl` prints it.
//!
//! Root query and mutation fields are printed nullable whatever was declared: one database
//! failing must null only its own fields (a partial result), which GraphQL's null propagation
//! would otherwise turn into `data: null`.

use super::model::*;
use super::type_ref::TypeRef;
use crate::config::QueryDefaults;
use indexmap::IndexSet;
use std::fmt::Write;

/// Operators of each filter family, in the order they are printed.
pub(crate) const TEXT_OPS: &[&str] = &[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "isNull",
    "contains",
    "icontains",
    "startsWith",
    "endsWith",
    "like",
    "ilike",
];
const ORDERED_OPS: &[&str] = &["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "isNull"];
const EQUALITY_OPS: &[&str] = &["eq", "neq", "in", "nin", "isNull"];
const BOOL_OPS: &[&str] = &["eq", "neq", "isNull"];

/// The operators a filter on a value of `kind` offers.
fn operators(kind: ScalarKind) -> &'static [&'static str] {
    match kind {
        ScalarKind::Text => TEXT_OPS,
        ScalarKind::Id | ScalarKind::Uuid => EQUALITY_OPS,
        ScalarKind::Int
        | ScalarKind::Float
        | ScalarKind::Decimal
        | ScalarKind::DateTime
        | ScalarKind::Date => ORDERED_OPS,
        ScalarKind::Boolean | ScalarKind::Json => BOOL_OPS,
    }
}

/// The automatic arguments a list query gets, after `[query_defaults]`.
pub fn auto_params(q: &QueryField, defaults: &QueryDefaults) -> AutoParams {
    q.auto_params.unwrap_or(AutoParams {
        where_: defaults.where_,
        order_by: defaults.order_by,
        limit: defaults.limit,
        offset: defaults.offset,
    })
}

/// Prints the executable SDL.
pub fn executable_sdl(schema: &CompiledSchema, defaults: &QueryDefaults) -> String {
    executable_sdl_with(schema, defaults, &indexmap::IndexMap::new(), false)
}

/// The executable SDL with `@key(fields:)` on the types `keys` names and, for the
/// `subgraph` SDL, the composition directives.
pub(crate) fn executable_sdl_with(
    schema: &CompiledSchema,
    defaults: &QueryDefaults,
    keys: &indexmap::IndexMap<String, Vec<String>>,
    subgraph: bool,
) -> String {
    let mut p = Printer {
        out: String::new(),
        schema,
        keys,
        subgraph,
        filters: IndexSet::new(),
    };
    p.print(defaults);
    p.out
}

struct Printer<'a> {
    out: String,
    schema: &'a CompiledSchema,
    /// `@key(fields:)` per entity type name, for the subgraph SDL; empty otherwise.
    keys: &'a indexmap::IndexMap<String, Vec<String>>,
    /// The subgraph SDL: composition directives printed too.
    subgraph: bool,
    /// Filter input types needed (`StringFilter`, `OrderStatusFilter`, ...).
    filters: IndexSet<String>,
}

fn description(out: &mut String, indent: &str, d: &Option<String>) {
    if let Some(d) = d {
        // A JSON string literal is a valid GraphQL string literal.
        let _ = writeln!(out, "{indent}{}", serde_json::Value::String(d.clone()));
    }
}

fn deprecated(out: &mut String, d: &Option<String>) {
    if let Some(reason) = d {
        let _ = write!(
            out,
            " @deprecated(reason: {})",
            serde_json::Value::String(reason.clone())
        );
    }
}

impl Printer<'_> {
    fn print(&mut self, defaults: &QueryDefaults) {
        self.out
            .push_str("scalar UUID\nscalar DateTime\nscalar Date\nscalar Decimal\nscalar JSON\n\n");
        self.out.push_str("\"Sort direction, with the position of nulls.\"\nenum OrderDirection {\n  ASC\n  DESC\n  ASC_NULLS_FIRST\n  ASC_NULLS_LAST\n  DESC_NULLS_FIRST\n  DESC_NULLS_LAST\n}\n\n");
        for e in self.schema.enums.values() {
            description(&mut self.out, "", &e.description);
            let _ = writeln!(self.out, "enum {} {{", e.name);
            for v in &e.values {
                description(&mut self.out, "  ", &v.description);
                let _ = write!(self.out, "  {}", v.name);
                deprecated(&mut self.out, &v.deprecated);
                self.out.push('\n');
            }
            self.out.push_str("}\n\n");
        }
        for t in self.schema.types.values() {
            description(&mut self.out, "", &t.description);
            let _ = write!(self.out, "type {}", t.name);
            for key in self.keys.get(&t.name).into_iter().flatten() {
                let key = serde_json::Value::String(key.clone());
                let _ = write!(self.out, " @key(fields: {key})");
            }
            if self.subgraph {
                self.out.push_str(&t.federation.directives());
            }
            self.out.push_str(" {\n");
            for f in t.fields.values() {
                description(&mut self.out, "  ", &f.description);
                let args = relation_args(f, defaults);
                // A field read from another database is null when that database fails.
                let elsewhere = f.relation.is_some()
                    && self
                        .schema
                        .types
                        .get(&f.ty.name)
                        .is_some_and(|target| target.database != t.database);
                if elsewhere {
                    let _ = write!(self.out, "  {}{args}: {}", f.name, nullable(&f.ty));
                } else {
                    let _ = write!(self.out, "  {}{args}: {}", f.name, f.ty);
                }
                deprecated(&mut self.out, &f.deprecated);
                if self.subgraph {
                    self.out.push_str(&f.federation.directives());
                }
                self.out.push('\n');
            }
            self.out.push_str("}\n\n");
        }
        for t in self.schema.inputs.values() {
            description(&mut self.out, "", &t.description);
            let _ = writeln!(self.out, "input {} {{", t.name);
            for a in t.fields.values() {
                self.argument(a, "  ");
                self.out.push('\n');
            }
            self.out.push_str("}\n\n");
        }
        self.generated_inputs(defaults);
        self.roots(defaults);
        let filters: Vec<String> = self.filters.iter().cloned().collect();
        for f in filters {
            self.filter_input(&f);
        }
    }

    fn argument(&mut self, a: &Argument, indent: &str) {
        let text = argument_text(a, indent, self.schema);
        self.out.push_str(&text);
    }

    /// Where/orderBy inputs for every type listed by a query, and for the types embedded in
    /// those; connection types for relay queries.
    fn generated_inputs(&mut self, defaults: &QueryDefaults) {
        let mut filterable: IndexSet<String> = IndexSet::new();
        let mut connections: IndexSet<String> = IndexSet::new();
        for q in self.schema.queries.values() {
            if q.ty.list {
                let auto = auto_params(q, defaults);
                if auto.where_ || auto.order_by {
                    self.collect_embedded(&q.ty.name, &mut filterable);
                }
                if q.relay {
                    self.collect_embedded(&q.ty.name, &mut filterable);
                    connections.insert(q.ty.name.clone());
                }
            }
        }
        // Relation lists filter and sort their target like root lists do.
        if defaults.where_ || defaults.order_by {
            for t in self.schema.types.values() {
                for f in t.fields.values() {
                    if f.relation.is_some() && f.ty.list {
                        self.collect_embedded(&f.ty.name, &mut filterable);
                    }
                }
            }
        }
        for name in &filterable {
            let t = &self.schema.types[name];
            let _ = writeln!(self.out, "\"Filter on `{name}`; conditions at one level are combined with AND.\"\ninput {name}WhereInput {{");
            for f in t.fields.values() {
                if !f.in_data() || f.ty.list {
                    continue;
                }
                if self.schema.types.contains_key(&f.ty.name) {
                    let _ = writeln!(self.out, "  {}: {}WhereInput", f.name, f.ty.name);
                } else {
                    let filter = self.filter_name(&f.ty.name);
                    let _ = writeln!(self.out, "  {}: {filter}", f.name);
                    self.filters.insert(filter);
                }
            }
            let _ = writeln!(self.out, "  _and: [{name}WhereInput!]\n  _or: [{name}WhereInput!]\n  _not: {name}WhereInput\n}}\n");
            let _ = writeln!(self.out, "\"Sort key for `{name}`: set one field per list element.\"\ninput {name}OrderByInput {{");
            for f in t.fields.values() {
                if !f.in_data() || f.ty.list {
                    continue;
                }
                if self.schema.types.contains_key(&f.ty.name) {
                    let _ = writeln!(self.out, "  {}: {}OrderByInput", f.name, f.ty.name);
                } else if f.ty.name != "JSON" {
                    let _ = writeln!(self.out, "  {}: OrderDirection", f.name);
                }
            }
            self.out.push_str("}\n\n");
        }
        if !connections.is_empty() {
            self.out.push_str("\"Relay pagination state.\"\ntype PageInfo {\n  hasNextPage: Boolean!\n  hasPreviousPage: Boolean!\n  startCursor: String\n  endCursor: String\n}\n\n");
        }
        for name in &connections {
            let _ = writeln!(self.out, "type {name}Connection {{\n  edges: [{name}Edge!]!\n  pageInfo: PageInfo!\n  totalCount: Int!\n}}\n\ntype {name}Edge {{\n  cursor: String!\n  node: {name}!\n}}\n");
        }
    }

    fn collect_embedded(&self, name: &str, into: &mut IndexSet<String>) {
        if !into.insert(name.to_string()) {
            return;
        }
        if let Some(t) = self.schema.types.get(name) {
            for f in t.fields.values() {
                if f.relation.is_none() && !f.ty.list && self.schema.types.contains_key(&f.ty.name)
                {
                    self.collect_embedded(&f.ty.name, into);
                }
            }
        }
    }

    fn filter_name(&self, type_name: &str) -> String {
        format!("{type_name}Filter")
    }

    fn filter_input(&mut self, filter: &str) {
        let type_name = filter.trim_end_matches("Filter");
        let ops = match ScalarKind::of(type_name) {
            Some(kind) => operators(kind),
            None => EQUALITY_OPS, // enums
        };
        let _ = writeln!(self.out, "input {filter} {{");
        for op in ops {
            let ty = match *op {
                "in" | "nin" => format!("[{type_name}!]"),
                "isNull" => "Boolean".into(),
                "contains" | "icontains" | "startsWith" | "endsWith" | "like" | "ilike" => {
                    "String".into()
                }
                _ => type_name.to_string(),
            };
            let _ = writeln!(self.out, "  {op}: {ty}");
        }
        self.out.push_str("}\n\n");
    }

    fn roots(&mut self, defaults: &QueryDefaults) {
        self.out.push_str("type Query {\n");
        for q in self.schema.queries.values() {
            description(&mut self.out, "  ", &q.description);
            let mut args: Vec<String> = q
                .arguments
                .iter()
                .map(|a| argument_text(a, "", self.schema))
                .collect();
            let declared = |n: &str| q.arguments.iter().any(|a| a.name == n);
            let t = &q.ty.name;
            if q.ty.list {
                let auto = auto_params(q, defaults);
                if auto.where_ || q.relay {
                    args.push(format!("where: {t}WhereInput"));
                }
                if auto.order_by || q.relay {
                    args.push(format!("orderBy: [{t}OrderByInput!]"));
                }
                if q.relay {
                    args.extend(
                        ["first: Int", "after: String", "last: Int", "before: String"]
                            .map(String::from),
                    );
                } else {
                    if auto.limit && !declared("limit") {
                        args.push("limit: Int".into());
                    }
                    if auto.offset && !declared("offset") {
                        args.push("offset: Int".into());
                    }
                }
            }
            let ty = if q.relay {
                format!("{t}Connection")
            } else {
                nullable(&q.ty)
            };
            let args = if args.is_empty() {
                String::new()
            } else {
                format!("({})", args.join(", "))
            };
            let _ = write!(self.out, "  {}{args}: {ty}", q.name);
            deprecated(&mut self.out, &q.deprecated);
            self.out.push('\n');
        }
        self.out.push_str("}\n");
        if !self.schema.mutations.is_empty() {
            self.out.push_str("\ntype Mutation {\n");
            for m in self.schema.mutations.values() {
                description(&mut self.out, "  ", &m.description);
                let args = self.arg_list(&m.arguments);
                let _ = write!(self.out, "  {}{args}: {}", m.name, nullable(&m.ty));
                deprecated(&mut self.out, &m.deprecated);
                self.out.push('\n');
            }
            self.out.push_str("}\n");
        }
        if !self.schema.subscriptions.is_empty() {
            self.out.push_str("\ntype Subscription {\n");
            for s in self.schema.subscriptions.values() {
                description(&mut self.out, "  ", &s.description);
                let args = self.arg_list(&s.arguments);
                let _ = writeln!(self.out, "  {}{args}: {}", s.name, s.ty);
            }
            self.out.push_str("}\n");
        }
        self.out.push('\n');
    }

    fn arg_list(&self, arguments: &[Argument]) -> String {
        if arguments.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = arguments
            .iter()
            .map(|a| argument_text(a, "", self.schema))
            .collect();
        format!("({})", parts.join(", "))
    }
}

/// The arguments of a relation list field (`orders(where:, orderBy:, limit:, offset:)`),
/// switched by `[query_defaults]` like a root list's; empty for any other field.
fn relation_args(f: &Field, defaults: &QueryDefaults) -> String {
    if f.relation.is_none() || !f.ty.list {
        return String::new();
    }
    let t = &f.ty.name;
    let mut args = Vec::new();
    if defaults.where_ {
        args.push(format!("where: {t}WhereInput"));
    }
    if defaults.order_by {
        args.push(format!("orderBy: [{t}OrderByInput!]"));
    }
    if defaults.limit {
        args.push("limit: Int".to_string());
    }
    if defaults.offset {
        args.push("offset: Int".to_string());
    }
    if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.join(", "))
    }
}

/// One argument or input field: description, name, type, default, deprecation.
fn argument_text(a: &Argument, indent: &str, schema: &CompiledSchema) -> String {
    let mut out = String::new();
    description(&mut out, indent, &a.description);
    let _ = write!(out, "{indent}{}: {}", a.name, a.ty);
    if let Some(d) = &a.default {
        let _ = write!(out, " = {}", graphql_value(d, &a.ty, schema));
    }
    deprecated(&mut out, &a.deprecated);
    out
}

/// Root fields are printed nullable (see the module doc).
fn nullable(t: &TypeRef) -> String {
    TypeRef {
        non_null: false,
        ..t.clone()
    }
    .to_string()
}

/// A JSON default value as a GraphQL literal of type `ty` (enum values unquoted).
fn graphql_value(v: &serde_json::Value, ty: &TypeRef, schema: &CompiledSchema) -> String {
    use serde_json::Value as J;
    let is_enum = schema.enums.contains_key(&ty.name);
    match v {
        J::String(s) if is_enum => s.clone(),
        J::Array(items) => {
            let item_ty = TypeRef {
                list: false,
                ..ty.clone()
            };
            let parts: Vec<String> = items
                .iter()
                .map(|i| graphql_value(i, &item_ty, schema))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        J::Object(map) => {
            let input = schema.inputs.get(&ty.name);
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let fty = input
                        .and_then(|i| i.fields.values().find(|f| &f.key == k || &f.name == k))
                        .map(|f| (f.name.clone(), f.ty.clone()));
                    match fty {
                        Some((name, fty)) => format!("{name}: {}", graphql_value(v, &fty, schema)),
                        None => format!(
                            "{k}: {}",
                            graphql_value(v, &TypeRef::named("JSON", false), schema)
                        ),
                    }
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}
