//! The circuit breakers of Apollo Federation entities. In a subgraph, a
//! `[[federation.circuit_breaker.per_database]]` entry whose `database` names an entity type
//! (and no configured database) gives that type's `_entities` reads a breaker of their own,
//! in place of their database's: an entity whose view keeps failing opens only its own
//! circuit, and the other entities and the ordinary queries on that database go on. Every
//! other entity's reads stay behind its database's breaker.
//!
//! `resilience.rs` asks here which breaker guards a read and which entities follow a
//! database's breaker (the gauge shows each entity under its own name, with the state of the
//! breaker that guards it; `/health` lists the entities' own breakers); `serve.rs` checks at
//! start, once the schema's entities are known, that every entry names a database or an
//! entity ([`check_entries`]).

use super::breaker::{Breaker, CircuitState};
use super::{Circuit, Guard};
use crate::metrics::Metrics;
use fraiseql_engine::config::FederationConfig;
use fraiseql_engine::plan::{Root, RootAction, Shape};
use std::collections::HashMap;
use std::sync::Mutex;

/// The entities of a subgraph, as far as breakers go.
pub(super) struct Entities {
    /// Those with an entry of their own.
    own: HashMap<String, Own>,
    /// Per database, the entities whose reads its breaker guards (those without an entry).
    following: HashMap<String, Vec<String>>,
}

/// An entity with an entry of its own.
struct Own {
    /// The database its view is read from.
    database: String,
    /// `None`: the entry disables it, so no breaker guards its reads.
    breaker: Option<Mutex<Breaker>>,
}

impl Entities {
    /// `entities` (type, database) resolved against the entries of `config`; each breaker
    /// starts closed and says so in the gauge, as does each entity its database's breaker
    /// guards. An entity without any breaker has no series, like a database without one.
    pub(super) fn new<'a>(
        config: &FederationConfig,
        databases: &HashMap<String, Guard>,
        entities: impl IntoIterator<Item = (&'a str, &'a str)>,
        metrics: &Metrics,
    ) -> Self {
        let entries = &config.circuit_breaker.per_database;
        let mut own = HashMap::new();
        let mut following: HashMap<String, Vec<String>> = HashMap::new();
        for (entity, database) in entities {
            // A name that is also a database's is that database's entry.
            let mut has_entry =
                !databases.contains_key(entity) && entries.iter().any(|e| e.database == entity);
            if has_entry && !databases.contains_key(database) {
                // Not a pooled database: one per tenant, which has no breaker so that one
                // tenant's failures never refuse another's requests; nor do its entities.
                tracing::warn!(
                    entity,
                    database,
                    "the entity is read from a database per tenant, which has no circuit \
                     breaker: its [[federation.circuit_breaker.per_database]] entry is ignored"
                );
                has_entry = false;
            }
            let guarded = if has_entry {
                let breaker = config.breaker(entity).map(|s| Mutex::new(Breaker::new(s)));
                let guarded = breaker.is_some();
                let database = database.to_owned();
                own.insert(entity.to_owned(), Own { database, breaker });
                guarded
            } else {
                following
                    .entry(database.to_owned())
                    .or_default()
                    .push(entity.to_owned());
                databases.get(database).is_some_and(|g| g.breaker.is_some())
            };
            if guarded {
                let closed = CircuitState::Closed.gauge();
                metrics.set_circuit_state(Circuit::Entity(entity), closed);
            }
        }
        Self { own, following }
    }

    /// `entity`'s own entry: its name as stored and its breaker, if it has one.
    pub(super) fn own(&self, entity: &str) -> Option<(&str, Option<&Mutex<Breaker>>)> {
        let (name, own) = self.own.get_key_value(entity)?;
        Some((name.as_str(), own.breaker.as_ref()))
    }

    /// `entity`'s own breaker (`None` without an entry, or with a disabled one).
    pub(super) fn breaker(&self, entity: &str) -> Option<&Mutex<Breaker>> {
        self.own.get(entity)?.breaker.as_ref()
    }

    /// Every entity with a breaker of its own, by name: the entity, its database and the
    /// breaker.
    pub(super) fn breakers(&self) -> Vec<(&str, &str, &Mutex<Breaker>)> {
        let mut list: Vec<_> = self
            .own
            .iter()
            .filter_map(|(name, own)| {
                Some((name.as_str(), own.database.as_str(), own.breaker.as_ref()?))
            })
            .collect();
        list.sort_unstable_by_key(|(name, _, _)| *name);
        list
    }

    /// The entities whose reads `database`'s breaker guards.
    pub(super) fn following(&self, database: &str) -> impl Iterator<Item = &str> {
        self.following
            .get(database)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The entity with an entry of its own that `root` reads for `_entities`: the planner
    /// makes one hidden `Fetch` root per entity type (and key), named `_entities`, whose
    /// list selection is of that type.
    pub(super) fn read_of<'r>(&self, root: &'r Root) -> Option<&'r str> {
        if self.own.is_empty() {
            return None;
        }
        let RootAction::Fetch(fetch) = &root.action else {
            return None;
        };
        let Shape::List { selection, .. } = &fetch.shape else {
            return None;
        };
        let name = selection.type_name.as_str();
        (fetch.field == "_entities" && self.own.contains_key(name)).then_some(name)
    }
}

