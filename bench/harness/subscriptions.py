"""Subscriptions (`--subscriptions`, issue 13): how long a committed change takes to reach
WebSocket clients, with one subscriber and with many on one server, and what an open
connection costs the server in memory. In the order it runs:

1. the data: the database of `--events` (`<database>_events`, a copy of the dataset with
   bench/db/postgres_events.sql's `fn_create_order`), recreated;
2. one config: bench/fraiseql.toml's, the schema plus `createOrder` and
   `Subscription.orderCreated` (`@topic` on this run's own subject, `operation: "CREATE"`),
   `[observers]` with a table rule on `tb_order` INSERT publishing to this run's JetStream
   stream (deleted at the end), and `[subscriptions]` with the per-address limit raised
   (every client is on 127.0.0.1);
3. per round (--rounds), for 1 and for --subscribers subscribers (which goes first
   alternating by round), a fresh server and bench/subscriptions/client.mjs (Node.js, `ws`):
   the server's resident memory before any connection, with every connection open and
   initialised but idle, and with every one subscribed to `orderCreated { id identifier
   status total }` (one selection: one read per event, pushed to all); a second of warm-up
   mutations; then `createOrder` open-loop at --rate per second for --duration seconds over
   HTTP, every pushed message timed on the client's clock against the mutation's answer
   (at most commit-to-client: the commit came first) and its sending (at least that);
4. medians over the rounds into bench/results/subscriptions.json (or target/bench/quick/) and
   the section "Subscriptions (issue 13)" of BENCHMARKS.md, between its `subscriptions:`
   markers.

The goal (issue 13): commit-to-client p99 under 100 ms at a steady rate."""

from __future__ import annotations

import asyncio
import json
import random
import resource
import subprocess
import time
from pathlib import Path

from . import dataset, machine, pg, servers
from .events import (SCHEMA_FIELD, MUTATION, _check, _delete_stream, _export_customers, _median,
                     _nats_describe, _prepare_events_db, _write_report, _f)
from .run import _config, _log, _prepare_database
from .settings import ROOT, Settings

GOAL_MS = 100.0
START, END = "<!-- subscriptions:start -->", "<!-- subscriptions:end -->"
HEADING = "## Subscriptions (issue 13)"
SUBSCRIPTION = "subscription { orderCreated { id identifier status total } }"
CLIENT = ROOT / "bench" / "subscriptions" / "client.mjs"


def _config_file(s: Settings, nats_url: str, stream: str, subject: str, subscribers: int) -> Path:
    schema = (ROOT / "bench" / "schema.graphql").read_text()
    with_create = schema.replace("type Mutation {\n", "type Mutation {\n" + SCHEMA_FIELD, 1)
    if with_create == schema:
        raise RuntimeError("bench/schema.graphql has no `type Mutation {` to add createOrder to")
    with_create += ('\ntype Subscription {\n'
                    '  "Each new order, pushed over WebSocket as it commits (--subscriptions only)."\n'
                    f'  orderCreated: Order! @topic(name: {json.dumps(subject)}, operation: "CREATE")\n'
                    '}\n')
    schema_path = s.work_dir / "schema_subscriptions.graphql"
    schema_path.write_text(with_create)
    base = _config(s).read_text().replace(str(ROOT / "bench" / "schema.graphql"), str(schema_path))
    if str(schema_path) not in base:
        raise RuntimeError("the generated config does not name bench/schema.graphql")
    text = base + (
        "\n# --subscriptions (bench/harness/subscriptions.py).\n"
        "[observers]\n"
        'backend = "nats"\n'
        f"nats_url = {json.dumps(nats_url)}\n"
        f"stream = {json.dumps(stream)}\n"
        "install_triggers = true\n\n"
        "[[observers.rules]]\n"
        'table = "tb_order"\n'
        'event = "INSERT"\n'
        f"subject = {json.dumps(subject)}\n\n"
        "[subscriptions]\n"
        "# Every client of the benchmark connects from 127.0.0.1.\n"
        f"max_connections_per_ip = {subscribers + 100}\n"
        f"max_connections = {subscribers + 100}\n")
    path = s.work_dir / "fraiseql_subscriptions.toml"
    path.write_text(text)
    return path


