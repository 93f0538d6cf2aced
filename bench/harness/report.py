"""The report: the harness's section of BENCHMARKS.md (between the `harness:start` and
`harness:end` markers; the rest of the file belongs to other people and is kept as is)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

START, END = "<!-- harness:start -->", "<!-- harness:end -->"
INTRO = """# Benchmarks

Measured numbers for FraiseQL. Each section says how it was produced; the load benchmark's
section is rewritten by `bash bench/run.sh` (see bench/README.md), the rest by hand.
"""


# FraiseQL's two runs: over the views (the bar's main figures) and over the tv_ tables.
SYSTEMS = [("fraiseql", ""), ("fraiseql_tv", " on tv_ tables")]


def _points(entry: dict, system: str) -> dict[int, dict]:
    value = entry.get(system)
    if isinstance(value, dict):
        value = value.get("points", [])
    return {p["connections"]: p for p in value or []}


def _f(x, digits=1, unit="") -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}{unit}"


def _ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def _cpu_ms(point: dict | None) -> float | None:
    """The server's CPU time per answered request during a point, in ms."""
    if not point or not point.get("requests"):
        return None
    return 1000 * point["cpu_seconds"] / point["requests"]


def _bars(results: dict) -> list[tuple[str, str, str, bool | None]]:
    """(criterion, target, measured, met) rows."""
    rows = []
    wl = results["workloads"]
    conns = results["settings"]["concurrency"]
    top = max(conns)
    for key in ("W1", "W2"):
        if key not in wl:
            continue
        fq, pb = _points(wl[key], "fraiseql").get(top), _points(wl[key], "pgbench").get(top)
        r = _ratio(fq and fq["rps"], pb and pb["tps"])
        rows.append((f"{key} throughput at {top} connections vs pgbench ceiling", "≥ 0.8×",
                     f"{_f(r, 2)}× ({_f(fq and fq['rps'])} req/s vs {_f(pb and pb['tps'])} tps)",
                     None if r is None else r >= 0.8))
    if results["settings"].get("peer"):
        for system, where in SYSTEMS:
            for key in ("W1", "W2", "W3", "W4"):
                if key not in wl:
                    continue
                crit = f"{key} throughput{where} vs PostGraphile, every connection count"
                fq, pgl = _points(wl[key], system), _points(wl[key], "postgraphile")
                ratios = {c: _ratio(fq[c]["rps"], pgl[c]["rps"]) for c in conns if c in fq and c in pgl}
                if not ratios or None in ratios.values():
                    rows.append((crit, "≥ 3×", "not measured", None))
                    continue
                rows.append((crit, "≥ 3×", ", ".join(f"{r:.2f}× at {c}" for c, r in sorted(ratios.items())),
                             min(ratios.values()) >= 3))
    if results["settings"].get("peer"):
        # Not a criterion of the bar: what each server spends per request, which bounds the
        # throughput ratio once PostgreSQL's own share of the cores is taken out.
        for key in ("W1", "W2", "W3", "W4", "W5"):
            if key not in wl:
                continue
            fq = _cpu_ms(_points(wl[key], "fraiseql").get(top))
            tv = _cpu_ms(_points(wl[key], "fraiseql_tv").get(top))
            pgl = _cpu_ms(_points(wl[key], "postgraphile").get(top))
            if fq is None or pgl is None:
                continue
            ours = f"{_f(fq, 3)} ms" + (f" (tv_ tables {_f(tv, 3)} ms)" if tv is not None else "")
            rows.append((f"{key} server CPU per request at {top} connections (information)", "–",
                         f"FraiseQL {ours} vs PostGraphile {_f(pgl, 3)} ms: {_f(_ratio(pgl, fq), 1)}× less",
                         None))
    for system, where in SYSTEMS:
        for key, entry in wl.items():
            half = entry.get(system, {}).get("half_load")
            if half:
                rows.append((f"{key} p99 at half of max throughput{where}", "< 10 ms",
                             f"{_f(half['p99_ms'], 2)} ms at {_f(half['rps'])} req/s "
                             f"(max {_f(half['max_rps'])})", half["p99_ms"] < 10))
    st = results.get("startup", {})
    if st:
        rows.append(("idle RSS after startup", "< 20 MB", f"{_f(st['idle_rss_mb'])} MB",
                     st["idle_rss_mb"] < 20))
        rows.append(("cold start to ready (median of 5)", "< 200 ms",
                     f"{_f(st['cold_start_median_ms'])} ms (all: {', '.join(_f(x) for x in st['cold_start_ms'])})",
                     st["cold_start_median_ms"] < 200))
    return rows


