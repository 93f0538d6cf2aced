//! PostgreSQL: `json_build_object` (keeps key order, unlike jsonb), `json_agg`, `->`/`->>`
//! on the `jsonb` data column, typed casts for comparisons, `$n::type` placeholders.

use super::dialect::{push_literal, push_pairs, Dialect};
use super::mutation::schema_error;
use super::outbox::{literal, seq_list, trigger_name, Capture, Outbox};
use super::read::Renderer;
use super::CallSql;
use super::{json_text, Param, SqlQuery};
use crate::catalog::{Function, FunctionReturn, SqlType};
use crate::config::DatabaseKind;
use crate::error::{ErrorCode, GraphQLError};
use crate::plan::{canonical_uuid, Mutate};
use crate::schema::ScalarKind;
use serde_json::Value as Json;

/// The PostgreSQL dialect.
pub(crate) struct Postgres;

/// Pairs per `json_build_object` call (it takes at most 100 arguments).
const CHUNK_PAIRS: usize = 50;

/// `'a'->'b'` path steps; keys are schema identifiers, quoted as literals anyway.
fn push_steps(out: &mut String, path: &[String], last_text: bool) {
    for (i, k) in path.iter().enumerate() {
        out.push_str(if last_text && i + 1 == path.len() {
            "->>"
        } else {
            "->"
        });
        push_literal(out, k);
    }
}

fn cast_for(kind: ScalarKind) -> Option<&'static str> {
    match kind {
        ScalarKind::Int | ScalarKind::Float | ScalarKind::Decimal => Some("numeric"),
        ScalarKind::Boolean => Some("boolean"),
        ScalarKind::DateTime => Some("timestamptz"),
        ScalarKind::Date => Some("date"),
        // A UUID compares as its lowercase canonical text, as on SQLite (values are
        // normalised when planned), so a stored value that is not a UUID cannot fail a cast.
        ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid | ScalarKind::Json => None,
    }
}

fn column_cast(column: SqlType) -> Option<&'static str> {
    match column {
        SqlType::Uuid => Some("uuid"),
        SqlType::Integer => Some("int8"),
        SqlType::Numeric => Some("numeric"),
        SqlType::Boolean => Some("boolean"),
        SqlType::Timestamp => Some("timestamptz"),
        SqlType::Date => Some("date"),
        SqlType::Text | SqlType::Json | SqlType::Jsonb | SqlType::Other => None,
    }
}

impl Dialect for Postgres {
    /// `set_config(name, value, false)`: session-level. The server tracks what each pooled
    /// connection holds and sends this only when it differs from what the next statement
    /// must see (every statement names its settings, the server's own none), so a pooled
    /// connection never carries one request's settings into another's statement.
    fn session_prelude(&self, settings: &[(String, String)]) -> Option<SqlQuery> {
        if settings.is_empty() {
            return None;
        }
        let calls: Vec<String> = (0..settings.len())
            .map(|i| {
                format!(
                    "set_config(${}::text, ${}::text, false)",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        let params = settings
            .iter()
            .flat_map(|(k, v)| [Param::Text(k.clone()), Param::Text(v.clone())])
            .collect();
        Some(SqlQuery {
            text: format!("SELECT {}", calls.join(", ")),
            params,
        })
    }

    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Postgresql
    }

    /// A login role owning the database, when there is one.
    fn create_database(&self, database: &str, owner: Option<&str>) -> Vec<String> {
        match owner {
            Some(o) => vec![
                format!("CREATE ROLE {} LOGIN", self.ident(o)),
                format!(
                    "CREATE DATABASE {} OWNER {}",
                    self.ident(database),
                    self.ident(o)
                ),
            ],
            None => vec![format!("CREATE DATABASE {}", self.ident(database))],
        }
    }

    /// `WITH (FORCE)` ends the connections still open on it (PostgreSQL 13 and later).
    fn drop_database(&self, database: &str, owner: Option<&str>) -> Vec<String> {
        let mut out = vec![format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.ident(database)
        )];
        if let Some(o) = owner {
            out.push(format!("DROP ROLE IF EXISTS {}", self.ident(o)));
        }
        out
    }

    fn database_names(&self) -> Option<&'static str> {
        Some("SELECT datname::text FROM pg_database WHERE NOT datistemplate ORDER BY 1")
    }