/// Every `[[federation.circuit_breaker.per_database]]` entry names one of `databases` (the
/// configured names) or, in a subgraph, one of its `entities` (`None`: not a subgraph). The
/// config check let the other names through only when `[federation] enabled`, since it
/// cannot know the entities; the message names each entry that is neither.
pub(crate) fn check_entries(
    config: &FederationConfig,
    databases: &[&str],
    entities: Option<&[&str]>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for entry in &config.circuit_breaker.per_database {
        let name = entry.database.as_str();
        if databases.contains(&name) || entities.is_some_and(|e| e.contains(&name)) {
            continue;
        }
        // `closest` lowers the name, not the candidates: entity types are capitalised.
        let candidates: Vec<(String, &str)> = databases
            .iter()
            .chain(entities.unwrap_or_default())
            .map(|n| (n.to_ascii_lowercase(), *n))
            .collect();
        let lowered = candidates.iter().map(|(lower, _)| lower.as_str());
        let near = fraiseql_engine::suggest::closest(name, lowered)
            .and_then(|l| candidates.iter().find(|(lower, _)| lower == l))
            .map(|(_, n)| *n);
        let hint = match near {
            Some(near) => format!("did you mean `{near}`?"),
            None => {
                let list = |names: &[&str]| {
                    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                    quoted.join(", ")
                };
                match entities {
                    Some(e) => {
                        format!("databases: {}; entities: {}", list(databases), list(e))
                    }
                    None => format!("configured databases: {}", list(databases)),
                }
            }
        };
        problems.push(match entities {
            Some(_) => format!(
                "`{name}` in [[federation.circuit_breaker.per_database]] is neither a \
                 configured database nor an entity of this subgraph; {hint}"
            ),
            None => format!(
                "`{name}` in [[federation.circuit_breaker.per_database]] is not a configured \
                 database (an entity's name is accepted only in an Apollo Federation \
                 subgraph, [federation] enabled = true); {hint}"
            ),
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fraiseql_engine::config::DatabaseBreakerConfig;

    fn config(names: &[&str]) -> FederationConfig {
        let mut config = FederationConfig::default();
        for name in names {
            config
                .circuit_breaker
                .per_database
                .push(DatabaseBreakerConfig {
                    database: (*name).into(),
                    enabled: None,
                    failure_threshold: Some(1),
                    recovery_timeout_secs: None,
                    success_threshold: None,
                });
        }
        config
    }

    #[test]
    fn entries_name_a_database_or_an_entity_of_the_subgraph() {
        let databases = ["primary", "analytics"];
        let entities: &[&str] = &["Order", "Customer"];
        let ok = config(&["analytics", "Order"]);
        assert_eq!(check_entries(&ok, &databases, Some(entities)), Ok(()));

        let typo = config(&["Ordr", "Customer", "nothing_alike_at_all"]);
        let e = check_entries(&typo, &databases, Some(entities)).unwrap_err();
        assert_eq!(
            e,
            "`Ordr` in [[federation.circuit_breaker.per_database]] is neither a configured \
             database nor an entity of this subgraph; did you mean `Order`?\n\
             `nothing_alike_at_all` in [[federation.circuit_breaker.per_database]] is neither \
             a configured database nor an entity of this subgraph; databases: `primary`, \
             `analytics`; entities: `Order`, `Customer`"
        );

        // Not a subgraph: an entity's name is no database.
        let e = check_entries(&ok, &databases, None).unwrap_err();
        assert_eq!(
            e,
            "`Order` in [[federation.circuit_breaker.per_database]] is not a configured \
             database (an entity's name is accepted only in an Apollo Federation subgraph, \
             [federation] enabled = true); configured databases: `primary`, `analytics`"
        );
    }
}
