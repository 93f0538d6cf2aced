//! `render_reads`: the read root fields of a plan -> one statement per database. Each root
//! field becomes one scalar subquery returning JSON built in the database; the statement
//! selects them side by side, so same-database roots share one round trip.

use super::dialect::{escape_like, order_clause, Dialect, Rows};
use super::remote::Remotes;
use super::{dialect, Param, SqlQuery};
use crate::catalog::{Catalog, SqlType};
use crate::config::DatabaseKind;
use crate::plan::*;
use crate::schema::ScalarKind;
use serde_json::Value as Json;

/// One statement for one database: its text columns answer `roots` (indexes into
/// `Plan::roots`), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadStatement {
    pub database: String,
    pub sql: SqlQuery,
    pub roots: Vec<usize>,
}

/// A database's kind and, when loaded, its catalog.
pub type DatabaseTarget<'c> = Option<(DatabaseKind, Option<&'c Catalog>)>;

/// Renders every `Fetch` root of `plan`, grouped by database in first-use order. `target`
/// gives each database's kind and, when loaded, its catalog.
pub fn render_reads<'c>(
    plan: &Plan,
    target: &dyn Fn(&str) -> DatabaseTarget<'c>,
    remotes: Remotes<'_>,
) -> Result<Vec<ReadStatement>, String> {
    // Each statement with its root columns and its database's dialect.
    let mut out: Vec<(ReadStatement, Vec<String>, &'static dyn Dialect)> = Vec::new();
    for (i, root) in plan.roots.iter().enumerate() {
        let RootAction::Fetch(fetch) = &root.action else {
            continue;
        };
        let (kind, catalog) = target(&fetch.database)
            .ok_or_else(|| format!("database `{}` is not configured", fetch.database))?;
        let pos = match out
            .iter()
            .position(|(s, _, _)| s.database == fetch.database)
        {
            Some(p) => p,
            None => {
                out.push((
                    ReadStatement {
                        database: fetch.database.clone(),
                        sql: SqlQuery {
                            text: String::new(),
                            params: Vec::new(),
                        },
                        roots: Vec::new(),
                    },
                    Vec::new(),
                    dialect(kind),
                ));
                out.len() - 1
            }
        };
        let (stmt, columns, d) = &mut out[pos];
        let mut r = Renderer {
            d: *d,
            catalog,
            params: std::mem::take(&mut stmt.sql.params),
            aliases: 0,
            remotes,
            rep: None,
        };
        let expr = r.fetch(fetch);
        stmt.sql.params = r.params;
        columns.push(r.d.to_text(&expr));
        stmt.roots.push(i);
    }
    Ok(out
        .into_iter()
        .map(|(mut s, cols, d)| {
            s.sql.text = format!("SELECT {}", cols.join(", "));
            s.sql = d.finish(s.sql);
            s
        })
        .collect())
}

/// Builds SQL text and collects parameters. `pub` only so the [`Dialect`] trait can name
/// it; the module is private, so it is not part of the crate's API.
pub struct Renderer<'a> {
    pub(crate) d: &'static dyn Dialect,
    pub(crate) catalog: Option<&'a Catalog>,
    pub(crate) params: Vec<Param>,
    /// Counter for unique table aliases.
    pub(crate) aliases: usize,
    /// The plan's steps into other databases and the marker their keys are written with.
    pub(crate) remotes: Remotes<'a>,
    /// The JSON of the representation joined to the row whose selection is rendered next
    /// (an `_entities` read computing `@requires` fields); taken by that selection.
    pub(crate) rep: Option<String>,
}