    fn holds_json(&self, column: SqlType) -> bool {
        matches!(column, SqlType::Json | SqlType::Jsonb)
    }

    fn missing_mutation(&self, function: &str, database: &str) -> String {
        format!("function '{function}' does not exist in database '{database}'")
    }

    fn no_limit_count(&self) -> &'static str {
        "ALL"
    }

    fn placeholder(&self, n: usize, param: &Param) -> String {
        let ty = match param {
            Param::Text(_) => "text",
            Param::Int(_) => "int8",
            Param::Float(_) => "float8",
            Param::Bool(_) => "bool",
        };
        format!("${n}::{ty}")
    }

    fn json_at(&self, base: &str, path: &[String]) -> String {
        let mut out = String::with_capacity(base.len() + 16 * path.len());
        out.push_str(base);
        push_steps(&mut out, path, false);
        out
    }

    fn text_at(&self, base: &str, path: &[String]) -> String {
        let mut out = String::with_capacity(base.len() + 16 * path.len() + 2);
        out.push('(');
        out.push_str(base);
        push_steps(&mut out, path, true);
        out.push(')');
        out
    }

    fn typed_at(&self, base: &str, path: &[String], kind: ScalarKind) -> String {
        if kind == ScalarKind::Json {
            return self.json_at(base, path);
        }
        match cast_for(kind) {
            Some(t) => format!("{}::{t}", self.text_at(base, path)),
            None => self.text_at(base, path),
        }
    }

    fn bind_value(&self, value: &Json, kind: ScalarKind) -> Param {
        match (kind, value) {
            (ScalarKind::Boolean, Json::Bool(b)) => Param::Bool(*b),
            (ScalarKind::Json, v) => Param::Text(v.to_string()),
            (_, v) => Param::Text(json_text(v)),
        }
    }

    fn typed_param(&self, placeholder: &str, kind: ScalarKind) -> String {
        match (kind, cast_for(kind)) {
            (ScalarKind::Json, _) => format!("{placeholder}::jsonb"),
            (ScalarKind::Boolean, _) => placeholder.to_string(),
            (_, Some(t)) => format!("{placeholder}::{t}"),
            (_, None) => placeholder.to_string(),
        }
    }

    fn column_param(&self, placeholder: &str, column: SqlType) -> String {
        match column_cast(column) {
            Some("boolean") => placeholder.to_string(),
            Some(t) => format!("{placeholder}::{t}"),
            None => placeholder.to_string(),
        }
    }

    fn in_list(&self, expr: &str, list: &str, kind: ScalarKind, column: Option<SqlType>) -> String {
        let cast = match column {
            Some(c) => column_cast(c),
            None => cast_for(kind),
        };
        let array = format!("ARRAY(SELECT jsonb_array_elements_text({list}::jsonb))");
        match cast {
            Some(t) => format!("{expr} = ANY({array}::{t}[])"),
            None => format!("{expr} = ANY({array})"),
        }
    }

    fn bind_list(&self, values: &[Json]) -> Param {
        // A text[] literal would need its own escaping; a JSON array is unambiguous.
        Param::Text(
            Json::Array(values.iter().map(|v| Json::String(json_text(v))).collect()).to_string(),
        )
    }

    fn like(&self, expr: &str, pattern: &str, ilike: bool) -> String {
        // Backslash is PostgreSQL's default escape; spelt out so it does not depend on it.
        let op = if ilike { "ILIKE" } else { "LIKE" };
        format!("{expr} {op} {pattern} ESCAPE E'\\\\'")
    }

    fn object(&self, pairs: &[(&str, String)]) -> String {
        // json_build_object takes at most 100 arguments: wider objects are built in 50-pair
        // chunks joined as text, which keeps the key order (jsonb would sort the keys). Only
        // the outermost brace of each chunk is cut (`left(…, -1)` drops the last character,
        // `substr(…, 2)` the first), so a nested object or a string ending in a brace at a
        // chunk's edge keeps its own.
        let chunk = |out: &mut String, pairs: &[(&str, String)]| {
            out.push_str("json_build_object(");
            push_pairs(out, pairs);
            out.push(')');
        };
        let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        let mut out = String::with_capacity(size + 32);
        if pairs.len() <= CHUNK_PAIRS {
            chunk(&mut out, pairs);
            return out;
        }
        let last = (pairs.len() - 1) / CHUNK_PAIRS;
        out.push('(');
        for (i, c) in pairs.chunks(CHUNK_PAIRS).enumerate() {
            if i > 0 {
                out.push_str(" || ', ' || ");
            }
            let mut text = String::new();
            chunk(&mut text, c);
            text.push_str("::text");
            if i < last {
                text = format!("left({text}, -1)");
            }
            if i > 0 {
                text = format!("substr({text}, 2)");
            }
            out.push_str(&text);
        }
        out.push_str(")::json");
        out
    }

    fn aggregate(&self, expr: &str) -> String {
        format!("coalesce(json_agg({expr}), '[]'::json)")
    }

    fn if_object(&self, base: &str, path: &[String], then: &str) -> String {
        format!(
            "CASE WHEN jsonb_typeof({}) = 'object' THEN {then} END",
            self.json_at(base, path)
        )
    }

    fn object_array(&self, base: &str, path: &[String], alias: &str, element: &str) -> String {
        let arr = self.json_at(base, path);
        format!(
            "CASE WHEN jsonb_typeof({arr}) = 'array' THEN (SELECT coalesce(json_agg({element} ORDER BY {alias}.ord), '[]'::json) FROM jsonb_array_elements({arr}) WITH ORDINALITY AS {alias}(value, ord)) END"
        )
    }

    fn element_base(&self, alias: &str) -> String {
        format!("{alias}.value")
    }

    fn embed(&self, subquery: &str) -> String {
        subquery.to_string()
    }

    fn to_text(&self, expr: &str) -> String {
        format!("({expr})::text")
    }

    fn json_bool(&self, expr: &str) -> String {
        format!("({expr})")
    }

    fn cursor(&self, values: &[String]) -> String {
        format!(
            "encode(convert_to(json_build_array({})::text, 'UTF8'), 'hex')",
            values.join(", ")
        )
    }

    fn json_array(&self, items: &[String]) -> String {
        format!("json_build_array({})", items.join(", "))
    }

    fn key_rows(&self, placeholder: &str) -> String {
        format!("jsonb_array_elements_text({placeholder}::jsonb) AS k(v)")
    }

    fn json_rows(&self, placeholder: &str, alias: &str) -> String {
        format!("jsonb_array_elements({placeholder}::jsonb) AS {alias}(v)")
    }

    fn computed(&self, expr: &str, kind: ScalarKind) -> String {
        let cast = match kind {
            ScalarKind::Int => "bigint",
            ScalarKind::Float => "float8",
            ScalarKind::Decimal => "numeric",
            ScalarKind::Text | ScalarKind::Id | ScalarKind::Uuid => "text",
            ScalarKind::Json => "jsonb",
            ScalarKind::Boolean => "boolean",
            ScalarKind::DateTime => "timestamptz",
            ScalarKind::Date => "date",
        };
        format!("({expr})::{cast}")
    }

    fn mutation_call(
        &self,
        r: &mut Renderer<'_>,
        m: &Mutate,
        f: &Function,
        bound: &[(usize, Json)],
    ) -> Result<CallSql, GraphQLError> {
        // A value the parameter's cast would reject is the client's mistake: say so
        // before the call instead of passing on PostgreSQL's error (22P02).
        for (k, (i, v)) in bound.iter().enumerate() {
            let not_uuid = v.as_str().is_some_and(|s| canonical_uuid(s).is_none());
            if f.params[*i].type_name == "uuid" && not_uuid {
                let name = m.args.get(k).map_or("argument", |(key, _)| key.as_str());
                return Err(GraphQLError::new(
                    ErrorCode::BadUserInput,
                    format!("`{name}` expects a UUID (8-4-4-4-12 hex digits)"),
                ));
            }
        }
        let args: Vec<String> = bound
            .iter()
            .map(|(i, v)| {
                let p = &f.params[*i];
                format!("{} => {}", r.d.ident(&p.name), pg_arg(r, v, &p.type_name))
            })
            .collect();
        let call = format!("{}({})", r.d.ident(&m.function), args.join(", "));
        match &f.returns {
            FunctionReturn::MutationResponse => {
                let text = format!("SELECT to_jsonb(m)::text FROM {call} m");
                Ok(CallSql::Response(SqlQuery { text, params: std::mem::take(&mut r.params) }))
            }
            FunctionReturn::Rows { .. } => {
                let obj = r.selection(&m.selection, "m.data");
                let text = if m.list {
                    let agg = r.d.aggregate("q.r");
                    format!("SELECT ({agg})::text FROM (SELECT {obj} AS r FROM {call} m) q")
                } else {
                    format!("SELECT ({obj})::text FROM {call} m LIMIT 1")
                };
                Ok(CallSql::Rows(SqlQuery { text, params: std::mem::take(&mut r.params) }))
            }
            FunctionReturn::Procedure => Err(schema_error(format!(
                "`{}` is a procedure; on PostgreSQL a mutation calls a function",
                m.function
            ))),
            FunctionReturn::Other(t) => Err(schema_error(format!(
                "function `{}` returns {t}; a mutation function must return mutation_response or SETOF a view",
                m.function
            ))),
        }
    }

    fn json_row(&self, placeholder: &str) -> String {
        format!("(SELECT {placeholder}::jsonb AS data)")
    }
}

