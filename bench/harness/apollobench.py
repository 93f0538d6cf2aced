"""Apollo Federation subgraph (`--apollo`, issue 16): what a gateway's `_entities` costs
beside the same rows read by an ordinary query. In the order it runs:

1. the data: `fraiseql_bench` on PostgreSQL, as every mode makes it, and its order ids;
2. one server: bench/fraiseql.toml with `[federation] enabled = true`, and the bench schema
   with one more `Order` field, `shippingCost`, computed by SQL from a `weight` the gateway
   brings (`@requires(fields: "weight") @computed(sql: …)`);
3. per round (--rounds), three shapes of one read of the same 20 orders (their id,
   identifier, status and total), whose order rotates by round: **list**, `orders(where:
   {id: {in: $ids}})`; **entities**, `_entities` with 20 `Order` representations (what a
   gateway sends); **requires**, the same `_entities` also selecting `shippingCost`, each
   representation bringing its `weight` (joined to its row by key);
4. medians over the rounds and entities ÷ list, requires ÷ entities per point into
   bench/results/apollo.json (or target/bench/quick/) and the section "Apollo Federation
   subgraph (issue 16)" of BENCHMARKS.md between its `apollo:` markers.

No goal was set; the figures show what the subgraph path costs."""

from __future__ import annotations

import json
import time

from . import dataset, load, machine, servers
from .events import _f, _median, _write_report
from .run import _config, _export_ids, _log, _point_wrk, _prepare_database
from .settings import ROOT, Settings

START, END = "<!-- apollo:start -->", "<!-- apollo:end -->"
HEADING = "## Apollo Federation subgraph (issue 16)"
MODES = ("list", "entities", "requires")
KEYS = 20
FIELDS = "id identifier status total"
EXTRA_FIELD = (
    '  weight: Int @external\n'
    '  "Computed from the weight the gateway brings (bench/harness/apollobench.py)."\n'
    '  shippingCost: Int @requires(fields: "weight") @computed(sql: "{weight} * 3 + 5")\n'
)


def _bodies(ids: list[str]) -> dict[str, dict]:
    entities = ("query E($r: [_Any!]!) { _entities(representations: $r) { ... on Order { "
                + FIELDS + "%s } } }")
    return {
        "list": {"query": "query L($ids: [ID!]!) { orders(where: {id: {in: $ids}}, limit: %d) { %s } }"
                 % (KEYS, FIELDS), "variables": {"ids": ids}},
        "entities": {"query": entities % "",
                     "variables": {"r": [{"__typename": "Order", "id": i} for i in ids]}},
        "requires": {"query": entities % " shippingCost",
                     "variables": {"r": [{"__typename": "Order", "id": i, "weight": n + 1}
                                         for n, i in enumerate(ids)]}},
    }


def _check(port: int, mode: str, body: dict, ids: list[str]) -> None:
    status, answer = servers.post_graphql(port, body["query"], body["variables"])
    if status != 200 or answer.get("errors"):
        raise RuntimeError(f"{mode}: HTTP {status}: {json.dumps(answer)[:500]}")
    rows = answer["data"]["orders" if mode == "list" else "_entities"]
    got = sorted(r["id"] for r in rows)
    if got != sorted(ids):
        raise RuntimeError(f"{mode}: read {len(got)} orders, not the {len(ids)} asked for")
    if mode == "requires":
        costs = [r["shippingCost"] for r in rows]
        if costs != [(n + 1) * 3 + 5 for n in range(len(ids))]:
            raise RuntimeError(f"requires: shippingCost {costs[:5]}…")


def _summary(results: dict) -> list[dict]:
    rows = []
    for c in sorted({p["connections"] for p in results["points"]}):
        row: dict = {"connections": c}
        by_round: dict = {}
        for m in MODES:
            pts = [p for p in results["points"] if (p["connections"], p["mode"]) == (c, m)]
            row[m] = {"rps_median": _median([p["rps"] for p in pts]),
                      "p50_ms_median": _median([p["p50_ms"] for p in pts]),
                      "p99_ms_median": _median([p["p99_ms"] for p in pts]),
                      "errors": sum(p["errors"] for p in pts)}
            by_round[m] = {p["round"]: p["rps"] for p in pts}
        for name, (a, b) in {"entities_vs_list": ("entities", "list"),
                             "requires_vs_entities": ("requires", "entities")}.items():
            per_round = [round(by_round[a][r] / by_round[b][r], 3)
                         for r in sorted(by_round[b]) if r in by_round[a] and by_round[b][r]]
            ratio = (row[a]["rps_median"] / row[b]["rps_median"]
                     if row[a]["rps_median"] and row[b]["rps_median"] else None)
            row[name] = {"ratio": ratio, "per_round": per_round}
        rows.append(row)
    return rows