def _raise_open_files() -> None:
    """A thousand sockets on each side: the soft limit up to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _point(s: Settings, config: Path, url: str, customers: list[str], subscribers: int, out: dict) -> None:
    srv = servers.fraiseql(s.fraiseql_bin, config, url, s.port,
                           s.work_dir / "logs" / f"fraiseql_subscriptions_{subscribers}.log")
    srv.start()
    try:
        _check(s.port, customers[0])  # the stream exists from the first publish on
        settings = {
            "port": s.port, "pid": srv.proc.pid, "subscribers": subscribers, "rate": s.rate,
            "duration": s.duration, "mutation": MUTATION, "subscription": SUBSCRIPTION,
            "customers": customers[:2000],
        }
        path = s.work_dir / f"subscriptions_client_{subscribers}.json"
        path.write_text(json.dumps(settings))
        proc = subprocess.run(["node", str(CLIENT), str(path)], text=True, capture_output=True,
                              timeout=s.duration + 300)
        for line in proc.stderr.splitlines():
            _log(line)
        if proc.returncode != 0:
            raise RuntimeError(f"client.mjs failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        a, b = out["latency_from_answer_ms"], out["latency_from_send_ms"]
        _log(f"  {subscribers} subscriber(s) at {out['achieved_rate']}/s: {out['received_messages']} of "
             f"{out['expected_messages']} messages (missing {out['missing']}, duplicates {out['duplicates']}); "
             f"answer-to-client p50 {a['p50']} ms p99 {a['p99']} ms; send-to-client p50 {b['p50']} ms "
             f"p99 {b['p99']} ms; fan-out spread p99 {out['fan_out_spread_ms']['p99']} ms; "
             f"{out['per_idle_connection_kib']} KiB per idle connection, "
             f"{out['per_subscription_kib']} KiB per subscription")
    finally:
        srv.stop()


def _summary(results: dict) -> dict:
    rows = []
    for n in sorted({run["subscribers"] for run in results["points"] if "subscribers" in run}):
        runs = [r for r in results["points"] if r.get("subscribers") == n and "latency_from_answer_ms" in r]
        med = lambda f: _median([f(r) for r in runs])  # noqa: E731
        rows.append({
            "subscribers": n, "runs": len(runs),
            "answer_p50_ms": med(lambda r: r["latency_from_answer_ms"]["p50"]),
            "answer_p99_ms": med(lambda r: r["latency_from_answer_ms"]["p99"]),
            "send_p50_ms": med(lambda r: r["latency_from_send_ms"]["p50"]),
            "send_p99_ms": med(lambda r: r["latency_from_send_ms"]["p99"]),
            "send_max_ms": max((r["latency_from_send_ms"]["max"] for r in runs), default=None),
            "spread_p99_ms": med(lambda r: r["fan_out_spread_ms"]["p99"]),
            "http_p50_ms": med(lambda r: r["http_ms"]["p50"]),
            "per_idle_connection_kib": med(lambda r: r["per_idle_connection_kib"]),
            "per_subscription_kib": med(lambda r: r["per_subscription_kib"]),
            "rss_before_kib": med(lambda r: r["rss_kib"]["before"]),
            "rss_subscribed_kib": med(lambda r: r["rss_kib"]["subscribed"]),
            "achieved_rate": med(lambda r: r["achieved_rate"]),
            "expected": sum(r["expected_messages"] for r in runs),
            "received": sum(r["received_messages"] for r in runs),
            "missing": sum(r["missing"] for r in runs), "duplicates": sum(r["duplicates"] for r in runs),
            "failed_requests": sum(r["failed_requests"] for r in runs),
        })
    for row in rows:
        row["goal_met"] = None if row["send_p99_ms"] is None else row["send_p99_ms"] < GOAL_MS
    return {"rows": rows}


def _section(results: dict) -> str:
    m, st, rows = results["machine"], results["settings"], results["summary"]["rows"]
    L = [START, "",
         f"Written by the harness (`bench/harness/subscriptions.py`) on {results['started']} in "
         f"{results.get('elapsed_s', '?')} s; raw numbers in `bench/results/subscriptions.json`. "
         "Reproduce with:", "", "```sh", results["command"], "```", "",
         f"One server on PostgreSQL ({m['postgresql']}) with `[observers]` publishing `tb_order` INSERTs "
         f"to JetStream ({m.get('nats_server', 'NATS')}, this machine) and `Subscription.orderCreated` "
         f"on that subject; clients subscribe to `{SUBSCRIPTION}` (one selection: the server reads each "
         "event's order once and pushes it to every subscriber). A fresh server per point; the client "
         "(`bench/subscriptions/client.mjs`, Node.js `ws`, one process) opens the connections, then "
         f"sends `createOrder` open-loop at {_f(st['rate'], 0)}/s for {st['duration_s']:g} s over HTTP. "
         "Each message is timed on the client's clock: **answer→client** is its arrival minus the "
         "mutation's HTTP answer (the commit came before the answer: at most commit-to-client), "
         "**send→client** its arrival minus the request's sending (at least commit-to-client). "
         "Memory is the server's resident set (`VmRSS`) before any connection, with every connection "
         "initialised and idle (1 s after), and with every one subscribed.", "",
         f"Machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; `{m['fraiseql']}` at "
         f"git `{m['fraiseql_git']}`; everything on this machine (a shared one: absolute figures move). "
         f"{st['rounds']} rounds, the two sizes alternating which goes first; medians over the rounds.", "",
         "| subscribers | messages received / expected | answer→client p50 / p99 ms | send→client p50 / p99 "
         "/ max ms | fan-out spread p99 ms | mutation HTTP p50 ms | server RSS before → subscribed "
         "| KiB per idle connection | KiB per subscription |",
         "|---|---|---|---|---|---|---|---|---|"]
    def per(r: dict, key: str) -> str:
        # One connection's share is below what RSS resolves (pages, allocator arenas).
        return _f(r[key], 1) if r["subscribers"] >= 100 else "–"

    for r in rows:
        L.append(f"| {r['subscribers']:,} | {r['received']:,} / {r['expected']:,} "
                 f"| {_f(r['answer_p50_ms'], 2)} / {_f(r['answer_p99_ms'], 2)} "
                 f"| {_f(r['send_p50_ms'], 2)} / {_f(r['send_p99_ms'], 2)} / {_f(r['send_max_ms'], 2)} "
                 f"| {_f(r['spread_p99_ms'], 2)} | {_f(r['http_p50_ms'], 2)} "
                 f"| {_f(r['rss_before_kib'] / 1024, 1)} → {_f(r['rss_subscribed_kib'] / 1024, 1)} MiB "
                 f"| {per(r, 'per_idle_connection_kib')} | {per(r, 'per_subscription_kib')} |")
    L += ["", f"Goal (issue 13): commit-to-client p99 under {GOAL_MS:g} ms at a steady rate, taken on the "
              "send→client figure (the upper bound): " + ", ".join(
                  f"{r['subscribers']:,} subscriber(s) {_f(r['send_p99_ms'], 1)} ms "
                  f"({'met' if r['goal_met'] else '**not met**'})" for r in rows) + ".",
          "", "The fan-out spread is, per order, the last subscriber's arrival minus the first's: the "
              "time the server takes to write one event to every connection, plus the single client "
              "process reading them all."]
    for note in results["notes"] + [f"failed: {f}" for f in results["failures"]]:
        L.append(f"- {note}")
    L += ["", END]
    return "\n".join(L)


def main(s: Settings) -> int:
    path = s.results_dir / "subscriptions.json"
    if s.report_only:
        results = json.loads(path.read_text())
        results["summary"] = _summary(results)
        return _finish(s, results)
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    _raise_open_files()
    started = time.time()
    _log(s.command)
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, peer=False)
    try:
        info.update(asyncio.run(_nats_describe(s.nats_url)))
    except Exception as e:  # noqa: BLE001
        raise SystemExit(f"NATS with JetStream is needed at {s.nats_url} (--nats-url): {e}")
    primary = _prepare_database(s, dataset.Sizes.at(s.scale))
    url = _prepare_events_db(s, primary)
    customers_file = s.work_dir / "customer_ids.txt"
    _export_customers(url, customers_file)
    customers = customers_file.read_text().split()
    run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime(started)) + f"_{random.randrange(16**4):04x}"
    stream, subject = f"BENCH_SUBS_{run_id}", f"bench.subs.{run_id}.order.created"
    config = _config_file(s, s.nats_url, stream, subject, s.subscribers)
    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "duration_s": s.duration, "rounds": s.rounds, "rate": s.rate,
                     "subscribers": s.subscribers, "pool": s.pool, "nats_url": s.nats_url},
        "machine": info, "stream": stream, "subject": subject, "mutation": MUTATION,
        "subscription": SUBSCRIPTION, "config": config.read_text(),
        "points": [], "failures": [], "notes": [],
    }
    sizes = (1, s.subscribers)
    try:
        for r in range(s.rounds):
            for n in (sizes if r % 2 == 0 else sizes[::-1]):
                _log(f"subscriptions round {r + 1}/{s.rounds}: {n} subscriber(s)")
                out: dict = {"round": r + 1, "subscribers": n}
                try:
                    _point(s, config, url, customers, n, out)
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                    _log(f"  FAILED: {e}")
                    out["error"] = str(e)
                    results["failures"].append(f"round {r + 1}, {n} subscriber(s): {e}")
                results["points"].append(out)
                results["summary"] = _summary(results)
                _save(s, results)
    finally:
        try:
            asyncio.run(_delete_stream(s.nats_url, stream))
        except Exception as e:  # noqa: BLE001
            results["notes"].append(f"stream {stream} not deleted: {e}")
    for row in results["summary"]["rows"]:
        if row["missing"] or row["duplicates"] or row["failed_requests"]:
            results["failures"].append(f"{row['subscribers']} subscriber(s): {row['missing']} messages missing, "
                                       f"{row['duplicates']} duplicates, {row['failed_requests']} failed mutations")
    results["elapsed_s"] = round(time.time() - started, 1)
    return _finish(s, results)


def _finish(s: Settings, results: dict) -> int:
    _save(s, results)
    section = _section(results)
    _write_report(s.report_path, section, START, END, HEADING)
    print(section, flush=True)
    _log(f"wrote {s.results_dir / 'subscriptions.json'} and the subscriptions section of {s.report_path}")
    if results["failures"]:
        _log(f"{len(results['failures'])} failure(s); see subscriptions.json")
        return 1
    return 0


def _save(s: Settings, results: dict) -> None:
    (s.results_dir / "subscriptions.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
