//! The engine's per-request work, stage by stage, on the quickstart schema: prepare (parse +
//! validate, cached per query text by the server, so paid once per distinct document), plan
//! and render (paid on every request), and response assembly. Run with
//! `cargo bench -p fraiseql-engine --bench pipeline`; figures go to BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use fraiseql_engine::config::{DatabaseKind, QueryDefaults, ValidationConfig};
use fraiseql_engine::plan::plan;
use fraiseql_engine::request::{prepare, ApiSchema};
use fraiseql_engine::response::{assemble, RootValue};
use fraiseql_engine::schema::load_schema;
use fraiseql_engine::sql::{render_reads, Remotes};
use serde_json::{json, Map, Value};

const SCHEMA: &str = include_str!("../../../examples/quickstart/schema.graphql");

/// The issue's workloads W1–W4 over the quickstart schema, with their variables.
fn workloads() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "W1 list",
            "query W1 { orders(limit: 100) { id identifier status total paid createdAt } }",
            json!({}),
        ),
        (
            "W2 by id",
            "query W2($id: ID!) { order(id: $id) { id identifier status total paid createdAt } }",
            json!({ "id": "a0000000-0000-4000-8000-000000000001" }),
        ),
        (
            "W3 nested",
            "query W3 { customers(limit: 20) { id name orders { identifier total items { sku quantity unitPrice } } } }",
            json!({}),
        ),
        (
            "W4 filter+sort",
            "query W4($w: OrderWhereInput, $o: [OrderOrderByInput!]) { orders(where: $w, orderBy: $o, limit: 50) { id identifier total status } }",
            json!({
                "w": { "status": { "eq": "PAID" }, "total": { "gte": "100" } },
                "o": [{ "total": "DESC" }]
            }),
        ),
    ]
}

fn api() -> ApiSchema {
    let schema = load_schema(SCHEMA, "schema.graphql").expect("quickstart schema compiles");
    ApiSchema::new(
        schema,
        QueryDefaults::default(),
        ValidationConfig::default(),
        true,
    )
    .expect("API schema builds")
}

fn vars(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn stages(c: &mut Criterion) {
    let api = api();
    let mut group = c.benchmark_group("prepare");
    for (name, query, _) in workloads() {
        group.bench_with_input(BenchmarkId::from_parameter(name), query, |b, q| {
            b.iter(|| prepare(&api, black_box(q), None).expect("valid"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("plan");
    for (name, query, v) in workloads() {
        let prepared = prepare(&api, query, None).expect("valid");
        let v = vars(&v);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                plan(
                    &api,
                    black_box(&prepared),
                    black_box(&v),
                    &fraiseql_engine::authorize::Caller::ANONYMOUS,
                )
                .expect("plans")
            })
        });
    }
    group.finish();

    for kind in [DatabaseKind::Postgresql, DatabaseKind::Sqlite] {
        let mut group = c.benchmark_group(format!("render/{kind:?}").to_lowercase());
        for (name, query, v) in workloads() {
            let prepared = prepare(&api, query, None).expect("valid");
            let p = plan(
                &api,
                &prepared,
                &vars(&v),
                &fraiseql_engine::authorize::Caller::ANONYMOUS,
            )
            .expect("plans");
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    render_reads(black_box(&p), &|_| Some((kind, None)), Remotes::default())
                        .expect("renders")
                })
            });
        }
        group.finish();
    }

    // Plan + render together: the engine's share of a request once the document is cached.
    let mut group = c.benchmark_group("plan+render/postgresql");
    for (name, query, v) in workloads() {
        let prepared = prepare(&api, query, None).expect("valid");
        let v = vars(&v);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let p = plan(
                    &api,
                    &prepared,
                    &v,
                    &fraiseql_engine::authorize::Caller::ANONYMOUS,
                )
                .expect("plans");
                render_reads(
                    &p,
                    &|_| Some((DatabaseKind::Postgresql, None)),
                    Remotes::default(),
                )
                .expect("renders")
            })
        });
    }
    group.finish();

    // Splicing a 100-row list as returned by the database (about 20 KB of JSON text).
    let row = r#"{"id":"a0000000-0000-4000-8000-000000000001","identifier":"ORD-000001","status":"PAID","total":"120.00","paid":true,"createdAt":"2026-01-01T00:00:00Z"}"#;
    let list = format!("[{}]", vec![row; 100].join(","));
    c.bench_function("assemble/100 rows", |b| {
        let mut out = Vec::with_capacity(list.len() + 64);
        b.iter(|| {
            out.clear();
            assemble(
                &mut out,
                &[("orders", RootValue::Raw(black_box(&list)))],
                &[],
                None,
            );
        })
    });
}

criterion_group!(benches, stages);
criterion_main!(benches);