def _table(results: dict) -> list[str]:
    peer = results["settings"].get("peer")
    head = ["workload", "conns", "FraiseQL req/s", "p50 ms", "p99 ms", "errors", "CPU s",
            "CPU ms/req", "peak RSS MB", "pgbench tps", "× ceiling"]
    if peer:
        head += ["PostGraphile req/s", "PG p99 ms", "PG errors", "PG CPU ms/req", "× PostGraphile"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, entry in results["workloads"].items():
        fq, pb, pgl = (_points(entry, s) for s in ("fraiseql", "pgbench", "postgraphile"))
        for c in results["settings"]["concurrency"]:
            f, b, p = fq.get(c), pb.get(c), pgl.get(c)
            noisy = any(x and x.get("other_busy_processes", 0) > 0 for x in (f, b, p))
            row = [key, f"{c}{' †' if noisy else ''}", _f(f and f["rps"]), _f(f and f["p50_ms"], 2), _f(f and f["p99_ms"], 2),
                   str(f["errors"]) if f else "–", _f(f and f["cpu_seconds"], 1), _f(_cpu_ms(f), 3),
                   _f(f and f["peak_rss_mb"], 1), _f(b and b["tps"]),
                   _f(_ratio(f and f["rps"], b and b["tps"]), 2)]
            if peer:
                row += [_f(p and p["rps"]), _f(p and p["p99_ms"], 2), str(p["errors"]) if p else "–",
                        _f(_cpu_ms(p), 3), _f(_ratio(f and f["rps"], p and p["rps"]), 2)]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def _tv_table(results: dict) -> list[str]:
    peer = results["settings"].get("peer")
    head = ["workload", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU s", "CPU ms/req", "× views"]
    if peer:
        head.append("× PostGraphile")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, entry in results["workloads"].items():
        tv, fq, pgl = (_points(entry, s) for s in ("fraiseql_tv", "fraiseql", "postgraphile"))
        for c in results["settings"]["concurrency"]:
            t, f, p = tv.get(c), fq.get(c), pgl.get(c)
            if not t:
                continue
            row = [key, str(c), _f(t["rps"]), _f(t["p50_ms"], 2), _f(t["p99_ms"], 2), str(t["errors"]),
                   _f(t["cpu_seconds"], 1), _f(_cpu_ms(t), 3), _f(_ratio(t["rps"], f and f["rps"]), 2)]
            if peer:
                row.append(_f(_ratio(t["rps"], p and p["rps"]), 2))
            lines.append("| " + " | ".join(row) + " |")
    return lines if len(lines) > 2 else []


def _failures(results: dict) -> list[str]:
    out = []
    for d in results.get("failures", []):
        out += [f"- **{d['system']} {d['workload']}: {d['why']}** (HTTP {d['http_status']})",
                f"  - document: `{d['query']}`",
                f"  - variables: `{json.dumps(d['variables'])}`",
                f"  - response: `{json.dumps(d['response'])[:1500]}`"]
    return out


def _load_errors(results: dict) -> list[str]:
    out = []
    systems = [(k, s, e) for k, e in results["workloads"].items()
               for s in ("fraiseql", "fraiseql_tv", "postgraphile")]
    systems += [(k, "fraiseql (SQLite)", {"fraiseql (SQLite)": e})
                for k, e in (results.get("sqlite") or {}).get("workloads", {}).items()]
    for key, system, entry in systems:
        for c, p in sorted(_points(entry, system).items()):
            if p.get("errors"):
                probe = p.get("probe_after_errors", {})
                out.append(f"- {system} {key} at {c} connections: {p['errors']} of {p['requests']} "
                           f"requests failed (non-2xx {p['non_2xx']}, socket {p['socket_errors']}, "
                           f"GraphQL errors {p['graphql_errors']}); one request right after the "
                           f"point answered HTTP {probe.get('http_status')}: `{probe.get('response')}`")
    return out


def section(results: dict, chart: Path | None, report_path: Path) -> str:
    m, ds, st = results["machine"], results["dataset"], results["settings"]
    L = [START, "## Load benchmark (`bench/run.sh`)", "",
         f"Written by the harness on {results['started']} in {results.get('elapsed_s', '?')} s; "
         f"raw numbers in `bench/results/latest.json`. Reproduce with:", "",
         "```sh", results["command"], "```", ""]
    if results.get("failures"):
        L += ["### Failed checks", "", "These workloads answered errors or no data and were not "
              "measured:", ""] + _failures(results) + [""]
    errors = _load_errors(results)
    if errors:
        L += ["### Errors under load", ""] + errors + [""]
    L += ["### Bar", "", "| criterion | target | measured | met |", "|---|---|---|---|"]
    for crit, target, measured, met in _bars(results):
        L.append(f"| {crit} | {target} | {measured} | "
                 f"{'–' if met is None else ('**met**' if met else '**not met**')} |")
    L += ["", "### Throughput and latency", "",
          f"{st['duration_s']:g} s per point after a {st['warmup_s']:g} s warm-up; closed loop (each "
          "connection sends its next request when the previous one is answered). errors = non-2xx "
          "+ socket errors + 200 responses carrying GraphQL `errors`. CPU s and peak RSS are the "
          "server process's (PostGraphile: all its processes) during the point; CPU ms/req is CPU s "
          "over the requests answered. × ceiling = "
          "FraiseQL req/s ÷ pgbench tps of the same SQL; × PostGraphile = FraiseQL req/s ÷ "
          "PostGraphile req/s.", ""]
    L += _table(results)
    if chart is not None:
        rel = os.path.relpath(chart, report_path.parent)
        L += ["", f"![throughput by connection count]({rel})"]
    tv = _tv_table(results)
    if tv:
        L += ["", "FraiseQL over the `tv_` projection tables (`bench/db/postgres_projections.sql`): "
              "the same documents and schema with each type's source renamed from `v_x` to "
              "`tv_x`, a table holding the view's rows, so the database extracts fields from "
              "stored jsonb instead of building each entity's JSON per request. Reads only. "
              "× views = these req/s ÷ FraiseQL's over the views.", ""] + tv
    half = [(k, where or " on views", e[system]["half_load"]) for system, where in SYSTEMS
            for k, e in results["workloads"].items() if e.get(system, {}).get("half_load")]
    if half:
        L += ["", "Latency at half of the maximum throughput (FraiseQL; "
              f"{max(st['concurrency'])} connections, each pausing between requests):", "",
              "| workload | source | target req/s | achieved req/s | p50 ms | p99 ms | errors |",
              "|---|---|---|---|---|---|---|"]
        for k, where, h in half:
            L.append(f"| {k} | {where.replace(' on ', '')} | {_f(h['target_rps'])} | {_f(h['rps'])} | "
                     f"{_f(h['p50_ms'], 2)} | {_f(h['p99_ms'], 2)} | {h['errors']} |")
    peer_starts = [(k, e["postgraphile"]) for k, e in results["workloads"].items()
                   if isinstance(e.get("postgraphile"), dict) and "ready_ms" in e["postgraphile"]]
    if peer_starts:
        fq_starts = [e["fraiseql"] for e in results["workloads"].values() if "ready_ms" in e.get("fraiseql", {})]
        med = lambda xs: sorted(xs)[len(xs) // 2]
        L += ["", "Start-up, each server as started for the workloads (median over "
              f"{len(peer_starts)} starts): FraiseQL ready in "
              f"{_f(med([x['ready_ms'] for x in fq_starts]))} ms with "
              f"{_f(med([x['rss_at_ready_mb'] for x in fq_starts]))} MB resident; PostGraphile in "
              f"{_f(med([x['ready_ms'] for _, x in peer_starts]))} ms with "
              f"{_f(med([x['rss_at_ready_mb'] for _, x in peer_starts]))} MB (all its processes)."]
    if results.get("sqlite"):
        L += ["", "FraiseQL on SQLite (same data, `--sqlite`; no ceiling or peer):", "",
              "| workload | conns | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
        for k, e in results["sqlite"]["workloads"].items():
            for p in e.get("points", []):
                L.append(f"| {k} | {p['connections']} | {_f(p['rps'])} | {_f(p['p50_ms'], 2)} | "
                         f"{_f(p['p99_ms'], 2)} | {p['errors']} |")
    L += ["", "### Machine and versions", "", "| | |", "|---|---|",
          f"| machine | {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB RAM, {m['os']} "
          f"(kernel {m['kernel']}); load average at start {m['load_average_at_start']} |",
          f"| fraiseql | {m['fraiseql']}, git {m['fraiseql_git']}, release build |",
          f"| PostgreSQL | {m['postgresql']} (server settings untouched), {m['pgbench']} |",
          f"| load generator | {m['wrk']}, {st['threads']} threads |"]
    if st.get("peer"):
        pc = results.get("peer_config", {})
        L.append(f"| peer | PostGraphile {m.get('postgraphile')} + postgraphile-plugin-connection-filter "
                 f"{m.get('postgraphile_plugin_connection_filter')}, node {m.get('node')}; "
                 f"{pc.get('workers')} cluster workers × {pc.get('pool_per_worker')} connections |")
    points = [p for e in results["workloads"].values()
              for sys_ in ("fraiseql", "fraiseql_tv", "pgbench", "postgraphile")
              for p in _points(e, sys_).values()]
    busy = sum(1 for p in points if p.get("other_busy_processes", 0) > 0)
    sessions = max((p.get("other_pg_sessions", 0) for p in points), default=0)
    waited = sum(p.get("waited_for_quiet_s", 0) for p in points)
    L += ["", "Everything runs on this one machine: the server under test, PostgreSQL and the "
          f"load generator share its {m['cpus']} cores, so every number includes the load "
          "generator's own CPU use, and the ceiling's pgbench competes with PostgreSQL just as "
          "wrk competes with the server. pgbench opens one PostgreSQL backend per connection; "
          f"FraiseQL funnels its connections through a pool of {st['pool']} "
          "(`fraiseql run bench/fraiseql.toml`, `RUST_LOG=warn`: no per-request log line). "
          "The machine is shared with other people's builds and tests: "
          f"{busy} of {len(points)} points started while other compilers or test runners were "
          "running (marked † in the table)"
          + (f" after the harness had waited {waited:.0f} s in all for them to finish "
             "(`--wait-for-quiet`)" if waited else "") + ", and at most "
          f"{sessions} sessions of other databases were open on the PostgreSQL server "
          "(`other_busy_processes`, `other_pg_sessions`, `loadavg_1m` per point in latest.json)."]
    L += ["", "### Dataset", "",
          f"{ds['customers']:,} customers, {ds['orders']:,} orders, {ds['items']:,} order items "
          f"(scale {st['scale']:g}, seed {st['seed']}), generated in SQL by "
          "`bench/harness/dataset.py` into tables `tb_customer`, `tb_order`, `tb_order_item` "
          "with views `v_customer`, `v_order`, `v_order_item` (`bench/db/postgres.sql`): `data` "
          "is jsonb with snake_case keys and nested address objects. Order → customer and "
          "order → items are `@relation`s (`bench/schema.graphql`). After the load, "
          "`bench/db/postgres_projections.sql` stores each view's rows in a `tv_` table "
          "(`tv_customer`, `tv_order`, `tv_order_item`, with the same indexes) for the second "
          "FraiseQL run."]
    L += ["", "### Workloads, ceiling and peer", ""]
    for key, e in results["workloads"].items():
        L += [f"**{key}** — {e['title']}.", "",
              f"- FraiseQL: `{e['query']}` variables `{json.dumps(e['variables'])}`",
              f"- PostGraphile: `{e['peer_query']}` variables `{json.dumps(e['peer_variables'])}`"]
        if e.get("random_id"):
            L.append(f"- `{e['random_id']}` is a random order id on every request "
                     "(wrk's Lua picks one of the dataset's ids)")
        if e.get("same_answer"):
            L.append("- both servers answered the same rows (checked before the load)")
        for note in e.get("ceiling_notes", []):
            L.append(f"- note: {note}")
        if e.get("ceiling_script"):
            L += ["", f"<details><summary>{key} ceiling: the pgbench script (from "
                  f"<code>{e['ceiling_source']}</code>), run with <code>-D</code> "
                  f"{html.escape(json.dumps(e.get('ceiling_defines', {})))}</summary>", "", "```sql"]
            L += e["ceiling_script"].splitlines() + ["```", "", "</details>"]
        L.append("")
    L += ["How the ceiling is made: the statements are captured from the engine on every run, "
          "never written by hand — `fraiseql explain` for reads, and for the mutation (which "
          "`explain` does not render) the PostgreSQL log with `log_statement = 'all'` set on the "
          "bench database while one request is sent. Each `$n` becomes a pgbench variable bound "
          "as a parameter (`pgbench -M prepared`, `-D` for fixed values), so pgbench runs the "
          "same prepared statements; the only change is the random order id, computed in SQL "
          "from a random integer (shown above). The peer runs on the base tables (`tb_*`), which "
          "is how PostGraphile is meant to be used; W4's `filter` comes from "
          "postgraphile-plugin-connection-filter, and W5 calls `pgl_update_order_status`, which "
          "calls the same `fn_update_order_status` and returns the updated row (FraiseQL reads "
          "it back through `v_order`). Before any load, each document is sent once to each "
          "server and must answer data without errors; the harness also compares the two "
          "servers' answers (same rows).", END]
    return "\n".join(L) + "\n"


def write(path: Path, results: dict, chart: Path | None) -> None:
    text = path.read_text() if path.exists() else INTRO
    new = section(results, chart, path)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + new.rstrip("\n") + after
    else:
        text = text.rstrip("\n") + "\n\n" + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
