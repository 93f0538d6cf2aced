//! The worst-case row count of a plan, checked after planning and before any SQL: each
//! list level multiplies its parent's rows by its page size, so three nested lists of 1,000
//! each could return 10^9 rows although every single `limit` is within `max_page_size`.
//! `validation.max_result_rows` bounds the sum over the operation's root fields.

use super::model::*;
use crate::error::{ErrorCode, GraphQLError, PathSegment};

/// Refuses a plan whose root fields together could return more than `max` rows.
pub(super) fn check_rows(plan: &Plan, max: u64) -> Result<(), GraphQLError> {
    let mut total: u64 = 0;
    for root in &plan.roots {
        let fetch = match &root.action {
            RootAction::Fetch(f) => f,
            // Each event reads one entity with the selection: its relation lists count.
            RootAction::Subscribe(s) => &s.fetch,
            _ => continue,
        };
        total = total.saturating_add(fetch_rows(fetch, &plan.steps));
        if total > max {
            return Err(GraphQLError::new(
                ErrorCode::BadUserInput,
                format!(
                    "this operation could return up to {total} rows (each nested list \
                     multiplies its parent's page size), more than the limit of {max}: pass \
                     smaller `limit` arguments to nested lists"
                ),
            )
            .at(vec![PathSegment::Key(root.key.clone())]));
        }
    }
    Ok(())
}

/// Rows one root field can return, its own and those of every relation below it.
pub(super) fn fetch_rows(fetch: &Fetch, steps: &[Step]) -> u64 {
    match &fetch.shape {
        Shape::One(sel) => selection_rows(sel, steps),
        Shape::List {
            selection, limit, ..
        } => limit.saturating_mul(selection_rows(selection, steps)),
        Shape::Connection(c) => {
            let node = c.items.iter().find_map(|i| match i {
                ConnectionItem::Edges { items, .. } => items.iter().find_map(|e| match e {
                    EdgeItem::Node { selection, .. } => Some(selection),
                    _ => None,
                }),
                _ => None,
            });
            // One row more than the page is read to tell whether another page follows.
            let per_row = node.map_or(1, |s| selection_rows(s, steps));
            c.count.saturating_add(1).saturating_mul(per_row)
        }
    }
}

/// Rows read for one object of `sel`: itself plus, per relation, the relation's page size
/// times the rows of each related object, in this database or another (`steps`).
fn selection_rows(sel: &Selection, steps: &[Step]) -> u64 {
    let mut rows: u64 = 1;
    for item in &sel.items {
        let below = match item {
            Item::Related { related, .. } => related_rows(related, steps),
            Item::Remote { step, .. } => steps
                .get(*step)
                .map_or(0, |s| related_rows(&s.related, steps)),
            // Embedded objects are part of their row; a relation inside one still reads rows.
            Item::Object { selection, .. } | Item::ObjectList { selection, .. } => {
                selection_rows(selection, steps).saturating_sub(1)
            }
            Item::Typename { .. } | Item::Value { .. } | Item::Computed { .. } => 0,
        };
        rows = rows.saturating_add(below);
    }
    rows
}

fn related_rows(related: &Related, steps: &[Step]) -> u64 {
    let per = selection_rows(&related.selection, steps);
    related.limit.unwrap_or(1).saturating_mul(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(items: Vec<Item>) -> Selection {
        Selection {
            type_name: "T".into(),
            items,
        }
    }

    fn related(limit: Option<u64>, selection: Selection) -> Item {
        Item::Related {
            key: "r".into(),
            related: Box::new(Related {
                view: "v".into(),
                local_key: "id".into(),
                remote_key: "pid".into(),
                list: limit.is_some(),
                filter: None,
                order: Vec::new(),
                limit,
                offset: 0,
                selection,
            }),
        }
    }

    fn list(limit: u64, selection: Selection) -> Fetch {
        Fetch {
            field: "f".into(),
            database: "d".into(),
            view: "v".into(),
            shape: Shape::List {
                selection,
                limit,
                offset: 0,
            },
            filter: None,
            order: Vec::new(),
            entity: None,
        }
    }

    #[test]
    fn nested_lists_multiply() {
        let items = sel(vec![]);
        let orders = sel(vec![related(Some(1000), items)]);
        let customers = list(1000, sel(vec![related(Some(1000), orders)]));
        // 1000 customers, each with 1000 orders, each with 1000 items (plus the parents).
        assert_eq!(fetch_rows(&customers, &[]), 1000 * (1 + 1000 * (1 + 1000)));
    }

    #[test]
    fn single_relations_and_siblings_add() {
        let s = sel(vec![
            related(None, sel(vec![])),
            related(Some(5), sel(vec![])),
        ]);
        assert_eq!(fetch_rows(&list(10, s), &[]), 10 * (1 + 1 + 5));
    }

    #[test]
    fn huge_products_saturate() {
        let mut s = sel(vec![]);
        for _ in 0..20 {
            s = sel(vec![related(Some(u64::MAX / 2), s)]);
        }
        assert_eq!(fetch_rows(&list(u64::MAX, s), &[]), u64::MAX);
    }
}
