//! Relations into another database, on the SQL side. The parent's statement cannot read the
//! target view (it lives elsewhere), so where the field goes it writes a marker, a JSON array
//! `[marker, step, key]`: the request's random marker (bound, so no stored value can forge
//! one), the step's number and the parent's key as text. Once the parent's rows arrive,
//! `crate::splice` finds the markers, and [`render_steps`] reads every key of one or more
//! steps on the target database in one statement: per key, the same relation subquery a
//! same-database relation uses (so `where`, `orderBy`, `limit` and `offset` apply per parent,
//! in the database), over a table of the keys.

use super::read::Renderer;
use super::{dialect, Param, SqlQuery};
use crate::catalog::Catalog;
use crate::config::DatabaseKind;
use crate::plan::{Related, Step};

/// What a statement needs to mark relations into other databases: the plan's steps and the
/// request's marker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Remotes<'a> {
    pub steps: &'a [Step],
    pub marker: &'a str,
}

/// The keys of one step to read in a statement.
#[derive(Debug, Clone, Copy)]
pub struct StepKeys<'a> {
    pub step: usize,
    pub keys: &'a [&'a str],
}

/// One statement reading `parts` (steps whose target is one database of `kind`). Each row is
/// `(step, key, value)`, all text: the step's number, a key and the JSON for it (an object or
/// `NULL` for an object relation, an array for a list).
pub fn render_steps(
    parts: &[StepKeys<'_>],
    kind: DatabaseKind,
    catalog: Option<&Catalog>,
    remotes: Remotes<'_>,
) -> Result<SqlQuery, String> {
    let mut r = Renderer {
        d: dialect(kind),
        catalog,
        params: Vec::new(),
        aliases: 0,
        remotes,
        rep: None,
    };
    let mut selects = Vec::with_capacity(parts.len());
    for part in parts {
        let step = remotes
            .steps
            .get(part.step)
            .ok_or_else(|| format!("step {} is not in the plan", part.step))?;
        // A JSON array of strings: one parameter, however many keys.
        let keys = serde_json::to_string(part.keys).map_err(|e| e.to_string())?;
        let d = r.d;
        selects.push(d.step_select(&mut r, part.step, &step.related, keys));
    }
    let q = SqlQuery {
        text: selects.join(" UNION ALL "),
        params: std::mem::take(&mut r.params),
    };
    Ok(r.d.finish(q))
}

/// The usual statement of one step: per key (`k.v`), the relation's scalar subquery, as a
/// same-database relation reads it for one parent. `keys` is the JSON array of the keys.
pub(crate) fn step_select(
    r: &mut Renderer<'_>,
    step: usize,
    related: &Related,
    keys: String,
) -> String {
    // Placeholders in text order: the relation's own, then the key list.
    let value = r.related(related, "k.v");
    let list = r.bind(Param::Text(keys));
    format!(
        "SELECT {}, k.v, {} FROM {}",
        r.d.literal(&step.to_string()),
        r.d.to_text(&value),
        r.d.key_rows(&list)
    )
}

impl Renderer<'_> {
    /// The marker a relation into another database leaves in the parent's JSON:
    /// `[marker, step, key]`, the key read from the parent object `base` as text.
    pub(crate) fn remote_marker(&mut self, step: usize, base: &str) -> String {
        let local_key = match self.remotes.steps.get(step) {
            Some(s) => s.related.local_key.clone(),
            None => return "NULL".into(),
        };
        let marker = self.bind(Param::Text(self.remotes.marker.to_string()));
        let marker = self.d.typed_param(&marker, crate::schema::ScalarKind::Text);
        let key = self.d.text_at(base, std::slice::from_ref(&local_key));
        self.d.json_array(&[marker, step.to_string(), key])
    }
}
