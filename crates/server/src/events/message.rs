//! An outbox row as a message: its subject (the rule's template rendered with the row) and
//! its headers, following the CloudEvents NATS protocol binding in binary mode: the body is
//! the event's data as it is, the attributes travel as `ce-*` headers, `Content-Type` is the
//! data's media type, and `Nats-Msg-Id` (JetStream's dedupe key) is the event id.

use super::outbox::OutboxRow;
use serde_json::Value;

/// A message ready for the bus.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) subject: String,
    /// Header names and values, in the order they are sent.
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: bytes::Bytes,
}

impl Message {
    /// The event id: `Nats-Msg-Id` (equal to `ce-id`).
    pub(crate) fn id(&self) -> &str {
        self.header("Nats-Msg-Id").unwrap_or_default()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where the events of database `database` come from (`ce-source`), a URI reference.
pub(crate) fn source(project: &str, database: &str) -> String {
    format!("/fraiseql/{}/{}", token(project), token(database))
}

/// The message for one outbox row of a database whose events come from `source`; `tenant`
/// is the database's own tenant (a database per tenant), which every row of it belongs to
/// whatever setting its writer had.
pub(crate) fn from_row(row: &OutboxRow, source: &str, tenant: Option<&str>) -> Message {
    let data: Value = serde_json::from_str(&row.row).unwrap_or(Value::Null);
    let op = row.op.to_ascii_lowercase();
    let subject = render(&row.subject, &op, row.source.as_deref(), &data);
    let kind = match &row.source {
        Some(table) => format!("fraiseql.{table}.{op}"),
        None => subject.clone(),
    };
    let mut headers = vec![
        ("Nats-Msg-Id", row.id.clone()),
        ("ce-specversion", "1.0".to_owned()),
        ("ce-id", row.id.clone()),
        ("ce-type", kind),
        ("ce-source", source.to_owned()),
        ("ce-time", row.time.clone()),
    ];
    // The changed row's own id names what the event is about, when it has one.
    if let Some(id) = data.get("id").and_then(scalar_text) {
        headers.push(("ce-subject", id));
    }
    headers.push(("ce-op", row.op.clone()));
    if let Some(tenant) = tenant.or(row.tenant.as_deref()) {
        headers.push(("ce-tenant", tenant.to_owned()));
    }
    headers.push(("Content-Type", "application/json".to_owned()));
    Message {
        subject,
        headers,
        body: bytes::Bytes::from(row.body.clone()),
    }
}

/// A rule's subject with `{op}`, `{table}` and `{<column>}` replaced from the row. A value
/// becomes one subject token: any character but letters, digits, `_` and `-` becomes `_`
/// (a `.` would add tokens, `*` and `>` are wildcards, spaces are not allowed), and a
/// missing or empty value is `_`.
pub(crate) fn render(template: &str, op: &str, table: Option<&str>, row: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        let value = match name {
            "op" => Some(op.to_owned()),
            "table" => table.map(str::to_owned),
            column => row.get(column).and_then(scalar_text),
        };
        out.push_str(&token(value.as_deref().unwrap_or_default()));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// A JSON scalar as text; objects, arrays and null are not.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `text` as one safe subject token.
pub(crate) fn token(text: &str) -> String {
    if text.is_empty() {
        return "_".to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(op: &str, source: Option<&str>, subject: &str, data: Value) -> OutboxRow {
        OutboxRow {
            seq: 1,
            id: "0190b1d2-0000-4000-8000-000000000001".into(),
            subject: subject.into(),
            op: op.into(),
            source: source.map(str::to_owned),
            body: data.to_string(),
            row: data.to_string(),
            tenant: None,
            time: "2026-12-04T10:00:00.123456Z".into(),
        }
    }

    #[test]
    fn templates_take_the_op_table_and_columns() {
        let data = json!({"id": 7, "tenant_id": "acme", "status": "paid"});
        assert_eq!(
            render(
                "tenants.{tenant_id}.{table}.{op}",
                "update",
                Some("tb_order"),
                &data
            ),
            "tenants.acme.tb_order.update"
        );
        assert_eq!(
            render("plain.subject", "insert", None, &data),
            "plain.subject"
        );
        assert_eq!(render("x.id_{id}", "insert", None, &data), "x.id_7");
    }

    #[test]
    fn hostile_values_stay_one_token() {
        let data = json!({"t": "a.b > *", "empty": "", "obj": {"a": 1}, "nul": "\u{0}x"});
        assert_eq!(render("t.{t}", "insert", None, &data), "t.a_b____");
        assert_eq!(render("t.{empty}", "insert", None, &data), "t._");
        assert_eq!(render("t.{obj}", "insert", None, &data), "t._");
        assert_eq!(render("t.{missing}", "insert", None, &data), "t._");
        assert_eq!(render("t.{nul}", "insert", None, &data), "t._x");
        assert_eq!(render("t.é{t}", "insert", None, &data), "t.éa_b____");
    }

    #[test]
    fn headers_follow_the_cloudevents_nats_binding() {
        let mut r = row(
            "INSERT",
            Some("tb_order"),
            "events.order.{op}",
            json!({"id": "o-1"}),
        );
        r.tenant = Some("acme".into());
        let m = from_row(&r, &source("shop", "primary"), None);
        assert_eq!(m.subject, "events.order.insert");
        assert_eq!(m.id(), r.id);
        assert_eq!(m.header("ce-id"), Some(r.id.as_str()));
        assert_eq!(m.header("ce-specversion"), Some("1.0"));
        assert_eq!(m.header("ce-type"), Some("fraiseql.tb_order.insert"));
        assert_eq!(m.header("ce-source"), Some("/fraiseql/shop/primary"));
        assert_eq!(m.header("ce-subject"), Some("o-1"));
        assert_eq!(m.header("ce-time"), Some("2026-12-04T10:00:00.123456Z"));
        assert_eq!(m.header("ce-op"), Some("INSERT"));
        assert_eq!(m.header("ce-tenant"), Some("acme"));
        assert_eq!(m.header("content-type"), Some("application/json"));
        assert_eq!(&m.body[..], br#"{"id":"o-1"}"#);
        // A tenant's own database names the tenant of every row, whatever its writer set.
        r.tenant = Some("globex".into());
        let m = from_row(&r, &source("shop", "tenant"), Some("acme"));
        assert_eq!(m.header("ce-tenant"), Some("acme"));
        r.tenant = None;
        let m = from_row(&r, &source("shop", "tenant"), Some("acme"));
        assert_eq!(m.header("ce-tenant"), Some("acme"));
    }

    #[test]
    fn an_emitted_event_is_typed_by_its_subject() {
        let r = row("EMIT", None, "billing.invoice.sent", json!({"n": 1}));
        let m = from_row(&r, &source("my app", "primary"), None);
        assert_eq!(m.header("ce-type"), Some("billing.invoice.sent"));
        assert_eq!(m.header("ce-source"), Some("/fraiseql/my_app/primary"));
        assert_eq!(m.header("ce-subject"), None);
        assert_eq!(m.header("ce-tenant"), None);
    }
}
