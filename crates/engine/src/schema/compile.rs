//! `compile`: authored input -> [`CompiledSchema`]. Resolves defaults (view names, databases,
//! key fields, camelCase names) and checks every reference, collecting all errors at once,
//! each with the path of the offending item (`types.Order.fields.total`).

use super::input::*;
use super::model::*;
use super::naming::{camel_case, is_graphql_name, is_sql_identifier, snake_case};
use super::type_ref::TypeRef;
use indexmap::IndexMap;
use std::fmt;

/// The database a type or root field uses when none is named.
pub const DEFAULT_DATABASE: &str = "primary";

/// One compile problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Dotted path: `queries.orders.arguments.limit`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems found in one schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CompileErrors(pub Vec<CompileError>);

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "schema compilation failed with {} error(s):",
            self.0.len()
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Compiles an authored schema.
pub fn compile(input: &SchemaInput) -> Result<CompiledSchema, CompileErrors> {
    let mut c = Compiler { errors: Vec::new() };
    let schema = c.run(input);
    // Federation keys (`@key` field sets) name fields of the types, nested ones too; so do
    // `@provides` field sets, of the type their field returns.
    for (i, t) in schema.types.values().enumerate() {
        for key in &t.keys {
            if let Err(why) = super::federation::key_parts(&schema, t, key) {
                c.err(
                    format!("types[{i}].keys"),
                    format!("type `{}`: {why}", t.name),
                );
            }
        }
        if t.federation.provides.is_some()
            || t.federation.override_from.is_some()
            || t.federation.requires.is_some()
        {
            c.err(
                format!("types[{i}].federation"),
                format!(
                    "type `{}`: `@provides`, `@requires` and `@override` go on fields",
                    t.name
                ),
            );
        }
        for f in t.fields.values() {
            let at = format!("types[{i}].fields.{}.federation", f.key);
            let field = format!("`{}.{}`", t.name, f.name);
            if f.federation.extends || f.federation.interface_object {
                c.err(
                    at.clone(),
                    format!("{field}: `@extends` and `@interfaceObject` go on types"),
                );
            }
            let from = f.federation.override_from.as_deref();
            if from.is_some_and(|s| s.trim().is_empty()) {
                c.err(
                    at.clone(),
                    format!("{field}: `@override(from:)` names no subgraph"),
                );
            }
            if f.computed.is_some() || f.federation.requires.is_some() {
                let checked = if f.computed.is_none() {
                    Err(
                        "`@requires` needs `@computed(sql:)`: the SQL expression that \
                         computes the field from the required fields"
                            .to_owned(),
                    )
                } else if f.relation.is_some() || f.ty.list || schema.types.contains_key(&f.ty.name)
                {
                    Err(
                        "a computed field is a scalar or an enum, not a list, an object or a \
                         relation"
                            .to_owned(),
                    )
                } else {
                    super::computed::computed_parts(&schema, t, f).map(drop)
                };
                if let Err(why) = checked {
                    c.err(at.clone(), format!("{field}: {why}"));
                }
            }
            if let Some(fields) = &f.federation.provides {
                let checked = match schema.types.get(&f.ty.name) {
                    Some(target) => super::federation::key_parts(&schema, target, fields).map(drop),
                    None => Err(format!("it returns `{}`, no object type", f.ty.name)),
                };
                if let Err(why) = checked {
                    c.err(
                        at,
                        format!("{field} @provides(fields: \"{fields}\"): {why}"),
                    );
                }
            }
        }
    }
    if c.errors.is_empty() {
        Ok(schema)
    } else {
        Err(CompileErrors(c.errors))
    }
}

struct Compiler {
    errors: Vec<CompileError>,
}

/// What kind of named type a reference points to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Enum,
    Object,
    Input,
}

impl Compiler {
    /// `requires_role` / `requires_scope` as an [`Access`]; an empty or spaced name is an
    /// error (it could never match a token's roles or scopes).
    fn access(&mut self, path: &str, role: &Option<String>, scope: &Option<String>) -> Access {
        let mut name = |key: &str, v: &Option<String>| {
            let v = v.as_ref()?;
            if v.is_empty() || v.chars().any(char::is_whitespace) {
                self.err(
                    format!("{path}.{key}"),
                    format!("`{v}` is not a {}: one word, no spaces", &key[9..]),
                );
                return None;
            }
            Some(v.clone())
        };
        Access {
            role: name("requires_role", role),
            scope: name("requires_scope", scope),
        }
    }

