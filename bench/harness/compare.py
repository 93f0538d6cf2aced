"""FraiseQL on PostgreSQL beside FraiseQL on MariaDB (`--compare-mariadb`), in the order it
runs:

1. the same rows in both databases: `fraiseql_bench` on PostgreSQL (dataset.create_postgres)
   and on MariaDB (dataset.create_mariadb, bench/db/mariadb.sql), the order ids file;
2. the SQL and the database's plan per workload and database (`fraiseql explain`), kept in
   target/bench/compare/ for reading;
3. the read workloads round by round, each round running every workload on both databases
   (which one goes first alternates by round, so a drift of the shared machine falls on
   both), then W5 the same way: its writes come after every read, as in the full run;
4. medians over the rounds, MariaDB ÷ PostgreSQL, into bench/results/mariadb.json (or
   target/bench/quick/) and a Markdown table in target/bench/mariadb.md.

One binary, schema and config (bench/fraiseql.toml); only the database URL differs. Each
check's answer is compared between the two databases. No ceiling, peer, tv_ tables or
SQLite: those belong to the full run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from . import dataset, machine, mariadb, pg, servers
from .run import _config, _export_ids, _log, _measured, _prepare_database
from .settings import ROOT, Settings
from .workloads import ALL, Workload, with_id

DATABASES = ("postgresql", "mariadb")
LABELS = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}


def _prepare_mariadb(s: Settings, sizes: dataset.Sizes) -> str:
    """`fraiseql_bench` on MariaDB, kept with --reuse-data when made with the same seed and
    scale (the marker is tb_order's comment, as on PostgreSQL)."""
    url = pg.with_database(s.mariadb_url, s.database)
    marker = f"seed={s.seed} customers={sizes.customers} orders={sizes.orders}"
    if s.reuse_data:
        try:
            comment = mariadb.scalar(url, "SELECT table_comment FROM information_schema.tables "
                                          "WHERE table_schema = DATABASE() AND table_name = 'tb_order'")
            if comment == marker:
                _log(f"reusing MariaDB database {s.database} ({marker})")
                return url
        except RuntimeError:
            pass
    url = dataset.create_mariadb(s.mariadb_url, s.database, s.seed, sizes, s.work_dir, _log)
    mariadb.run_script(url, f"ALTER TABLE tb_order COMMENT = {pg.literal(marker)};")
    return url


def _explain(s: Settings, config: Path, url: str, w: Workload, variables: dict, path: Path) -> None:
    """`fraiseql explain` of a read workload (the statement and the database's plan) into
    `path`; mutations are not rendered by explain."""
    proc = subprocess.run([str(s.fraiseql_bin), "explain", "--config", str(config), "--variables",
                           json.dumps(variables), "-"], input=w.query, text=True,
                          capture_output=True, cwd=config.parent,
                          env={**os.environ, "FRAISEQL_BENCH_DATABASE_URL": url})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(proc.stdout + proc.stderr)


def _median(points: list[dict], key) -> float | None:
    values = [key(p) for p in points]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _per_request_ms(seconds: float | None, point: dict) -> float | None:
    return 1000 * seconds / point["requests"] if seconds is not None and point.get("requests") else None


def _summary(results: dict) -> list[dict]:
    """Per workload and connection count: each database's medians over the rounds."""
    process = {"postgresql": "postgres", "mariadb": "mariadbd"}
    rows = []
    for key, entry in results["workloads"].items():
        conns = sorted({p["connections"] for db in DATABASES for run in entry[db]
                        for p in run.get("points", [])})
        for c in conns:
            row: dict = {"workload": key, "connections": c}
            for db in DATABASES:
                points = [p for run in entry[db] for p in run.get("points", []) if p["connections"] == c]
                row[db] = {
                    "runs": len(points),
                    "rps": [p["rps"] for p in points],
                    "rps_median": _median(points, lambda p: p["rps"]),
                    "p50_ms_median": _median(points, lambda p: p["p50_ms"]),
                    "p99_ms_median": _median(points, lambda p: p["p99_ms"]),
                    "errors": sum(p["errors"] for p in points),
                    "server_cpu_ms_per_request": _median(
                        points, lambda p: _per_request_ms(p["cpu_seconds"], p)),
                    "database_cpu_ms_per_request": _median(
                        points, lambda p: _per_request_ms(p["database_cpu_seconds"][process[db]], p)),
                }
            pg_rps, my_rps = row["postgresql"]["rps_median"], row["mariadb"]["rps_median"]
            row["mariadb_over_postgresql"] = my_rps / pg_rps if pg_rps and my_rps is not None else None
            rows.append(row)
    return rows


def _f(x, digits=1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _markdown(results: dict) -> str:
    """The comparison as a Markdown table (pasted into BENCHMARKS.md by hand)."""
    lines = [
        f"`{results['command']}`, {results['started']}, {results['settings']['rounds']} rounds, "
        f"{results['settings']['duration_s']:g} s per point; medians over the rounds "
        "(req/s: median, then the range).",
        "",
        "| workload | conns | PostgreSQL req/s | MariaDB req/s | MariaDB ÷ PG | p99 ms PG | p99 ms MariaDB "
        "| FraiseQL CPU ms/req PG / MariaDB | database CPU ms/req PG / MariaDB | errors PG / MariaDB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["summary"]:
        pgr, myr = row["postgresql"], row["mariadb"]

        def rps(d: dict) -> str:
            if not d["rps"]:
                return "–"
            return f"{_f(d['rps_median'])} ({_f(min(d['rps']))}–{_f(max(d['rps']))})"

        lines.append(
            f"| {row['workload']} | {row['connections']} | {rps(pgr)} | {rps(myr)} "
            f"| {_f(row['mariadb_over_postgresql'], 2)}× | {_f(pgr['p99_ms_median'], 2)} "
            f"| {_f(myr['p99_ms_median'], 2)} "
            f"| {_f(pgr['server_cpu_ms_per_request'], 3)} / {_f(myr['server_cpu_ms_per_request'], 3)} "
            f"| {_f(pgr['database_cpu_ms_per_request'], 3)} / {_f(myr['database_cpu_ms_per_request'], 3)} "
            f"| {pgr['errors']} / {myr['errors']} |")
    for note in results["notes"]:
        lines += ["", f"- {note}"]
    return "\n".join(lines) + "\n"


def main(s: Settings) -> int:
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    workloads = [ALL[k] for k in s.workloads]
    started = time.time()
    _log(s.command)
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, peer=False)
    info["mariadb"] = mariadb.scalar(s.mariadb_url, "SELECT VERSION()")
    info["mariadb_settings"] = dict(zip(
        ("innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit", "innodb_flush_method"),
        mariadb.rows(s.mariadb_url, "SELECT @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit, "
                                    "@@innodb_flush_method")[0]))
    info["postgresql_settings"] = {
        "shared_buffers": pg.scalar(s.admin_url, "SHOW shared_buffers"),
        "synchronous_commit": pg.scalar(s.admin_url, "SHOW synchronous_commit"),
    }
    sizes = dataset.Sizes.at(s.scale)
    urls = {"postgresql": _prepare_database(s, sizes), "mariadb": _prepare_mariadb(s, sizes)}
    ids_file = s.work_dir / "order_ids.txt"
    orders = _export_ids(urls["postgresql"], ids_file)
    samples = {w.key: dataset.order_id(s.seed, orders if w.mutation else 1) for w in workloads}
    config = _config(s)
    for w in workloads:
        if not w.mutation:
            for db in DATABASES:
                _explain(s, config, urls[db], w, with_id(w.variables, samples[w.key]),
                         s.work_dir / "compare" / f"{db}_{w.key}.txt")

    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "seed": s.seed, "duration_s": s.duration, "warmup_s": s.warmup,
                     "concurrency": s.concurrency, "workloads": s.workloads, "rounds": s.rounds,
                     "pool": s.pool, "threads": s.threads},
        "machine": info, "sizes": {"customers": sizes.customers, "orders": sizes.orders},
        "workloads": {w.key: {"title": w.title, "query": w.query, "variables": w.variables,
                              **{db: [] for db in DATABASES}} for w in workloads},
        "failures": [], "notes": [],
    }
    reads = [w for w in workloads if not w.mutation]
    writes = [w for w in workloads if w.mutation]
    for group in (reads, writes):
        for r in range(s.rounds):
            for w in group:
                answers = {}
                for db in (DATABASES if r % 2 == 0 else DATABASES[::-1]):
                    _log(f"{w.key} round {r + 1}/{s.rounds} on {LABELS[db]}")
                    out: dict = {"round": r + 1}
                    srv = servers.fraiseql(s.fraiseql_bin, config, urls[db], s.port,
                                           s.work_dir / "logs" / f"fraiseql_{db}.log")
                    # The whole `data` of the check's answer, to compare the two databases.
                    answers[db] = _measured(f"fraiseql_{db}", srv, w, w.query, w.variables,
                                            lambda d: d, s, ids_file, samples, out, results,
                                            half_load=False, label=f"fraiseql ({LABELS[db]})")
                    results["workloads"][w.key][db].append(out)
                if None not in answers.values() and answers["postgresql"] != answers["mariadb"]:
                    results["notes"].append(f"{w.key} round {r + 1}: the two databases answered "
                                            "differently (the check request)")
                results["summary"] = _summary(results)
                _save(s, results)

    results["elapsed_s"] = round(time.time() - started, 1)
    _save(s, results)
    table = _markdown(results)
    (s.work_dir / "mariadb.md").write_text(table)
    print(table, flush=True)
    _log(f"wrote {s.results_dir / 'mariadb.json'} and {s.work_dir / 'mariadb.md'} "
         f"in {results['elapsed_s']} s")
    if results["failures"]:
        _log(f"{len(results['failures'])} workload check(s) FAILED; see mariadb.json")
        return 1
    return 0


def _save(s: Settings, results: dict) -> None:
    (s.results_dir / "mariadb.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