def _section(results: dict) -> str:
    m, st, rows = results["machine"], results["settings"], results["summary"]
    L = [START, "",
         f"Written by the harness (`bench/harness/apollobench.py`) on {results['started']} in "
         f"{results.get('elapsed_s', '?')} s; raw numbers in `bench/results/apollo.json`. Reproduce with:",
         "", "```sh", results["command"], "```", "",
         "One server, bench/fraiseql.toml with `[federation] enabled = true` over `fraiseql_bench` on "
         f"PostgreSQL; each request reads the same {KEYS} orders ({FIELDS}). **list**: "
         "`orders(where: {id: {in: $ids}})`. **entities**: `_entities` with an `Order` representation "
         "per id, as a gateway sends it. **requires**: the same `_entities` also selecting "
         "`shippingCost`, computed by SQL from the `weight` each representation brings "
         "(`@requires(fields: \"weight\") @computed(sql: \"{weight} * 3 + 5\")`, the representations "
         "joined to their rows by key).", "",
         f"Machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; PostgreSQL "
         f"{m['postgresql']}; `{m['fraiseql']}` at git `{m['fraiseql_git']}`; a shared machine: the "
         f"three shapes alternate within each round. {st['rounds']} rounds, {st['duration_s']:g} s "
         f"per point, pool {st['pool']}, wrk {st['threads']} threads; medians.", "",
         "| conns | list req/s | entities req/s | requires req/s | entities ÷ list (per round) "
         "| requires ÷ entities (per round) | p50 ms list / entities / requires "
         "| p99 ms list / entities / requires | errors |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def ratio(x: dict) -> str:
            return f"{_f(x['ratio'], 3)} ({', '.join(f'{v:.3f}' for v in x['per_round'])})"

        L.append(f"| {r['connections']} | {_f(r['list']['rps_median'])} | {_f(r['entities']['rps_median'])} "
                 f"| {_f(r['requires']['rps_median'])} | {ratio(r['entities_vs_list'])} "
                 f"| {ratio(r['requires_vs_entities'])} "
                 f"| {' / '.join(_f(r[m]['p50_ms_median'], 2) for m in MODES)} "
                 f"| {' / '.join(_f(r[m]['p99_ms_median'], 2) for m in MODES)} "
                 f"| {' / '.join(str(r[m]['errors']) for m in MODES)} |")
    for f in results["failures"]:
        L.append(f"- failed: {f}")
    L += ["", END]
    return "\n".join(L)


def main(s: Settings) -> int:
    path = s.results_dir / "apollo.json"
    if s.report_only:
        return _finish(s, json.loads(path.read_text()))
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _log(s.command)
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, peer=False)
    db_url = _prepare_database(s, dataset.Sizes.at(s.scale))
    ids_file = s.work_dir / "order_ids.txt"
    _export_ids(db_url, ids_file)
    ids = ids_file.read_text().split()[:KEYS]
    base = _config(s)
    schema = s.work_dir / "schema_apollo.graphql"
    text = (ROOT / "bench" / "schema.graphql").read_text()
    anchor = '  items: [OrderItem!]! @relation(localKey: "id", remoteKey: "order_id")\n'
    if anchor not in text:
        raise SystemExit("bench/schema.graphql changed: Order.items is not where apollobench.py looks")
    schema.write_text(text.replace(anchor, anchor + EXTRA_FIELD, 1))
    config = s.work_dir / "fraiseql_apollo.toml"
    config.write_text(
        base.read_text().replace(str((ROOT / "bench" / "schema.graphql")), str(schema))
        + '\n# --apollo (bench/harness/apollobench.py).\n[federation]\nenabled = true\n'
        'apollo_version = 2\nservice_name = "bench"\n')
    bodies = _bodies(ids)
    scripts = {m: load.write_script(s.work_dir / "lua" / f"apollo_{m}.lua", f"apollo {m}",
                                    bodies[m], None, s.seed) for m in MODES}
    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "duration_s": s.duration, "rounds": s.rounds, "pool": s.pool,
                     "threads": s.threads, "concurrency": s.concurrency, "keys": KEYS},
        "machine": info, "config": config.read_text(), "points": [], "failures": [],
    }
    srv = servers.fraiseql(s.fraiseql_bin, config, db_url, s.port, s.work_dir / "logs" / "fraiseql_apollo.log")
    srv.start()
    try:
        for m in MODES:
            _check(s.port, m, bodies[m], ids)
            load.run(f"http://127.0.0.1:{s.port}/graphql", scripts[m], 16, s.warmup, s.threads)
        for r in range(s.rounds):
            _log(f"apollo round {r + 1}/{s.rounds}")
            for mode in MODES[r % len(MODES):] + MODES[:r % len(MODES)]:
                for c in s.concurrency:
                    p = _point_wrk(srv, scripts[mode], c, s)
                    p.update({"round": r + 1, "mode": mode})
                    _log(f"  {mode:8} c={c:<3} {p['rps']:>9.1f} req/s  p50 {p['p50_ms']:.2f} ms  "
                         f"p99 {p['p99_ms']:.2f} ms  errors {p['errors']}")
                    results["points"].append(p)
            results["summary"] = _summary(results)
            path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    except RuntimeError as e:
        _log(f"  FAILED: {e}")
        results["failures"].append(str(e))
    finally:
        srv.stop()
    results["elapsed_s"] = round(time.time() - started, 1)
    return _finish(s, results)


def _finish(s: Settings, results: dict) -> int:
    results["summary"] = _summary(results)
    (s.results_dir / "apollo.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    section = _section(results)
    _write_report(s.report_path, section, START, END, HEADING)
    print(section, flush=True)
    _log(f"wrote {s.results_dir / 'apollo.json'} and the Apollo section of {s.report_path}")
    return 1 if results["failures"] else 0