    /// `inject` (`{"owner_id": "jwt:sub"}`) as key -> claim. A key is a snake_case name (a
    /// data key, view column or function parameter) that no argument has: the client can
    /// never supply it. A value names a claim of the verified token (`jwt:<claim>`), the one
    /// source the server can trust.
    fn inject(
        &mut self,
        path: &str,
        given: Option<&IndexMap<String, String>>,
        taken: &[&str],
    ) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (key, source) in given.into_iter().flatten() {
            let at = format!("{path}.inject.{key}");
            let snake = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !snake {
                self.err(at, format!("`{key}` is not a snake_case key"));
                continue;
            }
            if taken.contains(&key.as_str()) {
                self.err(
                    at,
                    format!("`{key}` is injected from the token, so it cannot also be an argument"),
                );
                continue;
            }
            let claim = source.strip_prefix("jwt:").unwrap_or_default();
            if claim.is_empty() || claim.len() > 256 || claim.chars().any(char::is_whitespace) {
                self.err(
                    at,
                    format!(
                        "`{source}` is not a token claim: write `jwt:<claim>` (the verified token \
                         is the only source the server trusts)"
                    ),
                );
                continue;
            }
            out.insert(key.clone(), claim.to_owned());
        }
        out
    }

    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(CompileError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn run(&mut self, input: &SchemaInput) -> CompiledSchema {
        if input.version != 1 {
            self.err(
                "version",
                format!("unsupported schema version {}", input.version),
            );
        }
        let kinds = self.collect_names(input);
        let mut out = CompiledSchema::default();
        for e in &input.enums {
            if let Some(t) = self.enum_type(e) {
                out.enums.insert(t.name.clone(), t);
            }
        }
        for t in &input.types {
            if let Some(t) = self.object_type(t, &kinds) {
                out.types.insert(t.name.clone(), t);
            }
        }
        for t in &input.input_types {
            let path = format!("input_types.{}", t.name);
            let fields = self.arguments(&t.fields, &path, "fields", &kinds);
            out.inputs.insert(
                t.name.clone(),
                InputType {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    fields,
                },
            );
        }
        self.check_relations(&out);
        for q in &input.queries {
            if let Some(f) = self.query(q, &out, &kinds) {
                if out.queries.contains_key(&f.name) {
                    self.err(format!("queries.{}", q.name), "duplicate query name");
                }
                out.queries.insert(f.name.clone(), f);
            }
        }
        for m in &input.mutations {
            if let Some(f) = self.mutation(m, &out, &kinds) {
                if out.mutations.contains_key(&f.name) {
                    self.err(format!("mutations.{}", m.name), "duplicate mutation name");
                }
                out.mutations.insert(f.name.clone(), f);
            }
        }
        for s in &input.subscriptions {
            if let Some(f) = self.subscription(s, &out, &kinds) {
                if out.subscriptions.contains_key(&f.name) {
                    self.err(
                        format!("subscriptions.{}", s.name),
                        "duplicate subscription name",
                    );
                }
                out.subscriptions.insert(f.name.clone(), f);
            }
        }
        if input.queries.is_empty() {
            self.err("queries", "a schema needs at least one query");
        }
        for (path, message) in super::federation::check_links(&input.federation, &out) {
            self.err(path, message);
        }
        out.federation = input.federation.clone();
        out
    }

    /// Registers every named type, reporting invalid and duplicate names.
    fn collect_names(&mut self, input: &SchemaInput) -> IndexMap<String, Kind> {
        let mut kinds: IndexMap<String, Kind> = SCALARS
            .iter()
            .map(|s| (s.to_string(), Kind::Scalar))
            .collect();
        let named = input
            .types
            .iter()
            .map(|t| ("types", &t.name, Kind::Object))
            .chain(
                input
                    .input_types
                    .iter()
                    .map(|t| ("input_types", &t.name, Kind::Input)),
            )
            .chain(input.enums.iter().map(|t| ("enums", &t.name, Kind::Enum)));
        for (section, name, kind) in named {
            let path = format!("{section}.{name}");
            if !is_graphql_name(name) {
                self.err(path, format!("`{name}` is not a valid GraphQL name"));
            } else if name.starts_with("__") {
                self.err(path, "names starting with `__` are reserved");
            } else if kinds.contains_key(name.as_str()) {
                self.err(path, format!("duplicate type name `{name}`"));
            } else if [
                "Query",
                "Mutation",
                "Subscription",
                "PageInfo",
                "OrderDirection",
            ]
            .contains(&name.as_str())
            {
                self.err(path, format!("`{name}` is a reserved type name"));
            } else {
                kinds.insert(name.clone(), kind);
            }
        }
        kinds
    }

    fn type_ref(
        &mut self,
        raw: &str,
        path: &str,
        kinds: &IndexMap<String, Kind>,
        allowed: &[Kind],
        role: &str,
    ) -> Option<TypeRef> {
        let t = match TypeRef::parse(raw) {
            Ok(t) => t,
            Err(e) => {
                self.err(path, e);
                return None;
            }
        };
        match kinds.get(&t.name) {
            None => self.err(path, format!("unknown type `{}`", t.name)),
            Some(k) if !allowed.contains(k) => {
                self.err(path, format!("type `{}` cannot be used as {role}", t.name))
            }
            Some(_) => return Some(t),
        }
        None
    }

    fn enum_type(&mut self, e: &EnumInput) -> Option<EnumType> {
        let path = format!("enums.{}", e.name);
        if e.values.is_empty() {
            self.err(&path, "an enum needs at least one value");
        }
        let mut values = Vec::new();
        for v in &e.values {
            let vpath = format!("{path}.values.{}", v.name);
            if !is_graphql_name(&v.name) || ["true", "false", "null"].contains(&v.name.as_str()) {
                self.err(
                    &vpath,
                    format!("`{}` is not a valid enum value name", v.name),
                );
            }
            if values.iter().any(|x: &EnumValue| x.name == v.name) {
                self.err(&vpath, "duplicate enum value");
            }
            values.push(EnumValue {
                name: v.name.clone(),
                stored: v.value.clone().unwrap_or_else(|| v.name.clone()),
                description: v.description.clone(),
                deprecated: v.deprecated.clone(),
            });
        }
        Some(EnumType {
            name: e.name.clone(),
            description: e.description.clone(),
            values,
        })
    }

    fn object_type(
        &mut self,
        t: &ObjectTypeInput,
        kinds: &IndexMap<String, Kind>,
    ) -> Option<ObjectType> {
        let path = format!("types.{}", t.name);
        let sql_source = t
            .sql_source
            .clone()
            .unwrap_or_else(|| format!("v_{}", snake_case(&t.name)));
        if !is_sql_identifier(&sql_source) {
            self.err(
                format!("{path}.sql_source"),
                format!("`{sql_source}` is not a valid view name"),
            );
        }
        let database = self.database_name(t.database.as_deref(), &path);
        if t.fields.is_empty() {
            self.err(format!("{path}.fields"), "a type needs at least one field");
        }
        let mut fields = IndexMap::new();
        for f in &t.fields {
            let fpath = format!("{path}.fields.{}", f.name);
            if !is_graphql_name(&f.name) || f.name.starts_with("__") {
                self.err(&fpath, format!("`{}` is not a valid field name", f.name));
                continue;
            }
            let name = f
                .graphql_name
                .clone()
                .unwrap_or_else(|| camel_case(&f.name));
            if !is_graphql_name(&name) {
                self.err(&fpath, format!("`{name}` is not a valid GraphQL name"));
                continue;
            }
            let allowed = [Kind::Scalar, Kind::Enum, Kind::Object];
            let Some(ty) = self.type_ref(&f.type_ref, &fpath, kinds, &allowed, "an output field")
            else {
                continue;
            };
            let relation = match &f.relation {
                None => None,
                Some(r) => {
                    let remote_key = r.remote_key.clone().unwrap_or_else(|| "id".into());
                    if kinds.get(&ty.name) != Some(&Kind::Object) {
                        self.err(&fpath, "a relation field must have an object type");
                    }
                    for k in [&r.local_key, &remote_key] {
                        if !is_graphql_name(k) {
                            self.err(
                                format!("{fpath}.relation"),
                                format!("`{k}` is not a valid key"),
                            );
                        }
                    }
                    Some(Relation {
                        local_key: r.local_key.clone(),
                        remote_key,
                    })
                }
            };
            if fields.contains_key(&name) {
                self.err(&fpath, format!("duplicate field `{name}`"));
                continue;
            }
            fields.insert(
                name.clone(),
                Field {
                    name,
                    key: f.name.clone(),
                    ty,
                    description: f.description.clone(),
                    deprecated: f.deprecated.clone(),
                    relation,
                    access: self.access(&fpath, &f.requires_role, &f.requires_scope),
                    federation: f.federation.clone(),
                    computed: f.computed.clone(),
                },
            );
        }
        // Embedded types (nested JSON) need no key: default to `id` only when there is one.
        let has_id = fields.values().any(|f: &Field| f.key == "id");
        let key_fields = match &t.key_fields {
            Some(k) => k.clone(),
            None if has_id => vec!["id".into()],
            None => Vec::new(),
        };
        for k in &key_fields {
            match fields
                .values()
                .find(|f: &&Field| &f.key == k || &f.name == k)
            {
                None => self.err(
                    format!("{path}.key_fields"),
                    format!("key field `{k}` is not a field of `{}`", t.name),
                ),
                Some(f) if !f.in_data() => self.err(
                    format!("{path}.key_fields"),
                    format!(
                        "key field `{k}` of `{}` is a relation or computed, not read from its \
                         data",
                        t.name
                    ),
                ),
                Some(_) => {}
            }
        }
        let key_fields = key_fields
            .iter()
            .map(|k| {
                fields
                    .values()
                    .find(|f| &f.name == k)
                    .map_or(k.clone(), |f| f.key.clone())
            })
            .collect();
        Some(ObjectType {
            access: self.access(&path, &t.requires_role, &t.requires_scope),
            name: t.name.clone(),
            description: t.description.clone(),
            sql_source,
            database,
            key_fields,
            keys: t.keys.clone(),
            federation: t.federation.clone(),
            fields,
        })
    }

    /// Relation targets must be types with their own view; embedded objects need nothing.
    /// Across databases the keys are compared after leaving their databases, so their
    /// declared types must compare alike: `ID`, `UUID` and `String` as text, numbers as
    /// numbers (within one database the statement compares them itself).
    fn check_relations(&mut self, schema: &CompiledSchema) {
        for t in schema.types.values() {
            for f in t.fields.values() {
                let Some(rel) = &f.relation else {
                    continue;
                };
                let path = format!("types.{}.fields.{}", t.name, f.key);
                let Some(target) = schema.types.get(&f.ty.name) else {
                    self.err(
                        path,
                        format!("relation target `{}` is not an object type", f.ty.name),
                    );
                    continue;
                };
                if target.database == t.database {
                    continue;
                }
                let key_type = |ty: &ObjectType, key: &str| {
                    ty.fields
                        .values()
                        .find(|f| f.key == key && f.relation.is_none())
                        .map(|f| f.ty.name.clone())
                };
                let local = key_type(t, &rel.local_key);
                let remote = key_type(target, &rel.remote_key);
                if let (Some(local), Some(remote)) = (local, remote) {
                    if key_class(&local) != key_class(&remote) {
                        self.err(
                            format!("{path}.relation"),
                            format!(
                                "`{}.{}` ({local}, database '{}') cannot match `{}.{}` \
                                 ({remote}, database '{}'): keys across databases must both \
                                 be text (ID, UUID, String) or both numbers",
                                t.name,
                                rel.local_key,
                                t.database,
                                target.name,
                                rel.remote_key,
                                target.database
                            ),
                        );
                    }
                }
            }
        }
    }

    fn database_name(&mut self, name: Option<&str>, path: &str) -> String {
        let db = name.unwrap_or(DEFAULT_DATABASE).to_string();
        if !is_graphql_name(&db) {
            self.err(
                format!("{path}.database"),
                format!("`{db}` is not a valid database name"),
            );
        }
        db
    }

    fn arguments(
        &mut self,
        args: &[ArgumentInput],
        path: &str,
        section: &str,
        kinds: &IndexMap<String, Kind>,
    ) -> IndexMap<String, Argument> {
        let mut out = IndexMap::new();
        for a in args {
            let apath = format!("{path}.{section}.{}", a.name);
            if !is_graphql_name(&a.name) || a.name.starts_with("__") {
                self.err(&apath, format!("`{}` is not a valid argument name", a.name));
                continue;
            }
            let allowed = [Kind::Scalar, Kind::Enum, Kind::Input];
            let Some(ty) = self.type_ref(&a.type_ref, &apath, kinds, &allowed, "an input") else {
                continue;
            };
            let name = camel_case(&a.name);
            if out.contains_key(&name) {
                self.err(&apath, format!("duplicate argument `{name}`"));
                continue;
            }
            out.insert(
                name.clone(),
                Argument {
                    name,
                    key: a.name.clone(),
                    ty,
                    default: a.default.clone(),
                    description: a.description.clone(),
                    deprecated: a.deprecated.clone(),
                },
            );
        }
        out
    }

    /// Checks a root field's name and return type; returns the type and its object type.
    fn root<'s>(
        &mut self,
        path: &str,
        name: &str,
        return_type: &str,
        schema: &'s CompiledSchema,
        kinds: &IndexMap<String, Kind>,
    ) -> Option<(String, TypeRef, &'s ObjectType)> {
        if !is_graphql_name(name) || name.starts_with("__") {
            self.err(path, format!("`{name}` is not a valid name"));
            return None;
        }
        let rpath = format!("{path}.return_type");
        let ty = self.type_ref(return_type, &rpath, kinds, &[Kind::Object], "a return type")?;
        let obj = schema.types.get(&ty.name)?;
        Some((camel_case(name), ty, obj))
    }

    fn query(
        &mut self,
        q: &QueryInput,
        schema: &CompiledSchema,
        kinds: &IndexMap<String, Kind>,
    ) -> Option<QueryField> {
        let path = format!("queries.{}", q.name);
        let (name, ty, obj) = self.root(&path, &q.name, &q.return_type, schema, kinds)?;
        let sql_source = q
            .sql_source
            .clone()
            .unwrap_or_else(|| obj.sql_source.clone());
        if !is_sql_identifier(&sql_source) {
            self.err(
                format!("{path}.sql_source"),
                format!("`{sql_source}` is not a valid view name"),
            );
        }
        let database = match &q.database {
            Some(_) => self.database_name(q.database.as_deref(), &path),
            None => obj.database.clone(),
        };
        let relay = q.relay.unwrap_or(false);
        if relay && !ty.list {
            self.err(&path, "a relay query must return a list");
        }
        let arguments: Vec<Argument> = self
            .arguments(&q.arguments, &path, "arguments", kinds)
            .into_values()
            .collect();
        let auto_params = q.auto_params.as_ref().map(|a| match a {
            AutoParamsInput::All(b) => AutoParams {
                where_: *b,
                order_by: *b,
                limit: *b,
                offset: *b,
            },
            AutoParamsInput::Some(d) => AutoParams {
                where_: d.where_.unwrap_or(true),
                order_by: d.order_by.unwrap_or(true),
                limit: d.limit.unwrap_or(true),
                offset: d.offset.unwrap_or(true),
            },
        });
        for a in &arguments {
            let reserved = if relay {
                ["where", "orderBy", "first", "after", "last", "before"].as_slice()
            } else {
                ["where", "orderBy"].as_slice()
            };
            if reserved.contains(&a.name.as_str()) && ty.list {
                self.err(
                    format!("{path}.arguments.{}", a.key),
                    format!("`{}` is generated automatically for list queries", a.name),
                );
            }
        }
        Some(QueryField {
            inject: self.inject(
                &path,
                q.inject.as_ref(),
                &arguments.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(),
            ),
            access: self.access(&path, &q.requires_role, &q.requires_scope),
            name,
            ty,
            description: q.description.clone(),
            deprecated: q.deprecated.clone(),
            sql_source,
            database,
            arguments,
            relay,
            auto_params,
            cache_ttl_seconds: q.cache_ttl_seconds.unwrap_or(0),
        })
    }

    fn mutation(
        &mut self,
        m: &MutationInput,
        schema: &CompiledSchema,
        kinds: &IndexMap<String, Kind>,
    ) -> Option<MutationField> {
        let path = format!("mutations.{}", m.name);
        let (name, ty, obj) = self.root(&path, &m.name, &m.return_type, schema, kinds)?;
        if !is_sql_identifier(&m.sql_source) {
            self.err(
                format!("{path}.sql_source"),
                format!("`{}` is not a valid function name", m.sql_source),
            );
        }
        let database = match &m.database {
            Some(_) => self.database_name(m.database.as_deref(), &path),
            None => obj.database.clone(),
        };
        let operation = match m
            .operation
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("CUSTOM") => MutationOperation::Custom,
            Some("CREATE") | Some("INSERT") => MutationOperation::Create,
            Some("UPDATE") => MutationOperation::Update,
            Some("DELETE") => MutationOperation::Delete,
            Some(other) => {
                self.err(
                    format!("{path}.operation"),
                    format!(
                        "unknown operation `{other}`: expected CREATE, UPDATE, DELETE or CUSTOM"
                    ),
                );
                MutationOperation::Custom
            }
        };
        let arguments: Vec<Argument> = self
            .arguments(&m.arguments, &path, "arguments", kinds)
            .into_values()
            .collect();
        Some(MutationField {
            inject: {
                // A lone input argument binds its fields to the function's parameters.
                let mut taken: Vec<&str> = arguments.iter().map(|a| a.key.as_str()).collect();
                if let [only] = arguments.as_slice() {
                    if let Some(input) = schema.inputs.get(&only.ty.name) {
                        taken.extend(input.fields.values().map(|f| f.key.as_str()));
                    }
                }
                self.inject(&path, m.inject.as_ref(), &taken)
            },
            access: self.access(&path, &m.requires_role, &m.requires_scope),
            name,
            ty,
            description: m.description.clone(),
            deprecated: m.deprecated.clone(),
            function: m.sql_source.clone(),
            database,
            operation,
            arguments,
        })
    }

    fn subscription(
        &mut self,
        s: &SubscriptionInput,
        schema: &CompiledSchema,
        kinds: &IndexMap<String, Kind>,
    ) -> Option<SubscriptionField> {
        let path = format!("subscriptions.{}", s.name);
        let (name, ty, obj) = self.root(&path, &s.name, &s.return_type, schema, kinds)?;
        let entity_type = s.entity_type.clone().unwrap_or_else(|| obj.name.clone());
        if !schema.types.contains_key(&entity_type) {
            self.err(
                format!("{path}.entity_type"),
                format!("unknown type `{entity_type}`"),
            );
        } else if entity_type != obj.name {
            self.err(
                format!("{path}.entity_type"),
                format!(
                    "the entity type `{entity_type}` must be the return type `{}`: each event's \
                     entity is read with the subscription's selection",
                    obj.name
                ),
            );
        }
        let topic = match &s.topic {
            Some(t) if is_subject(t) => Some(t.clone()),
            Some(t) => {
                self.err(
                    format!("{path}.topic"),
                    format!("`{t}` is not a NATS subject (dot-separated tokens, `*` and `>` as wildcards)"),
                );
                None
            }
            None => {
                self.err(
                    format!("{path}.topic"),
                    "a subscription needs a topic: the NATS subject its events arrive on",
                );
                None
            }
        };
        let operation = match s
            .operation
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None => None,
            Some("INSERT" | "CREATE") => Some("INSERT".to_owned()),
            Some("UPDATE") => Some("UPDATE".to_owned()),
            Some("DELETE") => Some("DELETE".to_owned()),
            Some(other) => {
                self.err(
                    format!("{path}.operation"),
                    format!("`{other}` is not an operation: INSERT, UPDATE or DELETE"),
                );
                None
            }
        };
        let mut arguments: Vec<Argument> = self
            .arguments(&s.arguments, &path, "arguments", kinds)
            .into_values()
            .collect();
        // Each argument filters events by the entity field of its name; `<entity>_<key>`
        // (`orderId` on `Order`) names the key.
        let key = obj
            .key_fields
            .first()
            .cloned()
            .unwrap_or_else(|| "id".into());
        let key_alias = format!("{}_{key}", snake_case(&obj.name));
        for a in &mut arguments {
            let is_field = obj
                .fields
                .values()
                .any(|f| f.key == a.key && f.relation.is_none());
            if !is_field && a.key == key_alias {
                a.key = key.clone();
            } else if !is_field {
                self.err(
                    format!("{path}.arguments.{}", a.name),
                    format!(
                        "`{}` names no field of `{}`: a subscription's arguments filter events by \
                         the entity's fields (`{}` for its key)",
                        a.name,
                        obj.name,
                        camel_case(&key_alias)
                    ),
                );
            }
        }
        Some(SubscriptionField {
            access: self.access(&path, &s.requires_role, &s.requires_scope),
            name,
            ty,
            description: s.description.clone(),
            entity_type,
            topic,
            operation,
            arguments,
        })
    }
}

