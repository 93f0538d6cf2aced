//! `authorize`: may this caller run this operation? Every field the operation selects —
//! under any alias, through fragments, in nested objects and relations, in a mutation's
//! read-back — is checked against its own `@auth` (`requires_role`/`requires_scope`) and its
//! type's, and a root field that injects token claims (`inject`) needs a caller whose token
//! has them, before any planning or database work. A refusal refuses the whole operation.

use crate::error::{ErrorCode, GraphQLError, PathSegment};
use crate::request::{ApiSchema, OperationKind, Prepared};
use crate::schema::{Access, CompiledSchema};
use apollo_compiler::executable::{ExecutableDocument, Selection, SelectionSet};
use std::collections::HashSet;

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// A verified token was sent.
    pub authenticated: bool,
    pub roles: &'a [String],
    pub scopes: &'a [String],
    /// The verified token's claims (`None` without a token).
    pub claims: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl<'a> Caller<'a> {
    /// Anyone, without a token.
    pub const ANONYMOUS: Caller<'static> = Caller {
        authenticated: false,
        roles: &[],
        scopes: &[],
        claims: None,
    };

    fn may(&self, access: &Access) -> bool {
        access.role.as_ref().is_none_or(|r| self.roles.contains(r))
            && access
                .scope
                .as_ref()
                .is_none_or(|s| self.scopes.contains(s))
    }

    /// The value of `claim` for root field `field`'s `inject`: a scalar or a list of
    /// scalars. UNAUTHENTICATED without a token, FORBIDDEN when the token lacks it.
    pub fn claim(&self, field: &str, claim: &str) -> Result<&'a serde_json::Value, GraphQLError> {
        use serde_json::Value;
        let Some(claims) = self.claims.filter(|_| self.authenticated) else {
            return Err(GraphQLError::new(
                ErrorCode::Unauthenticated,
                format!("`{field}` needs an authenticated caller"),
            ));
        };
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        match claims.get(claim) {
            Some(v) if scalar(v) => Ok(v),
            Some(Value::Array(items)) if items.iter().all(scalar) => Ok(&claims[claim]),
            Some(Value::Null) | None => Err(GraphQLError::new(
                ErrorCode::Forbidden,
                format!("`{field}` needs the token claim `{claim}`, which this token lacks"),
            )),
            Some(_) => Err(GraphQLError::new(
                ErrorCode::Forbidden,
                format!("`{field}` needs the token claim `{claim}` as a value or a list of values"),
            )),
        }
    }
}

/// Every selection of the operation the caller may not make, as errors (UNAUTHENTICATED for
/// a caller without a token, FORBIDDEN otherwise), each at its response path.
pub fn authorize(
    api: &ApiSchema,
    prepared: &Prepared,
    caller: &Caller<'_>,
) -> Result<(), Vec<GraphQLError>> {
    if !api.guarded {
        return Ok(());
    }
    let mut walk = Walk {
        schema: &api.compiled,
        doc: &prepared.document,
        caller,
        errors: Vec::new(),
        seen: HashSet::new(),
        kind: prepared.kind,
    };
    walk.set(&prepared.operation().selection_set, &mut Vec::new(), true);
    if walk.errors.is_empty() {
        Ok(())
    } else {
        Err(walk.errors)
    }
}

struct Walk<'a> {
    schema: &'a CompiledSchema,
    doc: &'a ExecutableDocument,
    caller: &'a Caller<'a>,
    errors: Vec<GraphQLError>,
    /// (type, field) already refused: one error each.
    seen: HashSet<(String, String)>,
    kind: OperationKind,
}