/// A PostgreSQL argument expression cast to the parameter's type.
fn pg_arg(r: &mut Renderer<'_>, v: &Json, type_name: &str) -> String {
    if v.is_null() {
        return format!("NULL::{type_name}");
    }
    let text = match v {
        Json::String(s) => s.clone(),
        Json::Object(_) | Json::Array(_) if !type_name.ends_with("[]") => v.to_string(),
        other => other.to_string(),
    };
    if let Some(elem) = type_name.strip_suffix("[]") {
        let p = r.bind(Param::Text(if v.is_array() {
            v.to_string()
        } else {
            format!("[{text}]")
        }));
        return format!("ARRAY(SELECT jsonb_array_elements_text({p}::jsonb))::{elem}[]");
    }
    let p = r.bind(Param::Text(text));
    if type_name == "text" {
        p
    } else {
        format!("{p}::{type_name}")
    }
}

/// Events on PostgreSQL: the tables live in schema `fraiseql`. Capture runs in a deferred
/// constraint trigger, i.e. at COMMIT, so the body (a payload view reads the transaction's
/// later writes too, such as an order's items) shows the transaction's complete changes, and
/// under an advisory lock per table held from there to the end of the commit, so `seq`
/// order is commit order per table. Its `NOTIFY` wakes the relay when the transaction
/// commits (a rolled-back transaction notifies nobody).
impl Outbox for Postgres {
    fn outbox_tables(&self) -> Vec<String> {
        vec![
            "CREATE SCHEMA IF NOT EXISTS fraiseql".into(),
            // Any role may call `fraiseql.emit`; the tables stay the installer's.
            "GRANT USAGE ON SCHEMA fraiseql TO PUBLIC".into(),
            "CREATE TABLE IF NOT EXISTS fraiseql.outbox (
                seq bigserial PRIMARY KEY,
                id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
                subject text NOT NULL,
                op text NOT NULL,
                source text,
                row_data jsonb NOT NULL,
                body jsonb,
                tenant text,
                created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                published_at timestamptz,
                error text)"
                .into(),
            "CREATE INDEX IF NOT EXISTS outbox_waiting ON fraiseql.outbox (seq) \
             WHERE published_at IS NULL AND error IS NULL"
                .into(),
            "CREATE INDEX IF NOT EXISTS outbox_published ON fraiseql.outbox (published_at) \
             WHERE published_at IS NOT NULL"
                .into(),
            "CREATE TABLE IF NOT EXISTS fraiseql.inbox (
                consumer text NOT NULL,
                event_id text NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer, event_id))"
                .into(),
            "CREATE TABLE IF NOT EXISTS fraiseql.dead_letter (
                id bigserial PRIMARY KEY,
                consumer text NOT NULL,
                subject text NOT NULL,
                event_id text NOT NULL,
                body text NOT NULL,
                headers jsonb,
                error text NOT NULL,
                deliveries int NOT NULL,
                failed_at timestamptz NOT NULL DEFAULT now())"
                .into(),
            // Publishing from SQL: queued in the caller's transaction and moved into the
            // outbox by a deferred trigger at COMMIT, like the captured changes, so an event
            // emitted after a change is published after it.
            "CREATE TABLE IF NOT EXISTS fraiseql.emitted (
                n bigserial PRIMARY KEY,
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                subject text NOT NULL,
                payload jsonb NOT NULL,
                tenant text)"
                .into(),
            "CREATE OR REPLACE FUNCTION fraiseql.emit_at_commit() RETURNS trigger
             LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fraiseql$
             BEGIN
               PERFORM pg_advisory_xact_lock(hashtext('fraiseql.outbox'), hashtext(''));
               INSERT INTO fraiseql.outbox (id, subject, op, row_data, body, tenant)
               VALUES (NEW.id, NEW.subject, 'EMIT', NEW.payload, NEW.payload, NEW.tenant);
               DELETE FROM fraiseql.emitted WHERE n = NEW.n;
               PERFORM pg_notify('fraiseql_outbox', '');
               RETURN NULL;
             END $fraiseql$"
                .into(),
            "DROP TRIGGER IF EXISTS fraiseql_emit ON fraiseql.emitted".into(),
            "CREATE CONSTRAINT TRIGGER fraiseql_emit AFTER INSERT ON fraiseql.emitted \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fraiseql.emit_at_commit()"
                .into(),
            "CREATE OR REPLACE FUNCTION fraiseql.emit(p_subject text, p_payload jsonb)
             RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
             AS $fraiseql$
             DECLARE v_id uuid;
             BEGIN
               INSERT INTO fraiseql.emitted (subject, payload, tenant)
               VALUES (p_subject, p_payload, nullif(current_setting('app.tenant_id', true), ''))
               RETURNING id INTO v_id;
               RETURN v_id;
             END $fraiseql$"
                .into(),
        ]
    }

    fn installed_triggers(&self) -> SqlQuery {
        SqlQuery {
            text: "SELECT t.tgname::text, t.tgrelid::regclass::text FROM pg_trigger t \
                   WHERE NOT t.tgisinternal AND t.tgname LIKE 'fraiseql\\_capture\\_%'"
                .into(),
            params: vec![],
        }
    }

    fn drop_trigger(&self, name: &str, table: &str) -> Vec<String> {
        // `table` is as `regclass` prints it: already quoted where it needs to be.
        vec![format!(
            "DROP TRIGGER IF EXISTS {} ON {table}",
            self.ident(name)
        )]
    }

    fn trigger_names(&self, rule: &Capture) -> Vec<String> {
        // One deferred trigger for all the rule's operations.
        vec![trigger_name(rule.index, None)]
    }

    fn capture(&self, rule: &Capture) -> Vec<String> {
        let table = self.ident(&rule.table);
        let function = format!("fraiseql.{}", self.ident(&trigger_name(rule.index, None)));
        let mut body = String::from("DECLARE v_rec ");
        body.push_str(&format!(
            "{table}%ROWTYPE; v_row jsonb; v_body jsonb;\nBEGIN\n"
        ));
        body.push_str("IF TG_OP = 'DELETE' THEN v_rec := OLD; ELSE v_rec := NEW; END IF;\n");
        if let Some(condition) = &rule.condition {
            body.push_str(&format!(
                "IF NOT EXISTS (SELECT 1 FROM (SELECT v_rec.*) AS r WHERE ({condition})) \
                 THEN RETURN NULL; END IF;\n"
            ));
        }
        if rule.table_order {
            body.push_str(&format!(
                "PERFORM pg_advisory_xact_lock(hashtext('fraiseql.outbox'), hashtext({}));\n",
                literal(&rule.table)
            ));
        }
        body.push_str("v_row := to_jsonb(v_rec);\n");
        match &rule.view {
            Some((view, key)) => body.push_str(&format!(
                "v_body := COALESCE((SELECT v.data::jsonb FROM {} AS v WHERE v.{} = v_rec.{} \
                 LIMIT 1), v_row);\n",
                self.ident(view),
                self.ident(key),
                self.ident(key)
            )),
            None => body.push_str("v_body := v_row;\n"),
        }
        if rule.include_old {
            body.push_str(
                "IF TG_OP = 'UPDATE' THEN \
                 v_body := jsonb_build_object('old', to_jsonb(OLD), 'new', v_body); END IF;\n",
            );
        }
        body.push_str(&format!(
            "INSERT INTO fraiseql.outbox (subject, op, source, row_data, body, tenant) \
             VALUES ({}, TG_OP, {}, v_row, v_body, \
             nullif(current_setting('app.tenant_id', true), ''));\n\
             PERFORM pg_notify('fraiseql_outbox', '');\nRETURN NULL;\nEND",
            literal(&rule.subject),
            literal(&rule.table)
        ));
        let events: Vec<&str> = rule.ops.iter().map(|op| op.as_str()).collect();
        let trigger = self.ident(&trigger_name(rule.index, None));
        vec![
            // As the installer, with the search path it installed with: a writer whose role
            // cannot touch `fraiseql` (or resolves names elsewhere) still commits.
            format!(
                "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql \
                 SECURITY DEFINER SET search_path FROM CURRENT \
                 AS $fraiseql$\n{body}\n$fraiseql$"
            ),
            format!("DROP TRIGGER IF EXISTS {trigger} ON {table}"),
            format!(
                "CREATE CONSTRAINT TRIGGER {trigger} AFTER {} ON {table} \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {function}()",
                events.join(" OR ")
            ),
        ]
    }

    fn check_condition(&self, table: &str, condition: &str) -> String {
        format!(
            "SELECT 1 FROM {} AS r WHERE ({condition}) LIMIT 0",
            self.ident(table)
        )
    }

    fn pending(&self, limit: usize) -> SqlQuery {
        SqlQuery {
            text: "SELECT seq::text, id::text, subject, op, source, body::text, row_data::text, \
                   NULL, NULL, NULL, tenant, \
                   to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                   FROM fraiseql.outbox AS o WHERE published_at IS NULL AND error IS NULL \
                   ORDER BY o.seq LIMIT $1::int8"
                .into(),
            params: vec![Param::Int(limit as i64)],
        }
    }

    fn view_body(&self, view: &str, key: &str, value: &str) -> SqlQuery {
        SqlQuery {
            text: format!(
                "SELECT data::text FROM {} WHERE {}::text = $1::text LIMIT 1",
                self.ident(view),
                self.ident(key)
            ),
            params: vec![Param::Text(value.into())],
        }
    }

    fn mark_published(&self, seqs: &[i64]) -> SqlQuery {
        let (marks, params) = seq_list(seqs, 1, |n, _| format!("${n}::int8"));
        SqlQuery {
            text: format!("UPDATE fraiseql.outbox SET published_at = now() WHERE seq IN ({marks})"),
            params,
        }
    }

    fn mark_failed(&self, seq: i64, error: &str) -> SqlQuery {
        SqlQuery {
            text: "UPDATE fraiseql.outbox SET error = $2::text WHERE seq = $1::int8".into(),
            params: vec![Param::Int(seq), Param::Text(error.into())],
        }
    }

    fn purge(&self, age_secs: u64) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql.outbox \
                   WHERE published_at < now() - make_interval(secs => $1::float8)"
                .into(),
            params: vec![Param::Float(age_secs as f64)],
        }
    }

    fn purge_inbox(&self, age_secs: u64) -> SqlQuery {
        SqlQuery {
            text: "DELETE FROM fraiseql.inbox \
                   WHERE processed_at < now() - make_interval(secs => $1::float8)"
                .into(),
            params: vec![Param::Float(age_secs as f64)],
        }
    }

    fn depth(&self) -> SqlQuery {
        SqlQuery {
            text: "SELECT count(*)::text, \
                   extract(epoch FROM clock_timestamp() - min(created_at))::float8::text \
                   FROM fraiseql.outbox WHERE published_at IS NULL AND error IS NULL"
                .into(),
            params: vec![],
        }
    }

    fn inbox_insert(&self, consumer: &str, event_id: &str) -> SqlQuery {
        SqlQuery {
            text: "INSERT INTO fraiseql.inbox (consumer, event_id) VALUES ($1::text, $2::text) \
                   ON CONFLICT DO NOTHING"
                .into(),
            params: vec![Param::Text(consumer.into()), Param::Text(event_id.into())],
        }
    }

    fn handler_call(&self, handler: &str, body: &str, headers: Option<&str>) -> SqlQuery {
        let mut params = vec![Param::Text(body.into())];
        let args = match headers {
            Some(h) => {
                params.push(Param::Text(h.into()));
                "$1::text::jsonb, $2::text::jsonb"
            }
            None => "$1::text::jsonb",
        };
        SqlQuery {
            text: format!("SELECT {}({args})", self.ident(handler)),
            params,
        }
    }

    fn dead_letter(
        &self,
        consumer: &str,
        subject: &str,
        event_id: &str,
        body: &str,
        headers: &str,
        error: &str,
        deliveries: u32,
    ) -> SqlQuery {
        SqlQuery {
            text: "INSERT INTO fraiseql.dead_letter \
                   (consumer, subject, event_id, body, headers, error, deliveries) \
                   VALUES ($1::text, $2::text, $3::text, $4::text, $5::text::jsonb, $6::text, $7::int8::int4)"
                .into(),
            params: vec![
                Param::Text(consumer.into()),
                Param::Text(subject.into()),
                Param::Text(event_id.into()),
                Param::Text(body.into()),
                Param::Text(headers.into()),
                Param::Text(error.into()),
                Param::Int(i64::from(deliveries)),
            ],
        }
    }

    fn lease_take(&self, _holder: &str, _ttl_secs: u64) -> SqlQuery {
        // The relay holds `pg_try_advisory_lock` on a connection of its own instead.
        SqlQuery {
            text: "SELECT pg_try_advisory_lock(hashtext('fraiseql.relay'))::text".into(),
            params: vec![],
        }
    }

    fn lease_release(&self, _holder: &str) -> SqlQuery {
        SqlQuery {
            text: "SELECT pg_advisory_unlock(hashtext('fraiseql.relay'))::text".into(),
            params: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    }

    fn object(n: usize) -> String {
        let p = pairs(n);
        let refs: Vec<(&str, String)> = p.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        Postgres.object(&refs)
    }

    #[test]
    fn narrow_objects_are_one_call() {
        assert_eq!(object(2), "json_build_object('k0', v0, 'k1', v1)");
        assert_eq!(object(50).matches("json_build_object(").count(), 1);
    }

    #[test]
    fn wide_objects_cut_only_the_outer_brace_of_each_chunk() {
        let sql = object(120);
        assert_eq!(sql.matches("json_build_object(").count(), 3);
        // No trim of brace characters, which ate a nested object's own `}` (issue 9).
        assert!(!sql.contains("trim("), "{sql}");
        assert!(
            sql.starts_with("(left(json_build_object('k0', v0,"),
            "{sql}"
        );
        assert!(
            sql.contains("v49)::text, -1) || ', ' || substr(left(json_build_object('k50'"),
            "{sql}"
        );
        assert!(
            sql.contains("v99)::text, -1), 2) || ', ' || substr(json_build_object('k100'"),
            "{sql}"
        );
        assert!(sql.ends_with("v119)::text, 2))::json"), "{sql}");
    }

    #[test]
    fn like_escapes_with_backslash() {
        assert_eq!(Postgres.like("x", "$1", false), "x LIKE $1 ESCAPE E'\\\\'");
        assert_eq!(Postgres.like("x", "$1", true), "x ILIKE $1 ESCAPE E'\\\\'");
    }

    #[test]
    fn check_and_order_pieces() {
        assert!(Postgres.holds_json(SqlType::Jsonb) && Postgres.holds_json(SqlType::Json));
        assert!(!Postgres.holds_json(SqlType::Text));
        assert!(Postgres
            .missing_mutation("fn_x", "db")
            .starts_with("function 'fn_x'"));
        assert_eq!(
            Postgres.order_key("x", true, false, true),
            "x DESC NULLS LAST"
        );
        assert_eq!(Postgres.concat(&["'%'", "$1", "'%'"]), "'%' || $1 || '%'");
        assert_eq!(Postgres.json_row("$1"), "(SELECT $1::jsonb AS data)");
    }
}
