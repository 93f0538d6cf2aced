"""The harness pipeline, in the order it runs:

1. dataset: `fraiseql_bench` on PostgreSQL (dropped and recreated), the order ids file;
2. startup: FraiseQL's cold start to ready (5 spawns) and idle RSS;
3. capture: the SQL FraiseQL sends per workload -> pgbench scripts (ceiling.py);
4. per workload, one system after the other so that W5's writes never precede a read
   workload: FraiseQL (check, warm-up, one point per connection count, then the latency
   point at half the maximum throughput), FraiseQL again over the `tv_` projection tables
   (reads only), pgbench (the ceiling), PostGraphile (the peer);
5. optionally FraiseQL on SQLite;
6. report: bench/results/latest.json, the chart, the harness section of BENCHMARKS.md.

A workload whose check fails (errors, or no data) is recorded with the exact document,
variables and response, skipped, and makes the run exit non-zero at the end."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

from . import ceiling, chart, dataset, load, machine, pg, report, servers
from .settings import ROOT, Settings, parse
from .workloads import ALL, Workload, with_id


class CheckFailed(Exception):
    def __init__(self, system: str, workload: Workload, query: str, variables: dict,
                 status: int, body: object, why: str):
        super().__init__(f"{system} {workload.key}: {why}")
        self.detail = {"system": system, "workload": workload.key, "why": why, "query": query,
                       "variables": variables, "http_status": status, "response": body}


def _config(s: Settings, projections: bool = False) -> Path:
    """bench/fraiseql.toml with `--pool` as pool_max, written to target/bench (the schema path
    made absolute, since a config's schema_file is relative to the config's folder). With
    `projections`, the schema's `v_` sources are renamed to the `tv_` projection tables
    (bench/db/postgres_projections.sql): the same API over stored JSON."""
    src = ROOT / "bench" / "fraiseql.toml"
    schema = src.parent / "schema.graphql"
    suffix = "_tv" if projections else ""
    if projections:
        text = schema.read_text().replace('@source(view: "v_', '@source(view: "tv_')
        schema = s.work_dir / "schema_tv.graphql"
        schema.write_text(text)
    text = src.read_text()
    text = re.sub(r"(?m)^pool_max = \d+", f"pool_max = {s.pool}", text)
    text = re.sub(r"(?m)^pool_min = \d+", f"pool_min = {min(4, s.pool)}", text)
    text = text.replace('schema_file = "schema.graphql"', f"schema_file = {json.dumps(str(schema))}")
    path = s.work_dir / f"fraiseql{suffix}.toml"
    path.write_text(text)
    return path


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _require_tools(s: Settings) -> None:
    missing = [t for t in ("psql", "pgbench", "wrk") if shutil.which(t) is None]
    if not s.fraiseql_bin.is_file():
        missing.append(str(s.fraiseql_bin))
    if s.peer and not (s.node_dir / "node_modules" / ".bin" / "postgraphile").exists():
        missing.append(str(s.node_dir / "node_modules/.bin/postgraphile"))
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (bench/run.sh installs them)")


# ---------------------------------------------------------------------------------------
# 1. dataset

def _prepare_database(s: Settings, sizes: dataset.Sizes) -> str:
    url = pg.with_database(s.admin_url, s.database)
    marker = f"seed={s.seed} customers={sizes.customers} orders={sizes.orders}"
    if s.reuse_data:
        try:
            if pg.scalar(url, "SELECT obj_description('tb_order'::regclass)") == marker:
                _log(f"reusing database {s.database} ({marker})")
                return url
        except RuntimeError:
            pass
    url = dataset.create_postgres(s.admin_url, s.database, s.seed, sizes, _log)
    pg.run_script(url, f"COMMENT ON TABLE tb_order IS {pg.literal(marker)};")
    return url


def _export_ids(url: str, path: Path) -> int:
    ids = [r[0] for r in pg.rows(url, "SELECT id FROM tb_order ORDER BY pk_order")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + "\n")
    return len(ids)


# ---------------------------------------------------------------------------------------
# checks

def _check(system: str, port: int, w: Workload, query: str, variables: dict, summary) -> object:
    status, body = servers.post_graphql(port, query, variables)
    def fail(why: str):
        raise CheckFailed(system, w, query, variables, status, body, why)
    if status != 200:
        fail(f"HTTP {status}")
    if body.get("errors"):
        fail("the response has errors")
    data = body.get("data")
    if not isinstance(data, dict):
        fail("the response has no data")
    try:
        return summary(data)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        fail(f"unexpected data: {e}")


def _point_wrk(server: servers.Server, script: Path, c: int, s: Settings) -> dict:
    noise = _noise(s)
    server.reset_peak()
    before, db_before = server.usage(), servers.cpu_by_name(_DATABASE_SERVERS)
    r = load.run(f"http://127.0.0.1:{server.port}/graphql", script, c, s.duration, s.threads)
    after, db_after = server.usage(), servers.cpu_by_name(_DATABASE_SERVERS)
    return {"connections": c, "rps": round(r.rps, 1), "requests": r.requests,
            "p50_ms": round(r.p50_ms, 3), "p90_ms": round(r.p90_ms, 3),
            "p99_ms": round(r.p99_ms, 3), "max_ms": round(r.max_ms, 3),
            "errors": r.errors, "non_2xx": r.non_2xx, "socket_errors": r.socket_errors,
            "graphql_errors": r.gql_errors,
            "cpu_seconds": round(after.cpu_seconds - before.cpu_seconds, 2),
            "peak_rss_mb": round(after.hwm_kb / 1024, 1), "rss_after_mb": round(after.rss_kb / 1024, 1),
            "seconds": round(r.seconds, 2),
            "database_cpu_seconds": {n: round(db_after[n] - db_before[n], 2) for n in _DATABASE_SERVERS},
            **noise}


# The database servers' processes, whose CPU time each point records (all their clients').
_DATABASE_SERVERS = ("postgres", "mariadbd")


_BUSY = ("rustc", "cargo", "cc1", "cc1plus", "ld", "clang", "cargo-nextest", "pytest")


def _busy() -> int:
    """Compilers and test runners running on the machine (other people's, it is shared)."""
    busy = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                busy += (entry / "comm").read_text().strip() in _BUSY
            except OSError:
                pass
    return busy


def _noise(s: Settings) -> dict:
    """What else ran when a point started (after waiting for quiet, with --wait-for-quiet):
    the 1-minute load average, other busy processes, sessions of other databases."""
    waited, started = 0.0, time.monotonic()
    if s.wait_quiet > 0 and _busy():
        _log(f"  waiting up to {s.wait_quiet:g} s for other builds/tests to finish")
        while _busy() and time.monotonic() - started < s.wait_quiet:
            time.sleep(5)
        waited = round(time.monotonic() - started, 1)
    return {"loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
            "other_busy_processes": _busy(), "waited_for_quiet_s": waited,
            "other_pg_sessions": _other_sessions(s.admin_url, s.database)}


def _other_sessions(admin_url: str, database: str) -> int:
    """Client sessions of other databases (other people's tests share the server)."""
    try:
        return int(pg.scalar(admin_url, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                                        f"'client backend' AND datname IS DISTINCT FROM {pg.literal(database)} "
                                        "AND pid <> pg_backend_pid()"))
    except RuntimeError:
        return -1


def _warm_up(port: int, script: Path, s: Settings) -> None:
    load.run(f"http://127.0.0.1:{port}/graphql", script, min(16, max(s.concurrency)), s.warmup, s.threads)


# ---------------------------------------------------------------------------------------
# the systems, per workload

def _sweep(name: str, server: servers.Server, w: Workload, query: str, variables: dict,
           summary, s: Settings, ids_file: Path, samples: dict[str, str], out: dict, half_load: bool) -> object:
    """Starts `server`, checks the workload, warms up, measures each connection count."""
    out["ready_ms"] = round(server.start() * 1000, 1)
    try:
        out["rss_at_ready_mb"] = round(server.usage().rss_kb / 1024, 1)
        time.sleep(0.3)
        result = _check(name, server.port, w, query, with_id(variables, samples[w.key]), summary)
        script = load.write_script(s.work_dir / "lua" / f"{name}_{w.key}.lua", f"{name} {w.key}",
                                   {"query": query, "variables": variables}, ids_file, s.seed)
        _warm_up(server.port, script, s)
        points = []
        for c in s.concurrency:
            p = _point_wrk(server, script, c, s)
            _log(f"  {name:12} {w.key} c={c:<3} {p['rps']:>9.1f} req/s  p50 {p['p50_ms']:.2f} ms  "
                 f"p99 {p['p99_ms']:.2f} ms  errors {p['errors']}  cpu {p['cpu_seconds']} s  "
                 f"peak {p['peak_rss_mb']} MB")
            if p["errors"]:
                # What a request answers now: the error the load produced, or that it passed.
                status, body = servers.post_graphql(server.port, query, with_id(variables, samples[w.key]))
                p["probe_after_errors"] = {"http_status": status, "response": json.dumps(body)[:1500]}
            points.append(p)
        out["points"] = points
        if half_load and points:
            out["half_load"] = _half_load(name, server, w, query, variables, points, s, ids_file)
        return result
    finally:
        server.stop()


def _measured(name: str, server: servers.Server, w: Workload, query: str, variables: dict, summary,
              s: Settings, ids_file: Path, samples: dict[str, str], out: dict, results: dict,
              half_load: bool, label: str | None = None) -> object:
    """`_sweep`, with a failed check recorded (in `out` and in the run's failures, under
    `label`) instead of raised: the other systems and workloads still run."""
    try:
        return _sweep(name, server, w, query, variables, summary, s, ids_file, samples, out, half_load)
    except CheckFailed as e:
        if label:
            e.detail["system"] = label
        _log(f"  CHECK FAILED: {e}\n{json.dumps(e.detail, indent=2)[:4000]}")
        out["failed"] = e.detail
        results["failures"].append(e.detail)
        return None


def _half_load(name: str, server: servers.Server, w: Workload, query: str, variables: dict,
               points: list[dict], s: Settings, ids_file: Path) -> dict:
    """Latency at half of the best throughput: each of c connections pauses between
    requests (wrk `delay()`, exponential with mean d), so that c / (d + latency) is half the
    maximum. A short calibration run corrects d for the latency under that load; the
    achieved rate is reported next to the target."""
    best = max(points, key=lambda p: p["rps"])
    target = best["rps"] / 2
    c = max(s.concurrency)
    body = {"query": query, "variables": variables}
    path = s.work_dir / "lua" / f"{name}_{w.key}_half.lua"
    url = f"http://127.0.0.1:{server.port}/graphql"
    delay = max(1.0, 1000 * c / target - min(p["p50_ms"] for p in points))
    load.write_script(path, f"{name} {w.key} at half load", body, ids_file, s.seed, delay)
    probe = load.run(url, path, c, max(2.0, s.duration / 3), s.threads)
    if probe.rps > 0:
        # Each connection's cycle is pause + latency: keep the observed latency part.
        latency_part = 1000 * c / probe.rps - delay
        delay = max(1.0, 1000 * c / target - latency_part)
        load.write_script(path, f"{name} {w.key} at half load", body, ids_file, s.seed, delay)
    p = _point_wrk(server, path, c, s)
    p.update({"target_rps": round(target, 1), "mean_pause_ms": round(delay, 1), "max_rps": best["rps"]})
    _log(f"  {name:12} {w.key} half load: {p['rps']:.1f} req/s (target {target:.1f}) "
         f"p50 {p['p50_ms']:.2f} ms p99 {p['p99_ms']:.2f} ms")
    return p


def _pgbench(w: Workload, script: ceiling.Script, db_url: str, s: Settings) -> list[dict]:
    points = []
    for c in s.concurrency:
        noise = _noise(s)
        r = ceiling.run(db_url, script, c, s.duration, s.threads,
                        s.work_dir / "pgbench_logs" / f"{w.key}_c{c}")
        points.append({"connections": c, "tps": round(r.tps, 1), "transactions": r.transactions,
                       "failed": r.failed, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                       "mean_ms": r.mean_ms, **noise})
        _log(f"  {'pgbench':12} {w.key} c={c:<3} {r.tps:>9.1f} tps    p50 {r.p50_ms} ms  "
             f"p99 {r.p99_ms} ms  failed {r.failed}")
    return points


# ---------------------------------------------------------------------------------------
# 2. startup, 3. capture

def _startup(s: Settings, db_url: str, config: Path) -> dict:
    times, idle = [], None
    for i in range(5):
        srv = servers.fraiseql(s.fraiseql_bin, config, db_url, s.port,
                               s.work_dir / "logs" / "fraiseql_startup.log")
        try:
            times.append(srv.start())
            if i == 0:
                time.sleep(1.0)
                idle = srv.usage().rss_kb / 1024
        finally:
            srv.stop()
    times_ms = sorted(round(t * 1000, 1) for t in times)
    _log(f"cold start to ready: {times_ms} ms; idle RSS {idle:.1f} MB")
    return {"cold_start_ms": times_ms, "cold_start_median_ms": times_ms[len(times_ms) // 2],
            "idle_rss_mb": round(idle, 1)}


def _capture(s: Settings, db_url: str, samples: dict[str, str], workloads: list[Workload],
             config: Path) -> dict:
    """Per workload: {"capture": Capture | None, "notes": [...]}."""
    out: dict[str, dict] = {w.key: {"capture": None, "notes": []} for w in workloads}
    for w in workloads:
        if w.mutation:
            continue
        try:
            out[w.key]["capture"] = ceiling.explain(s.fraiseql_bin, config, db_url, w.query,
                                                     with_id(w.variables, samples[w.key]))
        except RuntimeError as e:
            out[w.key]["notes"].append(f"explain failed: {e}")
    try:
        with ceiling.LogCapture(s.admin_url, s.database) as lc:
            srv = servers.fraiseql(s.fraiseql_bin, config, db_url, s.port,
                                   s.work_dir / "logs" / "fraiseql_capture.log")
            srv.start()
            try:
                time.sleep(0.5)
                for w in workloads:
                    lc.mark()
                    servers.post_graphql(s.port, w.query, with_id(w.variables, samples[w.key]))
                    logged = lc.statements()
                    entry = out[w.key]
                    if w.mutation:
                        if logged:
                            entry["capture"] = ceiling.Capture(logged, "log")
                        else:
                            entry["notes"].append("no statement in the PostgreSQL log")
                    elif entry["capture"] is not None:
                        explained = entry["capture"].statements[0].sql
                        if not any(st.sql == explained for st in logged):
                            entry["notes"].append("the statement in the PostgreSQL log differs from "
                                                  "`fraiseql explain`'s; the ceiling uses explain's")
            finally:
                srv.stop()
    except RuntimeError as e:
        for w in workloads:
            if w.mutation and out[w.key]["capture"] is None:
                out[w.key]["notes"].append(f"cannot capture the mutation's SQL: {e}")
    sql_dir = s.work_dir / "sql"
    sql_dir.mkdir(parents=True, exist_ok=True)
    for key, entry in out.items():
        cap = entry["capture"]
        if cap is not None:
            text = "\n\n".join(f"-- statement {i} ({cap.source})\n{st.sql};\n-- parameters: "
                               f"{json.dumps(st.params)}" for i, st in enumerate(cap.statements, 1))
            (sql_dir / f"{key}.sql").write_text(text + "\n")
    return out


# ---------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    s = parse(argv)
    if s.compare_mariadb:
        # Imported here: compare.py builds on this module's steps.
        from . import compare
        return compare.main(s)
    if s.federation:
        # Imported here, as compare (--report-only rewrites its section from federation.json).
        from . import federation
        return federation.main(s)
    if s.auth:
        from . import authbench
        return authbench.main(s)
    if s.tenancy:
        from . import tenancybench
        return tenancybench.main(s)
    if s.apollo:
        from . import apollobench
        return apollobench.main(s)
    if s.subscriptions:
        # Imported here: it builds on events.py, which imports nats-py.
        from . import subscriptions
        return subscriptions.main(s)
    if s.events:
        # Imported here: events.py builds on this module's steps, and it alone imports nats-py.
        from . import events
        return events.main(s)
    if s.report_only:
        return _report(s, json.loads((s.results_dir / "latest.json").read_text()))
    _require_tools(s)
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    workloads = [ALL[k] for k in s.workloads]
    started = time.time()
    _log(f"{s.command}")
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, s.peer)
    sizes = dataset.Sizes.at(s.scale)
    db_url = _prepare_database(s, sizes)
    ids_file = s.work_dir / "order_ids.txt"
    orders = _export_ids(db_url, ids_file)
    # The id a workload's random variable takes in checks and in the captured SQL: the first
    # order for reads; the last one for the mutation, whose update then leaves the heap
    # order of the first rows (what W1 and W3 read, unordered) as PostGraphile reads them.
    samples = {w.key: dataset.order_id(s.seed, orders if w.mutation else 1) for w in workloads}
    counts = pg.rows(db_url, "SELECT (SELECT count(*) FROM tb_customer), (SELECT count(*) FROM tb_order), "
                             "(SELECT count(*) FROM tb_order_item)")[0]
    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "seed": s.seed, "duration_s": s.duration, "warmup_s": s.warmup,
                     "concurrency": s.concurrency, "workloads": s.workloads, "peer": s.peer,
                     "pool": s.pool, "peer_workers": s.peer_workers, "threads": s.threads},
        "machine": info,
        "dataset": {"customers": int(counts[0]), "orders": int(counts[1]), "items": int(counts[2])},
        "workloads": {}, "failures": [],
    }
    config = _config(s)
    config_tv = _config(s, projections=True)
    results["startup"] = _startup(s, db_url, config)
    captured = _capture(s, db_url, samples, workloads, config)
    per_worker = max(1, -(-s.pool // s.peer_workers))
    if s.peer:
        results["peer_config"] = {"workers": s.peer_workers, "pool_per_worker": per_worker}

    for w in workloads:
        _log(f"{w.key}: {w.title}")
        entry: dict = {"title": w.title, "query": w.query, "variables": w.variables,
                       "peer_query": w.peer_query, "peer_variables": w.peer_variables,
                       "random_id": w.random_id, "ceiling_notes": list(captured[w.key]["notes"])}
        results["workloads"][w.key] = entry
        fq: dict = {}
        entry["fraiseql"] = fq
        srv = servers.fraiseql(s.fraiseql_bin, config, db_url, s.port, s.work_dir / "logs" / "fraiseql.log")
        summary = _measured("fraiseql", srv, w, w.query, w.variables, w.summary, s, ids_file, samples,
                            fq, results, half_load=True)

        if not w.mutation:
            # The same API over the tv_ projection tables (reads only: W5 writes the base
            # tables, and its read-back goes through the views).
            tv: dict = {}
            entry["fraiseql_tv"] = tv
            srv = servers.fraiseql(s.fraiseql_bin, config_tv, db_url, s.port,
                                   s.work_dir / "logs" / "fraiseql_tv.log")
            tv_summary = _measured("fraiseql_tv", srv, w, w.query, w.variables, w.summary, s, ids_file,
                                   samples, tv, results, half_load=True)
            if None not in (summary, tv_summary) and tv_summary != summary:
                entry["ceiling_notes"].append(
                    f"FraiseQL on tv_ tables answered differently: {tv_summary!r} vs {summary!r}")

        cap = captured[w.key]["capture"]
        if cap is not None:
            script = ceiling.write_script(s.work_dir / "pgbench" / f"{w.key}.sql", w.key, cap,
                                          samples[w.key], s.seed, orders)
            entry["ceiling_source"] = cap.source
            entry["ceiling_script"] = script.path.read_text()
            entry["ceiling_defines"] = script.defines
            entry["ceiling_notes"] += script.transformed
            try:
                entry["pgbench"] = _pgbench(w, script, db_url, s)
            except RuntimeError as e:
                entry["ceiling_notes"].append(f"pgbench failed: {e}")
                _log(f"  pgbench failed: {e}")

        if s.peer:
            peer: dict = {}
            entry["postgraphile"] = peer
            srv = servers.postgraphile(s.node_dir, db_url, s.peer_port, s.peer_workers, per_worker,
                                       s.work_dir / "logs" / "postgraphile.log")
            peer_summary = _measured("postgraphile", srv, w, w.peer_query, w.peer_variables,
                                     w.peer_summary, s, ids_file, samples, peer, results, half_load=False)
            if "failed" not in peer:
                entry["same_answer"] = summary is None or peer_summary == summary
                if not entry["same_answer"]:
                    entry["ceiling_notes"].append(
                        f"PostGraphile's answer differs from FraiseQL's: {peer_summary!r} vs {summary!r}")
        _save(s, results)

    if s.sqlite:
        results["sqlite"] = _sqlite(s, sizes, ids_file, samples, workloads, results, config)

    results["elapsed_s"] = round(time.time() - started, 1)
    _save(s, results)
    return _report(s, results)


def _report(s: Settings, results: dict) -> int:
    """The chart and the report from `results`; non-zero when a workload check failed."""
    png = s.results_dir / "throughput.png"
    made = chart.draw(results, png)
    report.write(s.report_path, results, png if made else None)
    _log(f"wrote {s.results_dir / 'latest.json'}, {png if made else '(no chart)'}, {s.report_path} "
         f"in {results['elapsed_s']} s")
    if results["failures"]:
        _log(f"{len(results['failures'])} workload check(s) FAILED; see the report")
        return 1
    return 0


def _sqlite(s: Settings, sizes: dataset.Sizes, ids_file: Path, samples: dict[str, str],
            workloads: list[Workload], results: dict, config: Path) -> dict:
    path = s.work_dir / "bench.db"
    dataset.create_sqlite(path, s.seed, sizes, _log)
    url = f"sqlite://{path}"
    out: dict = {"database": str(path), "workloads": {}}
    for w in workloads:
        _log(f"{w.key} on SQLite")
        fq: dict = {}
        out["workloads"][w.key] = fq
        srv = servers.fraiseql(s.fraiseql_bin, config, url, s.port, s.work_dir / "logs" / "fraiseql_sqlite.log")
        _measured("fraiseql", srv, w, w.query, w.variables, w.summary, s, ids_file, samples, fq, results,
                  half_load=False, label="fraiseql (SQLite)")
    return out


def _save(s: Settings, results: dict) -> None:
    (s.results_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