impl Renderer<'_> {
    pub(crate) fn bind(&mut self, p: Param) -> String {
        let placeholder = self.d.placeholder(self.params.len() + 1, &p);
        self.params.push(p);
        placeholder
    }

    pub(crate) fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// The JSON expression of a root fetch.
    ///
    /// Placeholders are bound in the order they appear in the text, each once per use, so a
    /// dialect with positional placeholders (MySQL's `?`) binds the same list: the
    /// projection (which may bind relation arguments) comes before the filter.
    fn fetch(&mut self, f: &Fetch) -> String {
        let t = self.alias();
        let data = format!("{t}.data");
        let view = self.d.ident(&f.view);
        match &f.shape {
            Shape::One(sel) => {
                let obj = self.selection(sel, &data);
                let filter = self.where_clause(f.filter.as_ref(), &t, &f.view);
                let order = self.order_by(&f.order, &t, Some(&f.view), false);
                let rows = Rows {
                    from: &view,
                    alias: &t,
                    filter: &filter,
                    order: &order,
                    limit: Some("1"),
                    offset: None,
                    fence: true,
                    correlated: false,
                };
                self.d.one(&obj, &rows)
            }
            Shape::List { selection, .. } if f.entity.is_some() => {
                let read = f.entity.as_deref().expect("matched");
                self.entity_rows(f, selection, read, &t)
            }
            Shape::List {
                selection,
                limit,
                offset,
            } => {
                let obj = self.selection(selection, &data);
                let filter = self.where_clause(f.filter.as_ref(), &t, &f.view);
                let order = self.order_by(&f.order, &t, Some(&f.view), false);
                let limit = self.bind(Param::Int(clamp_i64(*limit)));
                let offset = (*offset > 0).then(|| self.bind(Param::Int(clamp_i64(*offset))));
                let rows = Rows {
                    from: &view,
                    alias: &t,
                    filter: &filter,
                    order: &order,
                    limit: Some(&limit),
                    offset: offset.as_deref(),
                    fence: true,
                    correlated: false,
                };
                self.d.list(&obj, &rows)
            }
            Shape::Connection(c) => self.connection(c, f, &t),
        }
    }

    /// The rows of an `_entities` read (the keys' rows, read as any list), each as a JSON
    /// array `[object, key value…]`. When the selection computes fields from `@requires`
    /// fields, each row is joined to its representation by key, so the computed fields read
    /// the values it brought.
    fn entity_rows(
        &mut self,
        f: &Fetch,
        selection: &Selection,
        read: &EntityRead,
        t: &str,
    ) -> String {
        let data = format!("{t}.data");
        let joined = read.representations.as_ref().map(|reps| {
            let r = self.alias();
            let rep = self.d.element_json(&r);
            self.rep = Some(rep.clone());
            (reps, r, rep)
        });
        let obj = self.selection(selection, &data);
        let mut items = vec![obj];
        items.extend(read.key.iter().map(|k| self.d.json_at(&data, &k.path)));
        let row = self.d.json_array(&items);
        let filter = self.where_clause(f.filter.as_ref(), t, &f.view);
        let count = match &joined {
            Some((reps, _, _)) => reps.rows.as_array().map_or(0, Vec::len),
            None => match &f.shape {
                Shape::List { limit, .. } => *limit as usize,
                _ => 1,
            },
        };
        let limit = self.bind(Param::Int(clamp_i64(count as u64)));
        let view = self.d.ident(&f.view);
        let rows = Rows {
            from: &view,
            alias: t,
            filter: &filter,
            order: &[],
            limit: Some(&limit),
            offset: None,
            fence: true,
            correlated: false,
        };
        let Some((reps, r, rep)) = joined else {
            return self.d.list(&row, &rows);
        };
        let rows = self.d.rows(&rows);
        let p = self.bind(Param::Text(reps.rows.to_string()));
        let on: Vec<String> = read
            .key
            .iter()
            .zip(&reps.key)
            .map(|(target, graphql)| {
                let row = self.d.key_text(&self.d.text_at(&data, &target.path));
                let given = self.d.key_text(&self.d.text_at(&rep, graphql));
                format!("{row} = {given}")
            })
            .collect();
        let from = format!(
            "{rows} JOIN {} ON {}",
            self.d.json_rows(&p, &r),
            on.join(" AND ")
        );
        self.d.list(
            &row,
            &Rows {
                from: &from,
                alias: "",
                filter: "",
                order: &[],
                limit: None,
                offset: None,
                fence: false,
                correlated: false,
            },
        )
    }

    /// ` WHERE <filter>` over rows of `view` aliased `t`, or nothing. Rendered afresh at each
    /// use, so its placeholders are never written twice.
    fn where_clause(&mut self, filter: Option<&Filter>, t: &str, view: &str) -> String {
        match filter {
            Some(f) => format!(" WHERE {}", self.filter(f, t, view)),
            None => String::new(),
        }
    }

    /// The `ORDER BY` keys over rows aliased `t`. With `view`, a key that the view also has
    /// as a column of a compatible type sorts on that column (indexes; the row's JSON is then
    /// built after the sort and limit, only for the rows kept).
    pub(crate) fn order_by(
        &mut self,
        order: &[OrderKey],
        t: &str,
        view: Option<&str>,
        reverse: bool,
    ) -> Vec<String> {
        let data = format!("{t}.data");
        order
            .iter()
            .map(|k| {
                let desc = k.descending != reverse;
                let nulls_first = k.nulls_first != reverse;
                let expr = match view.and_then(|v| self.column(v, &k.target, None, None)) {
                    Some(_) => format!("{t}.{}", self.d.ident(&k.target.path[0])),
                    None => self.d.typed_at(&data, &k.target.path, k.target.kind),
                };
                self.d.order_key(&expr, desc, nulls_first, k.nullable)
            })
            .collect()
    }

    /// A column of the root view usable instead of the JSON path, when the catalog has one
    /// of a compatible type (it can use the view's indexes).
    fn column(
        &self,
        view: &str,
        target: &Target,
        op: Option<Op>,
        value: Option<&Json>,
    ) -> Option<SqlType> {
        if target.path.len() != 1 {
            return None;
        }
        let ty = self.catalog?.column(view, &target.path[0])?;
        // A value that is not a UUID cannot match a uuid column; comparing the JSON text
        // instead gives the right (empty) answer rather than a cast error.
        if ty == SqlType::Uuid && value.is_some_and(|v| !is_uuid_value(v)) {
            return None;
        }
        let like = matches!(
            op,
            Some(
                Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith | Op::Like | Op::ILike
            )
        );
        let fits = match target.kind {
            ScalarKind::Id | ScalarKind::Uuid | ScalarKind::Text => {
                matches!(ty, SqlType::Text) || (matches!(ty, SqlType::Uuid) && !like)
            }
            ScalarKind::Int | ScalarKind::Float | ScalarKind::Decimal => {
                matches!(ty, SqlType::Integer | SqlType::Numeric) && !like
            }
            ScalarKind::Boolean => ty == SqlType::Boolean,
            ScalarKind::DateTime => ty == SqlType::Timestamp && !like,
            ScalarKind::Date => ty == SqlType::Date && !like,
            ScalarKind::Json => false,
        };
        fits.then_some(ty)
    }

    /// A filter as a SQL condition on rows of `view` aliased `t`.
    pub(crate) fn filter(&mut self, f: &Filter, t: &str, view: &str) -> String {
        let data = format!("{t}.data");
        match f {
            Filter::And(parts) | Filter::Or(parts) => {
                let joiner = if matches!(f, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                if parts.is_empty() {
                    // An empty AND is true, an empty OR (`_or: []`, `_not: {}`) false.
                    return (if matches!(f, Filter::And(_)) {
                        "(1 = 1)"
                    } else {
                        "(1 = 0)"
                    })
                    .into();
                }
                let sql: Vec<String> = parts.iter().map(|p| self.filter(p, t, view)).collect();
                format!("({})", sql.join(joiner))
            }
            Filter::Not(inner) => format!("NOT {}", self.filter(inner, t, view)),
            Filter::IsNull { target, is_null } => {
                let expr = match self.column(view, target, None, None) {
                    Some(_) => format!("{t}.{}", self.d.ident(&target.path[0])),
                    None => self.d.text_at(&data, &target.path),
                };
                format!("({expr} IS {}NULL)", if *is_null { "" } else { "NOT " })
            }
            Filter::Compare { target, op, value } => self.compare(target, *op, value, t, view),
        }
    }

    fn compare(&mut self, target: &Target, op: Op, value: &Json, t: &str, view: &str) -> String {
        let data = format!("{t}.data");
        let column = self.column(view, target, Some(op), Some(value));
        let expr = match column {
            Some(_) => format!("{t}.{}", self.d.ident(&target.path[0])),
            None => self.d.typed_at(&data, &target.path, target.kind),
        };
        let text_expr = match column {
            Some(SqlType::Text) => expr.clone(),
            _ => self.d.text_at(&data, &target.path),
        };
        match op {
            Op::In | Op::Nin => {
                let items = value.as_array().cloned().unwrap_or_default();
                let p = self.bind(self.d.bind_list(&items));
                let cond = self.d.in_list(&expr, &p, target.kind, column);
                if op == Op::In {
                    format!("({cond})")
                } else {
                    format!("(NOT ({cond}))")
                }
            }
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith => {
                let needle = escape_like(value.as_str().unwrap_or_default());
                let p = self.bind(Param::Text(needle));
                let pattern = match op {
                    Op::StartsWith => self.d.concat(&[&p, "'%'"]),
                    Op::EndsWith => self.d.concat(&["'%'", &p]),
                    _ => self.d.concat(&["'%'", &p, "'%'"]),
                };
                format!(
                    "({})",
                    self.d.like(&text_expr, &pattern, op == Op::IContains)
                )
            }
            Op::Like | Op::ILike => {
                let p = self.bind(Param::Text(value.as_str().unwrap_or_default().to_string()));
                format!("({})", self.d.like(&text_expr, &p, op == Op::ILike))
            }
            _ => {
                let param = self.d.bind_value(value, target.kind);
                let p = self.bind(param);
                let rhs = match column {
                    Some(c) => self.d.column_param(&p, c),
                    None => self.d.typed_param(&p, target.kind),
                };
                let sym = match op {
                    Op::Eq => "=",
                    Op::Neq => "<>",
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    _ => "<=",
                };
                if op == Op::Neq {
                    // `neq` keeps rows where the value is absent, as users expect.
                    format!("({expr} <> {rhs} OR {expr} IS NULL)")
                } else {
                    format!("({expr} {sym} {rhs})")
                }
            }
        }
    }

    /// The JSON object of a selection over the JSON value `base`.
    pub(crate) fn selection(&mut self, sel: &Selection, base: &str) -> String {
        // The representation is this selection's only: nested ones read their own rows.
        let rep = self.rep.take();
        let mut pairs = Vec::with_capacity(sel.items.len());
        for item in &sel.items {
            let (key, expr) = match item {
                Item::Typename { key } => (key, self.d.literal(&sel.type_name)),
                Item::Value {
                    key,
                    path,
                    enum_map: None,
                } => (key, self.d.json_at(base, path)),
                Item::Value {
                    key,
                    path,
                    enum_map: Some(map),
                } => {
                    let text = self.d.text_at(base, path);
                    let arms: Vec<String> = map
                        .iter()
                        .map(|(stored, name)| {
                            format!(
                                "WHEN {} THEN {}",
                                self.d.literal(stored),
                                self.d.literal(name)
                            )
                        })
                        .collect();
                    (key, format!("CASE {text} {} END", arms.join(" ")))
                }
                Item::Object {
                    key,
                    path,
                    selection,
                } => {
                    let nested_base = self.d.json_at(base, path);
                    let obj = self.selection(selection, &nested_base);
                    (key, self.d.if_object(base, path, &obj))
                }
                Item::ObjectList {
                    key,
                    path,
                    selection,
                } => {
                    let e = self.alias();
                    let element_base = self.d.element_base(&e);
                    let obj = self.selection(selection, &element_base);
                    (key, self.d.object_array(base, path, &e, &obj))
                }
                Item::Related { key, related } => {
                    let local = self
                        .d
                        .text_at(base, std::slice::from_ref(&related.local_key));
                    (key, self.related(related, &local))
                }
                Item::Remote { key, step } => (key, self.remote_marker(*step, base)),
                Item::Computed { key, parts, kind } => {
                    (key, self.computed(parts, *kind, base, rep.as_deref()))
                }
            };
            pairs.push((key.as_str(), expr));
        }
        self.d.object(&pairs)
    }

    /// A computed field's value: its expression with each field it reads from the row
    /// (`base`), or, for a required field when the row was joined to its representation
    /// (`rep`), from the representation; as a JSON value of `kind`.
    fn computed(
        &mut self,
        parts: &[crate::schema::ComputedPart],
        kind: ScalarKind,
        base: &str,
        rep: Option<&str>,
    ) -> String {
        use crate::schema::ComputedPart;
        let mut expr = String::new();
        for part in parts {
            match part {
                ComputedPart::Sql(text) => expr.push_str(text),
                ComputedPart::Field(f) => {
                    let read = match rep {
                        Some(rep) if f.required => self.d.typed_at(rep, &f.graphql, f.kind),
                        _ => self.d.typed_at(base, &f.data, f.kind),
                    };
                    expr.push_str(&read);
                }
            }
        }
        if kind == ScalarKind::Boolean {
            let json = self.d.json_bool(&format!("({expr})"));
            return format!("CASE WHEN ({expr}) IS NULL THEN NULL ELSE {json} END");
        }
        self.d.computed(&expr, kind)
    }

    /// Rows of another view matched on `remote_key = local`, the parent's key as text.
    pub(crate) fn related(&mut self, r: &Related, local: &str) -> String {
        let t = self.alias();
        let data = format!("{t}.data");
        let cond = self.key_match(r, &t, local);
        let obj = self.selection(&r.selection, &data);
        let view = self.d.ident(&r.view);
        let sub = if r.list {
            // Placeholders are bound in text order: filter, then limit, then offset.
            let filter = match &r.filter {
                Some(f) => format!(" WHERE {cond} AND {}", self.filter(f, &t, &r.view)),
                None => format!(" WHERE {cond}"),
            };
            let order = self.order_by(&r.order, &t, Some(&r.view), false);
            let limit = r.limit.map(|l| self.bind(Param::Int(clamp_i64(l))));
            let offset = (r.offset > 0).then(|| self.bind(Param::Int(clamp_i64(r.offset))));
            let rows = Rows {
                from: &view,
                alias: &t,
                filter: &filter,
                order: &order,
                limit: limit.as_deref(),
                offset: offset.as_deref(),
                fence: true,
                correlated: true,
            };
            self.d.list(&obj, &rows)
        } else {
            let filter = format!(" WHERE {cond}");
            let rows = Rows {
                from: &view,
                alias: &t,
                filter: &filter,
                order: &[],
                limit: Some("1"),
                offset: None,
                fence: true,
                correlated: true,
            };
            self.d.one(&obj, &rows)
        };
        self.d.embed(&sub)
    }

    /// `remote_key` of `r.view`'s row `t` equals `local` (text): on the view's column when
    /// the catalog has one (its index), else on the JSON value.
    pub(crate) fn key_match(&mut self, r: &Related, t: &str, local: &str) -> String {
        let remote_target = Target {
            path: vec![r.remote_key.clone()],
            kind: ScalarKind::Text,
        };
        match self.column(&r.view, &remote_target, Some(Op::Eq), None) {
            Some(c) => format!(
                "{t}.{} = {}",
                self.d.ident(&r.remote_key),
                self.d.column_param(local, c)
            ),
            None => {
                let remote = self
                    .d
                    .text_at(&format!("{t}.data"), std::slice::from_ref(&r.remote_key));
                format!("{} = {}", self.d.key_text(&remote), self.d.key_text(local))
            }
        }
    }

    /// A Relay connection over the rows of `f.view` aliased `t`, with keyset conditions from
    /// the cursors. The filter, the page size and the cursor values are bound afresh at each
    /// place they are written, in text order (see [`Renderer::fetch`]).
    fn connection(&mut self, c: &Connection, f: &Fetch, t: &str) -> String {
        let data = format!("{t}.data");
        let from = format!("{} {t}", self.d.ident(&f.view));
        let filter = f.filter.as_ref();
        // Without edges or pageInfo no page is read: bind nothing it would use.
        let needs_page = c.items.iter().any(|i| {
            matches!(
                i,
                ConnectionItem::Edges { .. } | ConnectionItem::PageInfo { .. }
            )
        });
        if !needs_page {
            let mut pairs: Vec<(&str, String)> = Vec::with_capacity(c.items.len());
            for i in &c.items {
                let pair = match i {
                    ConnectionItem::Typename { key, type_name } => {
                        (key.as_str(), self.d.literal(type_name))
                    }
                    ConnectionItem::TotalCount { key } => {
                        (key.as_str(), self.total_count(&from, filter, t, &f.view))
                    }
                    ConnectionItem::Edges { key, .. } | ConnectionItem::PageInfo { key, .. } => {
                        (key.as_str(), "NULL".into())
                    }
                };
                pairs.push(pair);
            }
            return format!("(SELECT {})", self.d.object(&pairs));
        }
        let node = c
            .items
            .iter()
            .find_map(|i| match i {
                ConnectionItem::Edges { items, .. } => items.iter().find_map(|e| match e {
                    EdgeItem::Node { selection, .. } => Some(selection.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .map(|sel| self.selection(&sel, &data))
            .unwrap_or_else(|| "NULL".to_string());
        let sort_values: Vec<String> = f
            .order
            .iter()
            .map(|k| self.d.json_at(&data, &k.target.path))
            .collect();
        let cursor = self.d.cursor(&sort_values);
        let order = order_clause(&self.order_by(&f.order, t, None, c.backwards));
        let over = order.trim_start().to_string();
        let mut conds: Vec<String> = Vec::new();
        if let Some(filter) = filter {
            conds.push(self.filter(filter, t, &f.view));
        }
        if let Some(after) = &c.after {
            conds.push(self.keyset(&f.order, after, &data, true));
        }
        if let Some(before) = &c.before {
            conds.push(self.keyset(&f.order, before, &data, false));
        }
        let page_where = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let fetch_n = self.bind(Param::Int(c.count as i64 + 1));
        let page = format!(
            "page AS (SELECT {node} AS node, {cursor} AS row_cursor, row_number() OVER ({over}) AS n FROM {from}{page_where}{order} LIMIT {fetch_n})"
        );
        let count = Param::Int(c.count as i64);
        // Output order: forward pages by n ascending; backward pages were read reversed.
        let (first_dir, last_dir) = if c.backwards {
            ("DESC", "ASC")
        } else {
            ("ASC", "DESC")
        };
        let edge_order = if c.backwards { "DESC" } else { "ASC" };
        let mut pairs = Vec::new();
        for item in &c.items {
            match item {
                ConnectionItem::Typename { key, type_name } => {
                    pairs.push((key.as_str(), self.d.literal(type_name)))
                }
                ConnectionItem::TotalCount { key } => {
                    let total = self.total_count(&from, filter, t, &f.view);
                    pairs.push((key.as_str(), total));
                }
                ConnectionItem::Edges { key, items } => {
                    let mut edge = Vec::new();
                    for e in items {
                        match e {
                            EdgeItem::Typename { key, type_name } => {
                                edge.push((key.as_str(), self.d.literal(type_name)))
                            }
                            EdgeItem::Cursor { key } => {
                                edge.push((key.as_str(), "p.row_cursor".to_string()))
                            }
                            EdgeItem::Node { key, .. } => {
                                edge.push((key.as_str(), self.d.embed("p.node")))
                            }
                        }
                    }
                    let obj = self.d.object(&edge);
                    let n = self.bind(count.clone());
                    let filter = format!(" WHERE p.n <= {n}");
                    let order = [format!("p.n {edge_order}")];
                    let rows = Rows {
                        from: "page",
                        alias: "p",
                        filter: &filter,
                        order: &order,
                        limit: None,
                        offset: None,
                        fence: false,
                        correlated: false,
                    };
                    let sub = self.d.list(&obj, &rows);
                    pairs.push((key.as_str(), self.d.embed(&sub)));
                }
                ConnectionItem::PageInfo { key, items } => {
                    let mut info = Vec::new();
                    for i in items {
                        match i {
                            PageInfoItem::Typename { key } => {
                                info.push((key.as_str(), self.d.literal("PageInfo")))
                            }
                            PageInfoItem::HasNextPage { key } => {
                                let expr = if c.backwards {
                                    self.beyond(f, c.before.as_ref(), t, &from, false)
                                } else {
                                    self.more(&count)
                                };
                                info.push((key.as_str(), self.d.json_bool(&expr)));
                            }
                            PageInfoItem::HasPreviousPage { key } => {
                                let expr = if c.backwards {
                                    self.more(&count)
                                } else {
                                    self.beyond(f, c.after.as_ref(), t, &from, true)
                                };
                                info.push((key.as_str(), self.d.json_bool(&expr)));
                            }
                            PageInfoItem::StartCursor { key } => {
                                let n = self.bind(count.clone());
                                info.push((
                                    key.as_str(),
                                    format!("(SELECT p.row_cursor FROM page p WHERE p.n <= {n} ORDER BY p.n {first_dir} LIMIT 1)"),
                                ))
                            }
                            PageInfoItem::EndCursor { key } => {
                                let n = self.bind(count.clone());
                                info.push((
                                    key.as_str(),
                                    format!("(SELECT p.row_cursor FROM page p WHERE p.n <= {n} ORDER BY p.n {last_dir} LIMIT 1)"),
                                ))
                            }
                        }
                    }
                    pairs.push((key.as_str(), self.d.object(&info)));
                }
            }
        }
        let obj = self.d.object(&pairs);
        format!("(WITH {page} SELECT {obj})")
    }

    /// `(SELECT count(*) FROM <from> [WHERE <filter>])`, the filter bound for this use.
    fn total_count(&mut self, from: &str, filter: Option<&Filter>, t: &str, view: &str) -> String {
        let where_sql = self.where_clause(filter, t, view);
        format!("(SELECT count(*) FROM {from}{where_sql})")
    }

    /// Whether the page read one row more than `count` (a further page exists).
    fn more(&mut self, count: &Param) -> String {
        let n = self.bind(count.clone());
        format!("(SELECT count(*) FROM page) > {n}")
    }

    /// Whether rows exist on the far side of a cursor (`before_side`: before the `after`
    /// cursor; otherwise at or after the `before` cursor). False without a cursor.
    fn beyond(
        &mut self,
        f: &Fetch,
        cursor: Option<&Vec<Json>>,
        t: &str,
        from: &str,
        before_side: bool,
    ) -> String {
        let Some(values) = cursor else {
            return "1 = 0".to_string();
        };
        // Rows not strictly after `after` = rows at or before it; rows not strictly before
        // `before` = rows at or after it.
        let cond = self.keyset(&f.order, values, &format!("{t}.data"), before_side);
        let filter = match &f.filter {
            Some(filter) => format!(" AND {}", self.filter(filter, t, &f.view)),
            None => String::new(),
        };
        format!("EXISTS (SELECT 1 FROM {from} WHERE NOT {cond}{filter})")
    }

    /// Rows strictly after (`after = true`) or strictly before the cursor `values` in the
    /// sort order: `k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...))`, nulls placed as sorted.
    /// Each comparison binds its own copy of the cursor value, in text order.
    fn keyset(&mut self, order: &[OrderKey], values: &[Json], data: &str, after: bool) -> String {
        let (Some((k, keys)), Some((v, rest))) = (order.split_first(), values.split_first()) else {
            return String::from("1 = 0");
        };
        let expr = self.d.typed_at(data, &k.target.path, k.target.kind);
        // `>` when the wanted side lies towards larger values: ascending and after, or
        // descending and before. Nulls lie on the wanted side when sorted that way.
        let greater = k.descending != after;
        let nulls_later = k.nulls_first != after;
        let (beyond, equal) = if v.is_null() {
            let beyond = if nulls_later {
                "1 = 0".to_string()
            } else {
                format!("{expr} IS NOT NULL")
            };
            (beyond, format!("{expr} IS NULL"))
        } else {
            let sym = if greater { ">" } else { "<" };
            let p = self.bind(self.d.bind_value(v, k.target.kind));
            let p = self.d.typed_param(&p, k.target.kind);
            let beyond = if nulls_later {
                format!("({expr} {sym} {p} OR {expr} IS NULL)")
            } else {
                format!("{expr} {sym} {p}")
            };
            let q = self.bind(self.d.bind_value(v, k.target.kind));
            let q = self.d.typed_param(&q, k.target.kind);
            (beyond, format!("{expr} = {q}"))
        };
        let cond = self.keyset(keys, rest, data, after);
        format!("({beyond} OR ({equal} AND {cond}))")
    }
}

/// A page size or offset as a SQL integer; the planner keeps them far below `i64::MAX`,
/// this only makes the conversion total.
fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Whether a filter value (or every item of a list) is shaped like a UUID.
fn is_uuid_value(v: &Json) -> bool {
    match v {
        Json::Array(items) => items.iter().all(is_uuid_value),
        // Only the text a uuid prints: then comparing as uuid and as text agree, as on SQLite.
        Json::String(s) => is_canonical_uuid(s),
        _ => false,
    }
}