impl<'a> Walk<'a> {
    fn set(&mut self, set: &SelectionSet, path: &mut Vec<PathSegment>, root: bool) {
        for selection in &set.selections {
            match selection {
                Selection::Field(f) => {
                    let key = f.response_key().to_string();
                    path.push(PathSegment::Key(key));
                    let parent = set.ty.as_str();
                    let name = f.name.as_str();
                    let returns = f.definition.ty.inner_named_type().as_str();
                    if let Some(access) = self.field_access(parent, name, root) {
                        self.check(access, parent, name, path);
                    }
                    if root {
                        self.injected(name, path);
                    }
                    let schema: &'a CompiledSchema = self.schema;
                    if let Some(t) = schema.types.get(returns) {
                        self.check(&t.access, returns, "", path);
                    }
                    self.set(&f.selection_set, path, false);
                    path.pop();
                }
                // A fragment on an object type through an abstract one (`_entities`' `_Entity`)
                // selects that type: its own access applies.
                Selection::FragmentSpread(s) => {
                    if let Some(fragment) = self.doc.fragments.get(&s.fragment_name) {
                        self.fragment_type(fragment.type_condition().as_str(), set, path);
                        self.set(&fragment.selection_set, path, root);
                    }
                }
                Selection::InlineFragment(i) => {
                    if let Some(c) = &i.type_condition {
                        self.fragment_type(c.as_str(), set, path);
                    }
                    self.set(&i.selection_set, path, root);
                }
            }
        }
    }

    /// A fragment on object type `ty` inside `set`, of another (abstract) type: `ty`'s access.
    fn fragment_type(&mut self, ty: &str, set: &SelectionSet, path: &[PathSegment]) {
        let schema: &'a CompiledSchema = self.schema;
        if ty != set.ty.as_str() {
            if let Some(t) = schema.types.get(ty) {
                self.check(&t.access, ty, "", path);
            }
        }
    }

    /// A root field's `inject` claims are in the caller's token.
    fn injected(&mut self, name: &str, path: &[PathSegment]) {
        let schema: &'a CompiledSchema = self.schema;
        let inject = match self.kind {
            OperationKind::Query => schema.queries.get(name).map(|q| &q.inject),
            OperationKind::Mutation => schema.mutations.get(name).map(|m| &m.inject),
            OperationKind::Subscription => None,
        };
        for claim in inject.into_iter().flat_map(|i| i.values()) {
            if let Err(e) = self.caller.claim(name, claim) {
                if self.seen.insert((name.to_owned(), claim.clone())) {
                    self.errors.push(e.at(path.to_vec()));
                }
            }
        }
    }

    fn field_access(&self, parent: &str, name: &str, root: bool) -> Option<&'a Access> {
        let schema: &'a CompiledSchema = self.schema;
        if root {
            return match self.kind {
                OperationKind::Query => schema.queries.get(name).map(|q| &q.access),
                OperationKind::Mutation => schema.mutations.get(name).map(|m| &m.access),
                OperationKind::Subscription => schema.subscriptions.get(name).map(|s| &s.access),
            };
        }
        schema
            .types
            .get(parent)
            .and_then(|t| t.fields.get(name))
            .map(|f| &f.access)
    }

    /// `field` empty: the type itself.
    fn check(&mut self, access: &Access, ty: &str, field: &str, path: &[PathSegment]) {
        if access.is_open() || self.caller.may(access) {
            return;
        }
        if !self.seen.insert((ty.to_owned(), field.to_owned())) {
            return;
        }
        let what = if field.is_empty() {
            format!("type `{ty}`")
        } else {
            format!("`{ty}.{field}`")
        };
        let error = if self.caller.authenticated {
            let needs = match (&access.role, &access.scope) {
                (Some(r), Some(s)) => format!("the role `{r}` and the scope `{s}`"),
                (Some(r), None) => format!("the role `{r}`"),
                (None, Some(s)) => format!("the scope `{s}`"),
                (None, None) => unreachable!("an open access passes"),
            };
            GraphQLError::new(ErrorCode::Forbidden, format!("{what} needs {needs}"))
        } else {
            GraphQLError::new(
                ErrorCode::Unauthenticated,
                format!("{what} needs an authenticated caller"),
            )
        };
        self.errors.push(error.at(path.to_vec()));
    }
}
