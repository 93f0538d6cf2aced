"""Multi-tenancy (`--tenancy`, issue 15). In the order it runs:

1. the data: `fraiseql_bench` on PostgreSQL, as every mode makes it, and its order ids; then
   `fraiseql_bench_rls`, a copy (`CREATE DATABASE … TEMPLATE`) whose tables have a
   `tenant_id` column (every row `t1`), row-level security on and a policy on
   `(SELECT current_setting('app.tenant_id'))` (an InitPlan: read once per statement, not
   per row), whose views read as the caller (`security_invoker`),
   read by `fraiseql_bench_app`, a role that is not a superuser;
2. the row strategy, per round (--rounds), W1 and W2 at each connection count (default 1 and
   16): **off** is bench/fraiseql.toml on `fraiseql_bench` as `postgres`; **rls** the same
   plus `[multi_tenancy]` on `fraiseql_bench_rls` as the app role, every request naming
   tenant `t1` (`X-Tenant-ID`; the off server ignores it), so each statement runs with
   `app.tenant_id` set and every row passes its policy;
3. database per tenant: 1,000 tenants, a SQLite file each (a small table and view), one
   server with `max_tenant_pools = 100`, wrk at 16 connections naming a tenant drawn at
   random on every request, so most requests open a tenant's pool and close another's;
   `/metrics` is sampled through the run for `fraiseql_tenant_pools_open`;
4. medians and rls ÷ off per point, and the database-per-tenant run, into
   bench/results/tenancy.json (or target/bench/quick/) and the section "Multi-tenancy
   (issue 15)" of BENCHMARKS.md between its `tenancy:` markers.

The goals (issue 15): rls at least 0.9× off; with 1,000 tenants round robin the open tenant
pools stay within the cap, p99 reported."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.request

from . import dataset, load, machine, pg, servers
from .events import _f, _median, _write_report
from .run import _config, _export_ids, _log, _point_wrk, _prepare_database
from .settings import ROOT, Settings
from .workloads import ALL, with_id

GOAL = 0.9
TENANTS = 1000
CAP = 100
ROLE = "fraiseql_bench_app"
START, END = "<!-- tenancy:start -->", "<!-- tenancy:end -->"
HEADING = "## Multi-tenancy (issue 15)"
MODES = ("off", "rls")
TABLES = ("tb_customer", "tb_order", "tb_order_item")
VIEWS = ("v_customer", "v_order", "v_order_item")

TENANT_SDL = """type Item @source(view: "v_item") { id: ID! name: String! }
type Query { items: [Item!]! }
"""
TENANT_DB = """CREATE TABLE tb_item (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE VIEW v_item AS SELECT id, json_object('id', id, 'name', name) AS data FROM tb_item;
INSERT INTO tb_item VALUES ('i1', 'one'), ('i2', 'two'), ('i3', 'three');
"""


def _rls_copy(s: Settings, source: str) -> str:
    """`fraiseql_bench_rls` from `source`, tables under row-level security; its app URL."""
    name = f"{s.database}_rls"
    pg.run_script(s.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
    pg.run_script(s.admin_url, f"CREATE DATABASE {name} TEMPLATE {s.database};")
    url = pg.with_database(s.admin_url, name)
    sql = [f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') "
           f"THEN CREATE ROLE {ROLE} LOGIN; END IF; END $$;"]
    for t in TABLES:
        sql += [f"ALTER TABLE {t} ADD COLUMN tenant_id text NOT NULL DEFAULT 't1';",
                f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;",
                f"CREATE POLICY by_tenant ON {t} USING (tenant_id = (SELECT current_setting('app.tenant_id', true)));"]
    sql += [f"ALTER VIEW {v} SET (security_invoker = true);" for v in VIEWS]
    sql += [f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE};", "ANALYZE;"]
    pg.run_script(url, "\n".join(sql))
    return url.replace("://postgres@", f"://{ROLE}@", 1)


def _check(port: int, query: str, variables: dict) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "X-Tenant-ID": "t1"})
    with urllib.request.urlopen(request, timeout=30) as r:
        body = json.loads(r.read())
    if body.get("errors") or not body.get("data"):
        raise RuntimeError(f"check failed: {json.dumps(body)[:500]}")


def _rows(results: dict) -> list[dict]:
    out = []
    for w, c in sorted({(p["workload"], p["connections"]) for p in results["points"]}):
        row: dict = {"workload": w, "connections": c}
        by_round = {}
        for m in MODES:
            pts = [p for p in results["points"] if (p["workload"], p["connections"], p["mode"]) == (w, c, m)]
            row[m] = {"rps_median": _median([p["rps"] for p in pts]),
                      "p50_ms_median": _median([p["p50_ms"] for p in pts]),
                      "p99_ms_median": _median([p["p99_ms"] for p in pts]),
                      "errors": sum(p["errors"] for p in pts)}
            by_round[m] = {p["round"]: p["rps"] for p in pts}
        per_round = [round(by_round["rls"][r] / by_round["off"][r], 3)
                     for r in sorted(by_round["off"]) if r in by_round["rls"] and by_round["off"][r]]
        off, rls = row["off"]["rps_median"], row["rls"]["rps_median"]
        row["ratio"] = rls / off if off and rls is not None else None
        row["ratio_per_round"] = per_round
        worst = min((x for x in (row["ratio"], _median(per_round)) if x is not None), default=None)
        row["goal_met"] = None if worst is None else worst >= GOAL
        out.append(row)
    return out


def _per_tenant(s: Settings) -> dict:
    """The database-per-tenant run: 1,000 SQLite tenants behind a cap of 100 pools."""
    folder = s.work_dir / "tenants"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(TENANTS):
        path = folder / f"t_{i}.db"
        if not path.exists():
            with sqlite3.connect(path) as db:
                db.executescript(TENANT_DB)
    (s.work_dir / "tenant_schema.graphql").write_text(TENANT_SDL)
    config = s.work_dir / "fraiseql_tenants.toml"
    config.write_text(
        '[server]\nhost = "127.0.0.1"\n\n[database]\n'
        f'url = {json.dumps(f"sqlite://{folder}/t_{{tenant}}.db")}\npool_min = 0\npool_max = 2\n\n'
        f'[fraiseql]\nschema_file = {json.dumps(str(s.work_dir / "tenant_schema.graphql"))}\n\n'
        f'[multi_tenancy]\nstrategy = "database_per_tenant"\nmax_tenant_pools = {CAP}\n'
        'max_tenant_labels = 100\n')
    names = s.work_dir / "tenant_names.txt"
    names.write_text("".join(f"{i}\n" for i in range(TENANTS)))
    script = load.write_script(s.work_dir / "lua" / "tenants.lua", "tenants",
                               {"query": "{ items { id name } }"}, None, s.seed,
                               varied=("X-Tenant-ID", "", names))
    srv = servers.fraiseql(s.fraiseql_bin, config, f"sqlite://{folder}/t_{{tenant}}.db", s.port,
                           s.work_dir / "logs" / "fraiseql_tenants.log")
    srv.start()
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics", timeout=2) as r:
                    for line in r.read().decode().splitlines():
                        if line.startswith("fraiseql_tenant_pools_open "):
                            peak[0] = max(peak[0], int(float(line.split()[1])))
            except OSError:
                pass
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        load.run(f"http://127.0.0.1:{s.port}/graphql", script, 16, s.warmup, s.threads)
        sampler.start()
        p = _point_wrk(srv, script, 16, s)
    finally:
        stop.set()
        srv.stop()
    p.update({"tenants": TENANTS, "cap": CAP, "peak_pools_open": peak[0]})
    _log(f"  per tenant: {p['rps']:.1f} req/s  p50 {p['p50_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  "
         f"errors {p['errors']}  peak pools open {peak[0]} (cap {CAP})")
    return p


def _section(results: dict) -> str:
    m, st = results["machine"], results["settings"]
    L = [START, "",
         f"Written by the harness (`bench/harness/tenancybench.py`) on {results['started']} in "
         f"{results.get('elapsed_s', '?')} s; raw numbers in `bench/results/tenancy.json`. Reproduce with:",
         "", "```sh", results["command"], "```", "",
         "**Row strategy.** **off** is bench/fraiseql.toml on `fraiseql_bench` as `postgres`; **rls** adds "
         "`[multi_tenancy]` and reads `fraiseql_bench_rls`, the same data with a `tenant_id` column on every "
         "table, row-level security and a policy on `(SELECT current_setting('app.tenant_id'))` (read once per statement), views with "
         "`security_invoker`, as a role that is not a superuser; every request names tenant `t1` (every "
         "row's), so each statement runs with `app.tenant_id` set and every row is checked against the "
         "policy.", "",
         f"Machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; PostgreSQL "
         f"{m['postgresql']}; `{m['fraiseql']}` at git `{m['fraiseql_git']}`; a shared machine: the ratios "
         f"come from the two servers alternating within each round. {st['rounds']} rounds, "
         f"{st['duration_s']:g} s per point, pool {st['pool']}, wrk {st['threads']} threads; medians.", "",
         "| workload | conns | off req/s | rls req/s | rls ÷ off (per round) | p50 ms off / rls | p99 ms off / rls | errors |",
         "|---|---|---|---|---|---|---|---|"]
    for r in results["summary"]:
        off, rls = r["off"], r["rls"]
        L.append(f"| {r['workload']} | {r['connections']} | {_f(off['rps_median'])} | {_f(rls['rps_median'])} "
                 f"| {_f(r['ratio'], 3)} ({', '.join(f'{x:.3f}' for x in r['ratio_per_round'])}) "
                 f"| {_f(off['p50_ms_median'], 2)} / {_f(rls['p50_ms_median'], 2)} "
                 f"| {_f(off['p99_ms_median'], 2)} / {_f(rls['p99_ms_median'], 2)} "
                 f"| {off['errors']} / {rls['errors']} |")
    L += ["", f"Goal (issue 15): rls ≥ {GOAL}× off (the worse of the ratio of the medians and the median "
              "of the per-round ratios): " + ", ".join(
                  f"{r['workload']} at {r['connections']}: "
                  f"{'met' if r['goal_met'] else '**not met**' if r['goal_met'] is not None else '–'}"
                  for r in results["summary"]) + "."]
    t = results.get("per_tenant")
    if t:
        L += ["", f"**Database per tenant.** {t['tenants']:,} tenants, a SQLite file each; one server with "
                  f"`max_tenant_pools = {t['cap']}`; wrk at 16 connections names a tenant drawn at random "
                  "on every request, so most requests open a tenant's pool (and its catalog) and close the "
                  "least recently used one. `/metrics` sampled every 0.25 s.", "",
              "| tenants | cap | req/s | p50 ms | p99 ms | errors | most pools open at once |",
              "|---|---|---|---|---|---|---|",
              f"| {t['tenants']:,} | {t['cap']} | {_f(t['rps'])} | {_f(t['p50_ms'], 2)} | {_f(t['p99_ms'], 2)} "
              f"| {t['errors']} | {t['peak_pools_open']} |", "",
              f"Goal (issue 15): the open pools stay within the cap: "
              f"{'met' if t['peak_pools_open'] <= t['cap'] else '**not met**'}."]
    for f in results["failures"]:
        L.append(f"- failed: {f}")
    L += ["", END]
    return "\n".join(L)


def main(s: Settings) -> int:
    path = s.results_dir / "tenancy.json"
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
    ids = ids_file.read_text().split()
    rls_url = _rls_copy(s, db_url)
    off = _config(s)
    rls = s.work_dir / "fraiseql_rls.toml"
    rls.write_text(off.read_text() + "\n# --tenancy (bench/harness/tenancybench.py).\n[multi_tenancy]\n")
    modes = {"off": (off, db_url), "rls": (rls, rls_url)}
    workloads = [ALL["W1"], ALL["W2"]]
    scripts = {w.key: load.write_script(s.work_dir / "lua" / f"tenancy_{w.key}.lua", f"tenancy {w.key}",
                                        {"query": w.query, "variables": w.variables}, ids_file, s.seed,
                                        headers={"X-Tenant-ID": "t1"})
               for w in workloads}
    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "duration_s": s.duration, "rounds": s.rounds, "pool": s.pool,
                     "threads": s.threads, "concurrency": s.concurrency},
        "machine": info, "points": [], "failures": [],
    }
    for r in range(s.rounds):
        for mode in (MODES if r % 2 == 0 else MODES[::-1]):
            _log(f"tenancy round {r + 1}/{s.rounds}: {mode}")
            config, url = modes[mode]
            srv = servers.fraiseql(s.fraiseql_bin, config, url, s.port,
                                   s.work_dir / "logs" / f"fraiseql_tenancy_{mode}.log")
            srv.start()
            try:
                for w in workloads:
                    _check(s.port, w.query, with_id(w.variables, ids[0]) if w.random_id else w.variables)
                    load.run(f"http://127.0.0.1:{s.port}/graphql", scripts[w.key], 16, s.warmup, s.threads)
                    for c in s.concurrency:
                        p = _point_wrk(srv, scripts[w.key], c, s)
                        p.update({"round": r + 1, "mode": mode, "workload": w.key})
                        _log(f"  {mode:3} {w.key} c={c:<3} {p['rps']:>9.1f} req/s  p50 {p['p50_ms']:.2f} ms  "
                             f"p99 {p['p99_ms']:.2f} ms  errors {p['errors']}")
                        results["points"].append(p)
            except RuntimeError as e:
                _log(f"  FAILED: {e}")
                results["failures"].append(f"round {r + 1} {mode}: {e}")
            finally:
                srv.stop()
    try:
        results["per_tenant"] = _per_tenant(s)
    except RuntimeError as e:
        results["failures"].append(f"database per tenant: {e}")
    results["elapsed_s"] = round(time.time() - started, 1)
    return _finish(s, results)


def _finish(s: Settings, results: dict) -> int:
    results["summary"] = _rows(results)
    (s.results_dir / "tenancy.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    section = _section(results)
    _write_report(s.report_path, section, START, END, HEADING)
    print(section, flush=True)
    _log(f"wrote {s.results_dir / 'tenancy.json'} and the tenancy section of {s.report_path}")
    return 1 if results["failures"] else 0
