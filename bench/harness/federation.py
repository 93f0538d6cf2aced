"""W6, a relation across databases (`--federation`, issue 11), in the order it runs:

1. the data: `fraiseql_bench` on PostgreSQL and on MariaDB (the same rows, as for
   --compare-mariadb), and `fraiseql_bench_crm` on PostgreSQL, a copy of `tb_customer` and
   `v_customer` (with its indexes) taken from `fraiseql_bench` by pg_dump;
2. three servers of one binary over one API, differing only in where the customer lives:
   W6a `bench/schema.graphql` as is (one PostgreSQL database, the relation is a subquery of
   the orders' statement); W6b and W6c the same schema with
   `Customer @source(view: "v_customer", database: "crm")` and `[databases.crm]` pointing at
   `fraiseql_bench_crm` (W6b) or at MariaDB's `fraiseql_bench` (W6c): the orders' statement
   leaves a marker per order, and one statement on crm reads the customers of all of them;
3. each variant's statements and the databases' plans (`fraiseql explain`) in
   target/bench/federation/;
4. --rounds rounds, each running the three variants one after the other (which goes first
   rotates by round, so a drift of the shared machine falls on all three), every point at
   each connection count; the check's answer is compared between the variants;
5. medians over the rounds and the cost of each cross-database variant against W6a, into
   bench/results/federation.json (or target/bench/quick/) and the section "Cross-database
   relation (issue 11, W6)" of BENCHMARKS.md, between its `federation:` markers.

The goal (issue 11): the relation across databases costs at most 2x the same relation within
one database, i.e. W6a req/s ÷ W6b (or W6c) req/s ≤ 2."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

from . import dataset, machine, mariadb, pg, servers
from .compare import _explain, _prepare_mariadb
from .run import _config, _export_ids, _log, _measured, _prepare_database
from .settings import ROOT, Settings
from .workloads import W6

VARIANTS = ("W6a", "W6b", "W6c")
LABELS = {
    "W6a": "one PostgreSQL database",
    "W6b": "customers in a second PostgreSQL database",
    "W6c": "customers on MariaDB",
}
GOAL = 2.0  # at most this many times the cost of W6a
START, END = "<!-- federation:start -->", "<!-- federation:end -->"
HEADING = "## Cross-database relation (issue 11, W6)"
CRM_SOURCE = '@source(view: "v_customer", database: "crm")'


# ---------------------------------------------------------------------------------------
# 1. data, 2. configuration

def _prepare_crm(s: Settings, sizes: dataset.Sizes, primary_url: str) -> str:
    """`<database>_crm` on PostgreSQL: tb_customer and v_customer copied from the primary
    (pg_dump: the same rows, constraints and view), kept with --reuse-data when the copy was
    made from the same seed and scale (the marker is tb_customer's comment)."""
    name = f"{s.database}_crm"
    url = pg.with_database(s.admin_url, name)
    marker = f"seed={s.seed} customers={sizes.customers} orders={sizes.orders}"
    if s.reuse_data:
        try:
            if pg.scalar(url, "SELECT obj_description('tb_customer'::regclass)") == marker:
                _log(f"reusing database {name} ({marker})")
                return url
        except RuntimeError:
            pass
    started = time.monotonic()
    dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--table=tb_customer",
                           "--table=v_customer", primary_url], text=True, capture_output=True)
    if dump.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {dump.stderr.strip()}")
    pg.run_script(s.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\nCREATE DATABASE "{name}";\n')
    pg.run_script(url, dump.stdout)
    pg.run_script(url, f"COMMENT ON TABLE tb_customer IS {pg.literal(marker)};\nVACUUM (ANALYZE) tb_customer;\n")
    count = pg.scalar(url, "SELECT count(*) FROM tb_customer")
    _log(f"PostgreSQL database {name}: {count} customers copied in {time.monotonic() - started:.1f} s")
    return url


def _crm_config(s: Settings, base: Path, crm_url: str, variant: str) -> Path:
    """The W6a config (`base`) with the customer moved to database `crm` at `crm_url`: the
    schema variant written next to it, and a `[databases.crm]` table with the primary's pool."""
    schema = (ROOT / "bench" / "schema.graphql").read_text()
    moved = schema.replace('@source(view: "v_customer")', CRM_SOURCE)
    if moved == schema:
        raise RuntimeError('bench/schema.graphql has no `@source(view: "v_customer")` to move to crm')
    schema_path = s.work_dir / "schema_crm.graphql"
    schema_path.write_text(moved)
    text = base.read_text().replace(str(ROOT / "bench" / "schema.graphql"), str(schema_path))
    if str(schema_path) not in text:
        raise RuntimeError(f"{base} does not name bench/schema.graphql")
    text += (f"\n# W6: the customers' database (bench/harness/federation.py).\n[databases.crm]\n"
             f"url = {json.dumps(crm_url)}\npool_min = {min(4, s.pool)}\npool_max = {s.pool}\n")
    path = s.work_dir / f"fraiseql_{variant.lower()}.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------
# 5. summary and report

def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _per_request_ms(seconds: float | None, point: dict) -> float | None:
    return 1000 * seconds / point["requests"] if seconds is not None and point.get("requests") else None


def _summary(results: dict) -> list[dict]:
    """Per connection count: each variant's medians over the rounds, and the cost of W6b and
    W6c relative to W6a (req/s of W6a ÷ theirs; p50 latency theirs ÷ W6a's)."""
    runs = results["variants"]
    conns = sorted({p["connections"] for v in VARIANTS for run in runs[v] for p in run.get("points", [])})
    rows = []
    for c in conns:
        row: dict = {"connections": c}
        for v in VARIANTS:
            points = [p for run in runs[v] for p in run.get("points", []) if p["connections"] == c]
            row[v] = {
                "runs": len(points),
                "rps": [p["rps"] for p in points],
                "rps_median": _median([p["rps"] for p in points]),
                "p50_ms_median": _median([p["p50_ms"] for p in points]),
                "p99_ms_median": _median([p["p99_ms"] for p in points]),
                "errors": sum(p["errors"] for p in points),
                "server_cpu_ms_per_request": _median([_per_request_ms(p["cpu_seconds"], p) for p in points]),
                "postgres_cpu_ms_per_request": _median(
                    [_per_request_ms(p["database_cpu_seconds"]["postgres"], p) for p in points]),
                "mariadbd_cpu_ms_per_request": _median(
                    [_per_request_ms(p["database_cpu_seconds"]["mariadbd"], p) for p in points]),
                "busy_points": sum(1 for p in points if p.get("other_busy_processes")),
                "loadavg_1m": [p.get("loadavg_1m") for p in points],
            }
        base = row["W6a"]
        for v in VARIANTS[1:]:
            other = row[v]
            cost = (base["rps_median"] / other["rps_median"]
                    if base["rps_median"] and other["rps_median"] else None)
            # Within a round the variants ran minutes apart at most: the cost per round is the
            # least disturbed by the shared machine's drift.
            row[f"{v}_cost_per_round"] = [
                a["rps"] / b["rps"] if b["rps"] else None
                for a, b in _paired(runs["W6a"], runs[v], c)]
            latency = (other["p50_ms_median"] / base["p50_ms_median"]
                       if base["p50_ms_median"] and other["p50_ms_median"] is not None else None)
            row[f"{v}_cost"] = cost
            row[f"{v}_p50_ratio"] = latency
            row[f"{v}_goal_met"] = None if cost is None else cost <= GOAL
        rows.append(row)
    return rows


def _paired(first: list[dict], second: list[dict], c: int) -> list[tuple[dict, dict]]:
    """The points at `c` connections of the same round of two variants."""
    def by_round(runs: list[dict]) -> dict[int, dict]:
        return {run["round"]: p for run in runs for p in run.get("points", []) if p["connections"] == c}
    one, two = by_round(first), by_round(second)
    return [(one[r], two[r]) for r in sorted(one) if r in two]


def _f(x, digits=1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _section(results: dict) -> str:
    """The BENCHMARKS.md section between the markers (the text after the end marker is
    written by hand and kept)."""
    m, st = results["machine"], results["settings"]
    busy = sum(row[v]["busy_points"] for row in results["summary"] for v in VARIANTS)
    total = sum(row[v]["runs"] for row in results["summary"] for v in VARIANTS)
    loads = [x for row in results["summary"] for v in VARIANTS for x in row[v]["loadavg_1m"] if x is not None]
    L = [START, "",
         f"Written by the harness (`bench/harness/federation.py`) on {results['started']} in "
         f"{results.get('elapsed_s', '?')} s; raw numbers in `bench/results/federation.json`. "
         "Reproduce with:", "", "```sh", results["command"], "```", "",
         f"W6 is `{results['query']}` with `{json.dumps(results['variables'])}`, the same document and "
         "binary for the three variants; only where the customer lives differs:", ""]
    for v in VARIANTS:
        L.append(f"- **{v}**, {LABELS[v]}: {results['how'][v]}")
    L += ["",
          f"Machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; "
          f"PostgreSQL {m['postgresql']}, MariaDB {m.get('mariadb', '?')}, all on this machine with "
          f"the server and wrk. `{m['fraiseql']}` at git `{m['fraiseql_git']}`. Load average "
          f"{m['load_average_at_start'][0]} at the start, {min(loads, default=0):.2f}–"
          f"{max(loads, default=0):.2f} at the points; other compilers or test runners were running "
          f"at {busy} of {total} points (a shared machine: absolute figures move, the ratios come "
          "from the variants alternating within each round). "
          f"{st['rounds']} rounds, {st['duration_s']:g} s per point after {st['warmup_s']:g} s of "
          f"warm-up, pool {st['pool']} per database, wrk {st['threads']} threads. Medians over the "
          "rounds.", "",
          "| conns | W6a req/s | W6b req/s | W6c req/s | cost W6b (a÷b) | cost W6c (a÷c) "
          "| p50 ms a / b / c | p99 ms a / b / c | FraiseQL CPU ms/req a / b / c "
          "| PostgreSQL CPU ms/req a / b / c | MariaDB CPU ms/req c | errors a / b / c |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["summary"]:
        a, b, c = (row[v] for v in VARIANTS)

        def rps(d: dict) -> str:
            if not d["rps"]:
                return "–"
            return f"{_f(d['rps_median'])} ({_f(min(d['rps']))}–{_f(max(d['rps']))})"

        def three(key: str, digits: int) -> str:
            return " / ".join(_f(d[key], digits) for d in (a, b, c))

        L.append(f"| {row['connections']} | {rps(a)} | {rps(b)} | {rps(c)} "
                 f"| {_f(row['W6b_cost'], 2)}× | {_f(row['W6c_cost'], 2)}× "
                 f"| {three('p50_ms_median', 2)} | {three('p99_ms_median', 2)} "
                 f"| {three('server_cpu_ms_per_request', 3)} | {three('postgres_cpu_ms_per_request', 3)} "
                 f"| {_f(c['mariadbd_cpu_ms_per_request'], 3)} "
                 f"| {a['errors']} / {b['errors']} / {c['errors']} |")
    L += ["", f"Goal (issue 11): a relation across databases costs at most {GOAL:g}× the same relation "
              "within one database (cost = W6a req/s ÷ the variant's req/s):", ""]
    for v in VARIANTS[1:]:
        verdicts = []
        for row in results["summary"]:
            met = row[f"{v}_goal_met"]
            state = "–" if met is None else ("met" if met else "**not met**")
            rounds = ", ".join(_f(x, 2) for x in row[f"{v}_cost_per_round"])
            verdicts.append(f"{_f(row[f'{v}_cost'], 2)}× at {row['connections']} ({state}; per round "
                            f"{rounds})")
        L.append(f"- {v} ({LABELS[v]}): " + ", ".join(verdicts) + ".")
    differing = [n for n in results["notes"] if "answered differently" in n]
    if not differing and not results["failures"]:
        L.append("- The three variants gave the same answer (every order with its customer) in every round.")
    for note in results["notes"] + [f"check failed: {f['system']}: {f['why']}" for f in results["failures"]]:
        L.append(f"- {note}")
    L += ["", "Each variant's statements and the databases' plans (`fraiseql explain`) are in "
              "`target/bench/federation/` and under `explain` in the JSON.", "", END]
    return "\n".join(L)


def _write_report(path: Path, section: str) -> None:
    """Replaces the text between the markers, or appends the section under its heading."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{section}\n"
    path.write_text(text)


# ---------------------------------------------------------------------------------------

def main(s: Settings) -> int:
    if s.report_only:
        results = json.loads((s.results_dir / "federation.json").read_text())
        results["summary"] = _summary(results)
        return _finish(s, results)
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _log(s.command)
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, peer=False)
    info["mariadb"] = mariadb.scalar(s.mariadb_url, "SELECT VERSION()")
    sizes = dataset.Sizes.at(s.scale)
    primary = _prepare_database(s, sizes)
    crm = {"W6b": _prepare_crm(s, sizes, primary), "W6c": _prepare_mariadb(s, sizes)}
    ids_file = s.work_dir / "order_ids.txt"
    _export_ids(primary, ids_file)
    samples = {W6.key: dataset.order_id(s.seed, 1)}

    configs = {"W6a": _config(s)}
    for v in ("W6b", "W6c"):
        configs[v] = _crm_config(s, configs["W6a"], crm[v], v)
    explained = {}
    for v in VARIANTS:
        path = s.work_dir / "federation" / f"{v}.txt"
        _explain(s, configs[v], primary, W6, W6.variables, path)
        explained[v] = path.read_text()

    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "seed": s.seed, "duration_s": s.duration, "warmup_s": s.warmup,
                     "concurrency": s.concurrency, "rounds": s.rounds, "pool": s.pool, "threads": s.threads},
        "machine": info, "sizes": {"customers": sizes.customers, "orders": sizes.orders},
        "query": W6.query, "variables": W6.variables,
        "how": {
            "W6a": "`bench/schema.graphql` as is; the customer is a subquery of the orders' statement "
                   f"on `{s.database}`",
            "W6b": f"`Customer {CRM_SOURCE}`, `[databases.crm]` = PostgreSQL `{s.database}_crm` (a copy "
                   "of `tb_customer` and `v_customer`); one statement on each database",
            "W6c": f"`Customer {CRM_SOURCE}`, `[databases.crm]` = MariaDB `{s.database}` (the same "
                   "rows); one statement on each database",
        },
        "explain": explained,
        "variants": {v: [] for v in VARIANTS},
        "failures": [], "notes": [],
    }
    for r in range(s.rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        answers = {}
        for v in order:
            _log(f"W6 round {r + 1}/{s.rounds}: {v}, {LABELS[v]}")
            out: dict = {"round": r + 1}
            srv = servers.fraiseql(s.fraiseql_bin, configs[v], primary, s.port,
                                   s.work_dir / "logs" / f"fraiseql_{v.lower()}.log")
            answers[v] = _measured(f"fraiseql_{v.lower()}", srv, W6, W6.query, W6.variables, W6.summary,
                                   s, ids_file, samples, out, results, half_load=False,
                                   label=f"fraiseql {v} ({LABELS[v]})")
            results["variants"][v].append(out)
        if None not in answers.values() and len({json.dumps(a) for a in answers.values()}) > 1:
            results["notes"].append(f"round {r + 1}: the variants answered differently (the check request)")
        results["summary"] = _summary(results)
        _save(s, results)

    results["elapsed_s"] = round(time.time() - started, 1)
    return _finish(s, results)


def _finish(s: Settings, results: dict) -> int:
    """Saves the results, writes the report section; non-zero when a check failed."""
    _save(s, results)
    section = _section(results)
    _write_report(s.report_path, section)
    print(section, flush=True)
    _log(f"wrote {s.results_dir / 'federation.json'} and the W6 section of {s.report_path} "
         f"in {results['elapsed_s']} s")
    if results["failures"]:
        _log(f"{len(results['failures'])} check(s) FAILED; see federation.json")
        return 1
    return 0


def _save(s: Settings, results: dict) -> None:
    (s.results_dir / "federation.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