/// Whether `s` is a NATS subject a subscription can listen on: dot-separated non-empty
/// tokens of printable characters without spaces, `*` a whole token, `>` the last.
fn is_subject(s: &str) -> bool {
    let tokens: Vec<&str> = s.split('.').collect();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty()
            && t.chars().all(|c| c.is_ascii_graphic())
            && (!t.contains('*') || *t == "*")
            && (!t.contains('>') || (*t == ">" && i == tokens.len() - 1))
    })
}

/// How a key compares once it has left its database: as text, as a number, or (any other
/// scalar or enum) by its own type name.
fn key_class(type_name: &str) -> &str {
    match ScalarKind::of(type_name) {
        Some(ScalarKind::Id | ScalarKind::Uuid | ScalarKind::Text) => "text",
        Some(ScalarKind::Int | ScalarKind::Float | ScalarKind::Decimal) => "number",
        _ => type_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_schema() -> SchemaInput {
        serde_json::from_value(serde_json::json!({
            "types": [{"name": "Order", "fields": [
                {"name": "id", "type": "ID!"},
                {"name": "total_amount", "type": "Decimal!"}
            ]}],
            "queries": [
                {"name": "orders", "return_type": "[Order!]!"},
                {"name": "order", "return_type": "Order", "arguments": [{"name": "id", "type": "ID!"}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn resolves_defaults() {
        let s = compile(&order_schema()).unwrap();
        let order = &s.types["Order"];
        assert_eq!(order.sql_source, "v_order");
        assert_eq!(order.database, "primary");
        assert_eq!(order.fields["totalAmount"].key, "total_amount");
        assert_eq!(s.queries["orders"].sql_source, "v_order");
        assert_eq!(s.queries["order"].arguments[0].name, "id");
    }

    #[test]
    fn reports_every_error_with_a_path() {
        let input: SchemaInput = serde_json::from_value(serde_json::json!({
            "types": [{"name": "Order", "sql_source": "v_order; drop", "fields": [
                {"name": "total", "type": "Money!"},
                {"name": "customer", "type": "Customr"}
            ]}],
            "queries": [{"name": "orders", "return_type": "[Ordr!]!"}],
            "mutations": [{"name": "create_order", "return_type": "Order", "sql_source": "fn x",
                           "operation": "UPSERT"}]
        }))
        .unwrap();
        let errors = compile(&input).unwrap_err().to_string();
        insta::assert_snapshot!(errors, @r"
        schema compilation failed with 6 error(s):
          types.Order.sql_source: `v_order; drop` is not a valid view name
          types.Order.fields.total: unknown type `Money`
          types.Order.fields.customer: unknown type `Customr`
          queries.orders.return_type: unknown type `Ordr`
          mutations.create_order.sql_source: `fn x` is not a valid function name
          mutations.create_order.operation: unknown operation `UPSERT`: expected CREATE, UPDATE, DELETE or CUSTOM
        ");
    }

    /// Keys across databases must compare alike; within one database anything goes, and
    /// a relation into another database is nullable in the served schema.
    #[test]
    fn keys_across_databases_must_compare_alike() {
        let sdl = |account_id: &str| {
            format!(
                r#"
type Order @source(view: "v_order") {{
  id: ID!
  accountId: {account_id}
  account: Account! @relation(localKey: "account_id")
  lines: [Line!]! @relation(localKey: "id", remoteKey: "order_id")
}}
type Account @source(view: "v_account", database: "crm") {{ id: ID! }}
type Line @source(view: "v_line") {{ orderId: Int! }}
type Query {{ orders: [Order!]! }}
"#
            )
        };
        let ok = crate::schema::load_schema(&sdl("UUID!"), "schema.graphql").unwrap();
        let printed = crate::schema::executable_sdl(&ok, &Default::default());
        assert!(printed.contains("  account: Account\n"), "{printed}");
        assert!(printed.contains("  lines(where"), "{printed}");
        assert!(printed.contains("): [Line!]!\n"), "{printed}");
        let errors = crate::schema::load_schema(&sdl("Int!"), "schema.graphql")
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains(
                "types.Order.fields.account.relation: `Order.account_id` (Int, database \
                 'primary') cannot match `Account.id` (ID, database 'crm')"
            ),
            "{errors}"
        );
    }

    /// Seed 002's subscription, as schema.json has it, and the same as an SDL directive.
    #[test]
    fn subscriptions_compile_from_json_and_sdl() {
        let json: SchemaInput = serde_json::from_value(serde_json::json!({
            "types": [{"name": "Order", "fields": [
                {"name": "id", "type": "ID!"}, {"name": "status", "type": "String!"}
            ]}],
            "queries": [{"name": "orders", "return_type": "[Order!]!"}],
            "subscriptions": [{"name": "order_status_updated", "return_type": "Order",
                "entity_type": "Order", "topic": "events.order.status_updated",
                "arguments": [{"name": "order_id", "type": "ID"}]}]
        }))
        .unwrap();
        let from_json = compile(&json).unwrap();
        let sdl = r#"
type Order @source(view: "v_order") { id: ID! status: String! }
type Query { orders: [Order!]! }
type Subscription {
  orderStatusUpdated(orderId: ID): Order! @topic(name: "events.order.status_updated", entity: "Order", operation: "update")
}"#;
        let from_sdl = crate::schema::load_schema(sdl, "schema.graphql").unwrap();
        for s in [&from_json, &from_sdl] {
            let sub = &s.subscriptions["orderStatusUpdated"];
            assert_eq!(sub.entity_type, "Order");
            assert_eq!(sub.topic.as_deref(), Some("events.order.status_updated"));
            // `orderId` on `Order` names the key.
            assert_eq!(sub.arguments[0].key, "id");
        }
        assert_eq!(
            from_sdl.subscriptions["orderStatusUpdated"]
                .operation
                .as_deref(),
            Some("UPDATE")
        );
    }

    #[test]
    fn subscription_mistakes_are_reported_with_their_paths() {
        let sdl = r#"
type Order @source(view: "v_order") { id: ID! status: String! }
type Customer @source(view: "v_customer") { id: ID! }
type Query { orders: [Order!]! }
type Subscription {
  noTopic: Order!
  spaced(status: String): Order! @topic(name: "orders updated")
  empty: Order! @topic(name: "orders..x")
  truncated: Order! @topic(name: "orders.>", operation: "TRUNCATE")
  other: Order! @topic(name: "orders.>", entity: "Customer")
  unknown: Order! @topic(name: "orders.>", entity: "Custmer")
  byNothing(colour: String): Order! @topic(name: "orders.>")
}"#;
        let errors = crate::schema::load_schema(sdl, "schema.graphql")
            .unwrap_err()
            .to_string();
        for wanted in [
            "subscriptions.no_topic.topic: a subscription needs a topic",
            "subscriptions.spaced.topic: `orders updated` is not a NATS subject",
            "subscriptions.empty.topic: `orders..x` is not a NATS subject",
            "subscriptions.truncated.operation: `TRUNCATE` is not an operation",
            "subscriptions.other.entity_type: the entity type `Customer` must be the return type `Order`",
            "subscriptions.unknown.entity_type: unknown type `Custmer`",
            "subscriptions.by_nothing.arguments.colour: `colour` names no field of `Order`",
        ] {
            assert!(errors.contains(wanted), "missing `{wanted}` in:\n{errors}");
        }
        // A valid argument beside them is not reported, nor an unknown type twice.
        assert!(!errors.contains("spaced.arguments"), "{errors}");
        assert!(errors.contains("with 7 error(s)"), "{errors}");
        assert!(
            !errors.contains("entity type `Custmer` must be"),
            "{errors}"
        );
    }

    /// `inject` from schema.json and from SDL compile alike; mistakes name their path.
    #[test]
    fn injects_compile_from_json_and_sdl_and_mistakes_are_reported() {
        let json: SchemaInput = serde_json::from_value(serde_json::json!({
            "types": [{"name": "Doc", "fields": [{"name": "id", "type": "ID!"}]}],
            "input_types": [{"name": "DocInput", "fields": [{"name": "body", "type": "String!"}]}],
            "queries": [{"name": "docs", "return_type": "[Doc!]!",
                "inject": {"owner_id": "jwt:sub", "org": "jwt:https://example.com/org"}}],
            "mutations": [{"name": "add_doc", "return_type": "Doc", "sql_source": "fn_add_doc",
                "arguments": [{"name": "input", "type": "DocInput!"}],
                "inject": {"owner_id": "jwt:sub"}}]
        }))
        .unwrap();
        let from_json = compile(&json).unwrap();
        let sdl = r#"
type Doc @source(view: "v_doc") { id: ID! }
input DocInput { body: String! }
type Query { docs: [Doc!]! @inject(owner_id: "jwt:sub", org: "jwt:https://example.com/org") }
type Mutation { addDoc(input: DocInput!): Doc @function(name: "fn_add_doc") @inject(owner_id: "jwt:sub") }
"#;
        let from_sdl = crate::schema::load_schema(sdl, "schema.graphql").unwrap();
        for s in [&from_json, &from_sdl] {
            let q = &s.queries["docs"].inject;
            assert_eq!(q["owner_id"], "sub");
            assert_eq!(q["org"], "https://example.com/org");
            assert_eq!(s.mutations["addDoc"].inject["owner_id"], "sub");
        }
        let bad = r#"
type Doc @source(view: "v_doc") { id: ID! }
input DocInput { body: String! ownerId: String }
type Query {
  header: [Doc!]! @inject(owner_id: "header:X-User")
  empty: [Doc!]! @inject(owner_id: "jwt:")
  spaced: [Doc!]! @inject(owner_id: "jwt:a b")
  camel: [Doc!]! @inject(ownerId: "jwt:sub")
  number: [Doc!]! @inject(owner_id: 7)
  both(ownerId: String): [Doc!]! @inject(owner_id: "jwt:sub")
}
type Mutation { addDoc(input: DocInput!): Doc @function(name: "fn_add_doc") @inject(owner_id: "jwt:sub") }
"#;
        let errors = crate::schema::load_schema(bad, "schema.graphql")
            .unwrap_err()
            .to_string();
        for wanted in [
            "queries.header.inject.owner_id: `header:X-User` is not a token claim",
            "queries.empty.inject.owner_id: `jwt:` is not a token claim",
            "queries.spaced.inject.owner_id: `jwt:a b` is not a token claim",
            "queries.camel.inject.ownerId: `ownerId` is not a snake_case key",
            "queries.number.inject.owner_id: `7` is not a token claim",
            "queries.both.inject.owner_id: `owner_id` is injected from the token, so it cannot also be an argument",
            "mutations.add_doc.inject.owner_id: `owner_id` is injected from the token",
        ] {
            assert!(errors.contains(wanted), "missing `{wanted}` in:\n{errors}");
        }
        assert!(errors.contains("with 7 error(s)"), "{errors}");
    }
}
