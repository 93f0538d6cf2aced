"""Events (`--events`, issue 12): what observers cost a mutation, and how long a committed
change takes to reach JetStream. In the order it runs:

1. the data: `fraiseql_bench` (as every mode makes it), copied as the template of
   `fraiseql_bench_events` (recreated on every run, so the orders it creates and the outbox
   never reach the other modes), plus bench/db/postgres_events.sql: `fn_create_order` (a new
   order of an existing customer with one line, returning `mutation_response`; no unique
   input needed) and a wait-event sampler;
2. two servers of one binary, schema (bench/schema.graphql plus `createOrder`) and database,
   differing only by `[observers]`: **off** has none, and the capture triggers are dropped
   before it starts (checked: none left); **on** has a table rule on `tb_order` INSERT with
   `install_triggers = true` (checked: the trigger is there), publishing to a JetStream
   stream and subject of this run's own (`BENCH_EVENTS_<run>`, `bench.events.<run>.order.created`,
   the stream deleted at the end);
3. per round (--rounds), the throughput of `createOrder` with wrk at each connection count
   (default 1 and 16), off then on or on then off (alternating by round); each point also
   samples where the database's sessions wait (pg_stat_activity, every 50 ms); after the on
   server's points, the outbox is drained before the server stops, so the relay's work never
   falls into the next point;
4. per round, the commit-to-JetStream latency: the on server, an open-loop load (Python
   asyncio: requests sent at fixed times, `--rate` per second for `--duration` seconds, not
   waiting on each other), and a JetStream subscriber (nats-py, ordered consumer, new
   messages only) taking, for every message, its arrival time minus its `ce-time` header
   (the capture time, at commit; same machine clock); the orders committed (the ids the
   mutations answered) are matched with the messages' `ce-subject`;
5. medians over the rounds and the cost of observers (1 − on ÷ off req/s), into
   bench/results/events.json (or target/bench/quick/) and the section "Events (issue 12)" of
   BENCHMARKS.md, between its `events:` markers.

nats-py is imported here only (bench/run.sh installs it into target/bench-venv); the rest
of the harness stays standard library only.

The goal (issue 12): observers cost under 15% of the mutation throughput."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import statistics
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import dataset, load, machine, pg, servers
from .run import _config, _log, _point_wrk, _prepare_database
from .settings import ROOT, Settings
from .workloads import RANDOM_ID

MODES = ("off", "on", "on_row")
# The observers-on configs: the default `ordering = "table"`, and `ordering = "row"`.
ON_MODES = ("on", "on_row")
ORDERING = {"on": 'table (default)', "on_row": "row"}
# --breakdown: observers off (no relay) with the capture triggers kept as installed, then
# with the trigger's advisory lock taken out of its function, then with its NOTIFY taken out
# too (diagnostics, not configurations): (advisory lock, NOTIFY) per variant.
BREAKDOWN = ("capture", "capture_nolock", "capture_bare")
CAPTURE_PARTS = {"capture": (True, True), "capture_nolock": (False, True), "capture_bare": (False, False)}
LABELS = {"off": "observers off", "on": "observers on", "on_row": "on, ordering=row", "capture": "capture only",
          "capture_nolock": "capture, no lock", "capture_bare": "capture, no lock, no NOTIFY"}
GOAL = 0.15  # observers cost less than this share of the throughput
START, END = "<!-- events:start -->", "<!-- events:end -->"
HEADING = "## Events (issue 12)"
MUTATION = ("mutation CreateOrder($customer: ID!, $total: Decimal!) { "
            "createOrder(customer: $customer, total: $total) { id identifier status } }")
VARIABLES = {"customer": RANDOM_ID, "total": "42.50"}
SCHEMA_FIELD = ('  "Places a pending order of one line for a customer (--events only)."\n'
                '  createOrder(customer: ID!, total: Decimal!): Order\n'
                '    @function(name: "fn_create_order", operation: "CREATE")\n')
SAMPLE_EVERY = 0.05  # seconds between wait-event samples
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------
# 1. data, 2. configuration

def _prepare_events_db(s: Settings, primary: str) -> str:
    """`<database>_events`, a copy of the primary (CREATE DATABASE … TEMPLATE: a file copy),
    with bench/db/postgres_events.sql."""
    name = f"{s.database}_events"
    url = pg.with_database(s.admin_url, name)
    started = time.monotonic()
    # A template must have no sessions: ours only (the primary was just made or checked).
    pg.run_script(s.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\n'
                               "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               f"WHERE datname = {pg.literal(s.database)} AND pid <> pg_backend_pid();\n"
                               f'CREATE DATABASE "{name}" TEMPLATE "{s.database}";\n')
    pg.run_script(url, (ROOT / "bench" / "db" / "postgres_events.sql").read_text())
    _log(f"database {name}: copied from {s.database} in {time.monotonic() - started:.1f} s")
    return url


def _export_customers(url: str, path: Path) -> int:
    ids = [r[0] for r in pg.rows(url, "SELECT id FROM tb_customer ORDER BY pk_customer")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + "\n")
    return len(ids)


def _configs(s: Settings, nats_url: str, stream: str, subject: str) -> dict[str, Path]:
    """The off config (bench/fraiseql.toml with the createOrder schema) and the on config:
    the same text plus `[observers]`."""
    schema = (ROOT / "bench" / "schema.graphql").read_text()
    with_create = schema.replace("type Mutation {\n", "type Mutation {\n" + SCHEMA_FIELD, 1)
    if with_create == schema:
        raise RuntimeError("bench/schema.graphql has no `type Mutation {` to add createOrder to")
    schema_path = s.work_dir / "schema_events.graphql"
    schema_path.write_text(with_create)
    base = _config(s).read_text().replace(str(ROOT / "bench" / "schema.graphql"), str(schema_path))
    if str(schema_path) not in base:
        raise RuntimeError("the generated config does not name bench/schema.graphql")
    observers = (
        "\n# --events: the only difference between the two servers (bench/harness/events.py).\n"
        "[observers]\n"
        'backend = "nats"\n'
        f"nats_url = {json.dumps(nats_url)}\n"
        f"stream = {json.dumps(stream)}\n"
        "install_triggers = true\n\n"
        "[[observers.rules]]\n"
        'table = "tb_order"\n'
        'event = "INSERT"\n'
        f"subject = {json.dumps(subject)}\n")
    out = {}
    row = observers.replace("install_triggers = true\n", 'install_triggers = true\nordering = "row"\n')
    for mode, text in (("off", base), ("on", base + observers), ("on_row", base + row)):
        path = s.work_dir / f"fraiseql_events_{mode}.toml"
        path.write_text(text)
        out[mode] = path
    return out


_CAPTURE_TRIGGERS = ("SELECT tgname::text, tgrelid::regclass::text FROM pg_trigger "
                     "WHERE NOT tgisinternal AND tgname LIKE 'fraiseql\\_capture\\_%'")


def _triggers(url: str) -> list[list[str]]:
    return pg.rows(url, _CAPTURE_TRIGGERS)


def _drop_triggers(url: str) -> None:
    for name, table in _triggers(url):
        pg.run_script(url, f'DROP TRIGGER IF EXISTS "{name}" ON {table};')
    left = _triggers(url)
    if left:
        raise RuntimeError(f"capture triggers still there after DROP: {left}")


def _capture_defs(url: str) -> dict:
    """The capture triggers and their functions as the on server installed them."""
    triggers = pg.rows(url, "SELECT tgname::text, tgrelid::regclass::text, pg_get_triggerdef(oid) "
                            "FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'fraiseql\\_capture\\_%'")
    functions = pg.rows(url, "SELECT DISTINCT tgfoid::regprocedure::text FROM pg_trigger "
                             "WHERE NOT tgisinternal AND tgname LIKE 'fraiseql\\_capture\\_%'")
    if not triggers or not functions:
        raise RuntimeError("the on server installed no capture trigger")
    # pg_get_functiondef's text has newlines (pg.rows splits lines): read it whole.
    functions = [(name, _text(url, f"SELECT pg_get_functiondef({pg.literal(name)}::regprocedure)"))
                 for (name,) in functions]
    return {"triggers": triggers, "functions": functions}


def _text(url: str, sql: str) -> str:
    proc = subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed ({url}): {proc.stderr.strip()}")
    return proc.stdout.rstrip("\n")


_LOCK_LINE = re.compile(r"(?m)^\s*PERFORM pg_advisory_xact_lock\(.*\);\n")
_NOTIFY_LINE = re.compile(r"(?m)^\s*PERFORM pg_notify\(.*\);\n")


def _set_capture(url: str, defs: dict, lock: bool = True, notify: bool = True) -> None:
    """The capture triggers as installed, or with the advisory lock and/or the NOTIFY taken
    out of their functions."""
    script = []
    for name, text in defs["functions"]:
        for keep, line, what in ((lock, _LOCK_LINE, "advisory lock"), (notify, _NOTIFY_LINE, "pg_notify")):
            if not keep:
                stripped = line.sub("", text)
                if stripped == text:
                    raise RuntimeError(f"no {what} in {name}: the capture function changed")
                text = stripped
        script.append(text.rstrip().rstrip(";") + ";")
    for name, table, definition in defs["triggers"]:
        script.append(f'DROP TRIGGER IF EXISTS "{name}" ON {table};')
        script.append(definition + ";")
    pg.run_script(url, "\n".join(script) + "\n")


def _purge(url: str) -> int:
    """Deletes the outbox rows no relay published (the capture-only variants'), returns how many."""
    try:
        return int(pg.scalar(url, "WITH d AS (DELETE FROM fraiseql.outbox WHERE published_at IS NULL "
                                  "RETURNING 1) SELECT count(*) FROM d"))
    except RuntimeError:
        return 0


def _wal(url: str) -> dict | None:
    """pg_stat_wal (PostgreSQL 14+; the whole server's, other sessions' too): WAL records,
    bytes, and the fsyncs of the WAL (each commit waits for one unless a group commit or
    another session's flush covered it)."""
    try:
        r = pg.rows(url, "SELECT wal_records, wal_bytes, wal_sync FROM pg_stat_wal")[0]
        return {"records": int(r[0]), "bytes": int(r[1]), "syncs": int(r[2])}
    except (RuntimeError, IndexError, ValueError):
        return None


def _vacuum(url: str) -> None:
    """VACUUM (ANALYZE) the outbox before each server: every variant starts from the same
    outbox, whatever the earlier ones left (published rows' old versions, the capture-only
    variants' deleted rows: dead entries in the partial index the relay's query scans, which
    a bitmap scan never marks dead) and whether autovacuum runs on this server or not."""
    if pg.scalar(url, "SELECT to_regclass('fraiseql.outbox') IS NOT NULL") == "t":
        pg.run_script(url, "VACUUM (ANALYZE) fraiseql.outbox;")


def _outbox(url: str) -> tuple[int, int]:
    """(rows waiting, rows with an error) in the outbox; (0, 0) before it exists."""
    try:
        r = pg.rows(url, "SELECT count(*) FILTER (WHERE published_at IS NULL AND error IS NULL), "
                         "count(*) FILTER (WHERE error IS NOT NULL) FROM fraiseql.outbox")[0]
        return int(r[0]), int(r[1])
    except RuntimeError:
        return 0, 0


def _drain(url: str, timeout: float = 120.0) -> float | None:
    """Seconds until the outbox has nothing waiting (None: still waiting at the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _outbox(url)[0] == 0:
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


# ---------------------------------------------------------------------------------------
# 3. throughput

def _check(port: int, customer: str) -> dict:
    status, body = servers.post_graphql(port, MUTATION, {"customer": customer, "total": "42.50"})
    created = (body.get("data") or {}).get("createOrder") if isinstance(body, dict) else None
    if status != 200 or body.get("errors") or not isinstance(created, dict) or not created.get("id"):
        raise RuntimeError(f"createOrder check failed: HTTP {status}: {json.dumps(body)[:1500]}")
    return created


def _waits_start(url: str, seconds: float) -> subprocess.Popen:
    """The wait-event sampler (bench_wait_samples) for about `seconds`, in the background."""
    n = max(1, int(0.9 * seconds / SAMPLE_EVERY))
    # Two -c: one string would be one implicit transaction, in which CALL cannot COMMIT.
    return subprocess.Popen(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1",
                             "-c", "SET synchronous_commit = off",
                             "-c", f"CALL bench_wait_samples({n}, {SAMPLE_EVERY})"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _waits_end(proc: subprocess.Popen) -> dict[str, int]:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {}
    line = next((ln for ln in out.splitlines() if ln.startswith("{")), "{}")
    counts: dict[str, int] = {}
    for item in line.strip("{}").split(","):
        item = item.strip().strip('"')
        if item:
            counts[item] = counts.get(item, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _throughput(mode: str, s: Settings, ev: Settings, configs: dict[str, Path], url: str, script: Path,
                customers: list[str], defs: dict, out: dict) -> None:
    """One server (a variant): check, warm-up, a point per connection count; on: the outbox
    drained after each point; capture variants: their unpublished rows deleted after."""
    if mode == "off":
        _drop_triggers(url)
    elif mode in BREAKDOWN:
        lock, notify = CAPTURE_PARTS[mode]
        _set_capture(url, defs, lock, notify)
    _vacuum(url)
    srv = servers.fraiseql(s.fraiseql_bin, configs.get(mode, configs["off"]), url, s.port,
                           s.work_dir / "logs" / f"fraiseql_events_{mode}.log")
    out["ready_ms"] = round(srv.start() * 1000, 1)
    try:
        out["capture_triggers"] = [t[0] for t in _triggers(url)]
        if (mode != "off") != bool(out["capture_triggers"]):
            raise RuntimeError(f"{LABELS[mode]} but capture triggers {out['capture_triggers'] or 'none'}")
        time.sleep(0.3)
        out["check"] = _check(s.port, customers[0])
        load.run(f"http://127.0.0.1:{s.port}/graphql", script, min(16, max(s.concurrency)), s.warmup,
                 s.threads)
        if mode in ON_MODES:
            _drain(url)
        points = []
        for c in s.concurrency:
            sampler = _waits_start(url, s.duration)
            wal_before = _wal(url)
            p = _point_wrk(srv, script, c, ev)
            wal_after = _wal(url)
            p["waits"] = _waits_end(sampler)
            if wal_before and wal_after and p["requests"]:
                p["wal_bytes_per_request"] = round((wal_after["bytes"] - wal_before["bytes"]) / p["requests"], 1)
                p["wal_syncs_per_request"] = round((wal_after["syncs"] - wal_before["syncs"]) / p["requests"], 3)
            if mode in ON_MODES:
                p["outbox_waiting_after"], p["outbox_errors"] = _outbox(url)
                # The relay's backlog goes out before the next point.
                p["drain_s"] = _drain(url)
            elif mode in BREAKDOWN:
                p["outbox_waiting_after"] = _outbox(url)[0]
            top = ", ".join(f"{k} {v}" for k, v in list(p["waits"].items())[:3])
            _log(f"  {LABELS[mode]:13} c={c:<3} {p['rps']:>9.1f} req/s  p50 {p['p50_ms']:.2f} ms  "
                 f"p99 {p['p99_ms']:.2f} ms  errors {p['errors']}  cpu {p['cpu_seconds']} s  "
                 f"WAL {p.get('wal_bytes_per_request')} B/req {p.get('wal_syncs_per_request')} fsync/req"
                 + (f"  outbox after {p['outbox_waiting_after']} (drained in {p['drain_s']} s)"
                    if mode in ON_MODES else "") + f"  waits: {top}")
            if p["errors"]:
                status, body = servers.post_graphql(s.port, MUTATION, {"customer": customers[0],
                                                                       "total": "42.50"})
                p["probe_after_errors"] = {"http_status": status, "response": json.dumps(body)[:1500]}
            points.append(p)
        out["points"] = points
    finally:
        srv.stop()
        if mode in BREAKDOWN:
            out["purged_rows"] = _purge(url)
            _set_capture(url, defs)


# ---------------------------------------------------------------------------------------
# 4. commit-to-JetStream latency

async def _http_post(pool: list, port: int, body: bytes) -> tuple[int, bytes]:
    """One POST /graphql over a kept-alive connection from `pool` (a new one if none is free)."""
    if pool:
        reader, writer = pool.pop()
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Accept: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        writer.close()
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        data = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        data = b"".join(parts)
    else:
        data = await reader.read()
    if headers.get("connection", "").lower() == "close":
        writer.close()
    else:
        pool.append((reader, writer))
    return status, data


def _us(ce_time: str) -> int:
    """An RFC 3339 UTC time (`ce-time`) in microseconds since the epoch."""
    t = datetime.fromisoformat(ce_time.replace("Z", "+00:00"))
    return (t - EPOCH) // timedelta(microseconds=1)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100 * len(v) + 0.5)) - 1))]


async def _latency_run(s: Settings, nats_url: str, stream: str, subject: str,
                       customers: list[str]) -> dict:
    import nats
    from nats.js.api import DeliverPolicy

    received: dict[str, list] = {}   # order id -> [latency_ms, ...] (more than one: a duplicate)
    headerless = 0

    async def on_message(msg) -> None:
        nonlocal headerless
        now = time.time_ns() // 1000
        h = msg.headers or {}
        if "ce-time" not in h:
            headerless += 1
            return
        key = h.get("ce-subject") or h.get("Nats-Msg-Id") or str(len(received))
        received.setdefault(key, []).append((now - _us(h["ce-time"])) / 1000)

    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, stream=stream, cb=on_message, ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.NEW)
        await nc.flush()
        await asyncio.sleep(0.3)
        rng = random.Random(s.seed)
        total = int(s.rate * s.duration)
        committed: dict[str, float] = {}   # order id -> HTTP latency ms
        failures: list[str] = []
        lateness: list[float] = []
        pool: list = []
        loop = asyncio.get_running_loop()

        async def one(customer: str) -> None:
            body = json.dumps({"query": MUTATION, "variables": {"customer": customer, "total": "42.50"}},
                              separators=(",", ":")).encode()
            sent = time.perf_counter()
            try:
                status, raw = await _http_post(pool, s.port, body)
                took = (time.perf_counter() - sent) * 1000
                doc = json.loads(raw)
                created = (doc.get("data") or {}).get("createOrder")
                if status == 200 and not doc.get("errors") and created and created.get("id"):
                    committed[created["id"]] = took
                else:
                    failures.append(f"HTTP {status}: {raw[:300]!r}")
            except Exception as e:  # noqa: BLE001 - every failure is counted, the run goes on
                failures.append(f"{type(e).__name__}: {e}")

        tasks = []
        t0 = loop.time() + 0.1
        started = time.monotonic() + 0.1
        for i in range(total):
            at = t0 + i / s.rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append((loop.time() - at) * 1000)
            tasks.append(asyncio.create_task(one(customers[rng.randrange(len(customers))])))
        sent_s = time.monotonic() - started + 1 / s.rate  # the last request's slot included
        await asyncio.gather(*tasks)
        # Every committed order's message, or 30 s; then a little longer for duplicates.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not set(committed) <= set(received):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await sub.unsubscribe()
        for _, w in pool:
            w.close()
    finally:
        await nc.close()

    latencies = [v[0] for k, v in received.items() if k in committed]
    missing = [k for k in committed if k not in received]
    http = list(committed.values())
    return {
        "target_rate": s.rate, "seconds": s.duration, "sent": total,
        "achieved_rate": round(total / sent_s, 1) if sent_s else None,
        "send_lateness_ms_p99": _round(_pct(lateness, 99)),
        "send_lateness_ms_max": _round(max(lateness, default=None)),
        "committed": len(committed), "failed_requests": len(failures), "failures_sample": failures[:5],
        "received": sum(len(v) for v in received.values()),
        "received_committed": len(latencies),
        "missing": len(missing), "missing_sample": missing[:5],
        "unexpected": len([k for k in received if k not in committed]),
        "duplicates": sum(len(v) - 1 for v in received.values()),
        "without_ce_time": headerless,
        "latency_ms": {"p50": _round(_pct(latencies, 50)), "p90": _round(_pct(latencies, 90)),
                       "p99": _round(_pct(latencies, 99)), "max": _round(max(latencies, default=None)),
                       "min": _round(min(latencies, default=None)),
                       "mean": _round(statistics.fmean(latencies) if latencies else None)},
        "http_ms": {"p50": _round(_pct(http, 50)), "p99": _round(_pct(http, 99)),
                    "max": _round(max(http, default=None))},
        "samples_ms": [round(x, 3) for x in latencies],
    }


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _latency(s: Settings, config: Path, url: str, nats_url: str, stream: str, subject: str,
             customers: list[str], out: dict) -> None:
    _vacuum(url)
    srv = servers.fraiseql(s.fraiseql_bin, config, url, s.port, s.work_dir / "logs" / "fraiseql_events_latency.log")
    srv.start()
    try:
        _check(s.port, customers[0])  # the stream exists from the first publish on
        out["drain_before_s"] = _drain(url)
        out.update(asyncio.run(_latency_run(s, nats_url, stream, subject, customers)))
        out["outbox_waiting_after"], out["outbox_errors"] = _outbox(url)
        lat = out["latency_ms"]
        _log(f"  latency at {out['achieved_rate']}/s for {s.duration:g} s: committed {out['committed']}, "
             f"received {out['received']} (missing {out['missing']}, duplicates {out['duplicates']}); "
             f"commit to JetStream p50 {lat['p50']} ms p99 {lat['p99']} ms max {lat['max']} ms; "
             f"HTTP p50 {out['http_ms']['p50']} ms")
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------
# NATS

async def _nats_describe(nats_url: str) -> dict:
    import nats
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        info = await nc.jetstream().account_info()  # raises when JetStream is off
        v = nc.connected_server_version
        return {"nats_server": f"nats-server {v.major}.{v.minor}.{v.patch}",
                "jetstream_streams": info.streams}
    finally:
        await nc.close()


async def _delete_stream(nats_url: str, stream: str) -> bool:
    import nats
    from nats.js.errors import NotFoundError
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        return await nc.jetstream().delete_stream(stream)
    except NotFoundError:
        return False
    finally:
        await nc.close()


# ---------------------------------------------------------------------------------------
# 5. summary and report

def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _per_request_ms(seconds: float | None, point: dict) -> float | None:
    return 1000 * seconds / point["requests"] if seconds is not None and point.get("requests") else None


def _waits_share(points: list[dict]) -> dict[str, float]:
    total: dict[str, int] = {}
    for p in points:
        for k, v in (p.get("waits") or {}).items():
            total[k] = total.get(k, 0) + v
    n = sum(total.values())
    return {k: round(v / n, 3) for k, v in sorted(total.items(), key=lambda kv: -kv[1])} if n else {}


def _summary(results: dict) -> dict:
    runs = results["throughput"]
    variants = [m for m in MODES + BREAKDOWN if m in runs]
    conns = sorted({p["connections"] for m in variants for run in runs[m] for p in run.get("points", [])})
    rows = []
    for c in conns:
        row: dict = {"connections": c}
        for m in variants:
            points = [p for run in runs[m] for p in run.get("points", []) if p["connections"] == c]
            row[m] = {
                "runs": len(points),
                "rps": [p["rps"] for p in points],
                "rps_median": _median([p["rps"] for p in points]),
                "p50_ms_median": _median([p["p50_ms"] for p in points]),
                "p99_ms_median": _median([p["p99_ms"] for p in points]),
                "errors": sum(p["errors"] for p in points),
                "server_cpu_ms_per_request": _median([_per_request_ms(p["cpu_seconds"], p) for p in points]),
                "postgres_cpu_ms_per_request": _median(
                    [_per_request_ms(p["database_cpu_seconds"]["postgres"], p) for p in points]),
                "waits": _waits_share(points),
                "wal_bytes_per_request": _median([p.get("wal_bytes_per_request") for p in points]),
                "wal_syncs_per_request": _median([p.get("wal_syncs_per_request") for p in points]),
                "busy_points": sum(1 for p in points if p.get("other_busy_processes")),
                "loadavg_1m": [p.get("loadavg_1m") for p in points],
                "outbox_waiting_after_max": max((p.get("outbox_waiting_after", 0) for p in points), default=0),
                "drain_s_max": max((p.get("drain_s") or 0 for p in points), default=0),
            }
        off, on = row["off"]["rps_median"], row["on"]["rps_median"]
        row["cost"] = 1 - on / off if off and on is not None else None
        for m in variants[2:]:
            v = row[m]["rps_median"]
            row[f"cost_{m}"] = 1 - v / off if off and v is not None else None
        by_round = {m: {run["round"]: p for run in runs[m] for p in run.get("points", [])
                        if p["connections"] == c} for m in variants}
        for m in (x for x in ON_MODES if x in variants):
            suffix = "" if m == "on" else f"_{m}"
            per_round = [round(1 - by_round[m][r]["rps"] / by_round["off"][r]["rps"], 3)
                         for r in sorted(by_round["off"]) if r in by_round[m] and by_round["off"][r]["rps"]]
            row[f"cost_per_round{suffix}"] = per_round
            # The median of the per-round costs is less moved by one disturbed point than the
            # cost of the medians; the verdict takes the worse of the two.
            row[f"cost_per_round_median{suffix}"] = _median(per_round)
            worst = max((x for x in (row["cost"] if m == "on" else row[f"cost_{m}"], _median(per_round))
                         if x is not None), default=None)
            row[f"goal_met{suffix}"] = None if worst is None else worst < GOAL
        rows.append(row)
    lat = [run for run in results["latency"] if "latency_ms" in run]
    pooled = [x for run in lat for x in run.get("samples_ms", [])]
    latency = {
        "runs": len(lat),
        "committed": sum(r["committed"] for r in lat), "received": sum(r["received"] for r in lat),
        "missing": sum(r["missing"] for r in lat), "duplicates": sum(r["duplicates"] for r in lat),
        "failed_requests": sum(r["failed_requests"] for r in lat),
        "p50_ms_median": _median([r["latency_ms"]["p50"] for r in lat]),
        "p99_ms_median": _median([r["latency_ms"]["p99"] for r in lat]),
        "max_ms": max((r["latency_ms"]["max"] for r in lat if r["latency_ms"]["max"] is not None), default=None),
        "pooled_p50_ms": _round(_pct(pooled, 50)), "pooled_p99_ms": _round(_pct(pooled, 99)),
        "all_received": bool(lat) and all(r["missing"] == 0 and r["received"] == r["committed"] for r in lat),
    }
    return {"throughput": rows, "latency": latency}


def _f(x, digits=1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _pc(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _section(results: dict) -> str:
    m, st, sm = results["machine"], results["settings"], results["summary"]
    rows = sm["throughput"]
    present = [x for x in MODES + BREAKDOWN if rows and x in rows[0]]
    ons = [x for x in ON_MODES if x in present]
    busy = sum(row[x]["busy_points"] for row in rows for x in present)
    total = sum(row[x]["runs"] for row in rows for x in present)
    loads = [x for row in rows for md in present for x in row[md]["loadavg_1m"] if x is not None]
    L = [START, "",
         f"Written by the harness (`bench/harness/events.py`) on {results['started']} in "
         f"{results.get('elapsed_s', '?')} s; raw numbers in `bench/results/events.json`. Reproduce with:",
         "", "```sh", results["command"], "```", "",
         f"The mutation is `{results['mutation']}` with a random customer per request: "
         "`fn_create_order` (bench/db/postgres_events.sql) inserts an order and its one line and "
         "returns `mutation_response`; FraiseQL reads the order back from `v_order`. Same binary, "
         f"schema and database (`{results['database']}`, a copy of the dataset) for every server; "
         "only `[observers]` differs:", "",
         "- **off**: no `[observers]`; the capture triggers dropped before the server starts "
         "(checked: none on the database).",
         "- **on**: `[observers]` with one table rule, `tb_order` INSERT → "
         f"`{results['subject']}`, stream `{results['stream']}`, `install_triggers = true` "
         "(checked: the trigger is there); the relay publishes to JetStream "
         f"({results['machine'].get('nats_server', 'NATS')}, on this machine) while the load runs, and the "
         "outbox is drained after each point before the next one. `ordering` is left at its default, "
         "`\"table\"` (commit order across the table: the trigger takes a per-table advisory lock).",
         "- **on, ordering = row**: the same `[observers]` plus `ordering = \"row\"` (each row's "
         "changes in order; no per-table lock)." if "on_row" in present else "", "",
         f"Machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; PostgreSQL "
         f"{m['postgresql']} (synchronous_commit {m.get('synchronous_commit', '?')}, autovacuum "
         f"{m.get('autovacuum', '?')}; the outbox is vacuumed before each server), NATS, the server, "
         f"wrk and the harness all on this machine. `{m['fraiseql']}` at git `{m['fraiseql_git']}`. Load "
         f"average {m['load_average_at_start'][0]} at the start, {min(loads, default=0):.2f}–"
         f"{max(loads, default=0):.2f} at the points; other compilers or test runners were running at "
         f"{busy} of {total} points (a shared machine: absolute figures move, the ratios come from the "
         "variants alternating within each round). "
         f"{st['rounds']} rounds (the variants one after the other, which goes first rotating by round), "
         f"{st['duration_s']:g} s "
         f"per point after {st['warmup_s']:g} s of warm-up, pool {st['pool']}, wrk {st['threads']} threads. "
         "Medians over the rounds.", "",
         "### Mutation throughput, observers off and on", "",
         "| conns | ordering | off req/s | on req/s | cost (1 − on÷off) | cost per round | p50 ms off / on "
         "| p99 ms off / on | FraiseQL CPU ms/req off / on | PostgreSQL CPU ms/req off / on "
         "| WAL bytes/req off / on | WAL fsyncs/req off / on | outbox left after a point (max) "
         "| errors off / on |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row, mode in ((row, mode) for row in rows for mode in ons):
        off, on = row["off"], row[mode]
        suffix = "" if mode == "on" else f"_{mode}"
        cost = row["cost"] if mode == "on" else row.get(f"cost_{mode}")

        def rps(d: dict) -> str:
            if not d["rps"]:
                return "–"
            return f"{_f(d['rps_median'])} ({_f(min(d['rps']))}–{_f(max(d['rps']))})"

        def two(key: str, digits: int) -> str:
            return f"{_f(off[key], digits)} / {_f(on[key], digits)}"

        L.append(f"| {row['connections']} | {ORDERING[mode]} | {rps(off)} | {rps(on)} | {_pc(cost)} "
                 f"| {', '.join(_pc(x) for x in row[f'cost_per_round{suffix}'])} | {two('p50_ms_median', 2)} "
                 f"| {two('p99_ms_median', 2)} | {two('server_cpu_ms_per_request', 3)} "
                 f"| {two('postgres_cpu_ms_per_request', 3)} | {two('wal_bytes_per_request', 0)} "
                 f"| {two('wal_syncs_per_request', 2)} | {on['outbox_waiting_after_max']} "
                 f"(drained in ≤ {_f(on['drain_s_max'], 2)} s) | {off['errors']} / {on['errors']} |")
    L += ["", f"Goal (issue 12): observers cost under {GOAL:.0%} of the mutation throughput (the verdict "
              "takes the worse of the cost of the medians and the median of the per-round costs):", ""]
    for mode in ons:
        suffix = "" if mode == "on" else f"_{mode}"
        verdicts = []
        for row in rows:
            met = row.get(f"goal_met{suffix}")
            state = "–" if met is None else ("met" if met else "**not met**")
            cost = row["cost"] if mode == "on" else row.get(f"cost_{mode}")
            verdicts.append(f"{_pc(cost)} at {row['connections']} (per-round median "
                            f"{_pc(row.get(f'cost_per_round_median{suffix}'))}; {state})")
        L.append(f"- ordering {ORDERING[mode]}: " + ", ".join(verdicts) + ".")
    variants = present
    extra = [m for m in variants if m in BREAKDOWN]
    if extra:
        L += ["", "Where the cost goes (`--breakdown`: three diagnostic variants in the same rotation, "
                  "all with the off config, i.e. no relay, and the capture trigger as the on server "
                  "installs it: **capture only** as installed; **capture, no lock** with the trigger "
                  "function's `pg_advisory_xact_lock` line taken out; **capture, no lock, no NOTIFY** "
                  "with its `pg_notify` line taken out too; their outbox rows are deleted after each "
                  "run). req/s medians, cost against off in brackets:", "",
              "| conns | off | no lock, no NOTIFY (trigger + outbox row) | no lock (+ NOTIFY) "
              "| capture only (+ advisory lock) | on (+ relay) "
              "| PostgreSQL CPU ms/req off / bare / no lock / capture / on "
              "| WAL fsyncs/req off / bare / no lock / capture / on |",
              "|---|---|---|---|---|---|---|---|"]
        order = ("off", "capture_bare", "capture_nolock", "capture", "on")
        for row in rows:
            def cell(m: str) -> str:
                if m not in row:
                    return "–"
                cost = row["cost"] if m == "on" else row.get(f"cost_{m}")
                return f"{_f(row[m]['rps_median'])} ({_pc(cost)})"
            cpu = " / ".join(_f(row[m]["postgres_cpu_ms_per_request"], 3) if m in row else "–"
                             for m in order)
            syncs = " / ".join(_f(row[m]["wal_syncs_per_request"], 2) if m in row else "–"
                               for m in order)
            L.append(f"| {row['connections']} | {_f(row['off']['rps_median'])} | {cell('capture_bare')} "
                     f"| {cell('capture_nolock')} | {cell('capture')} | {cell('on')} | {cpu} | {syncs} |")
    L += ["", "Where the database's sessions were (share of the active-session samples taken every "
              f"{int(SAMPLE_EVERY * 1000)} ms during the points, `pg_stat_activity`; `CPU` = no wait "
              "event):", "", "| conns | " + " | ".join(LABELS[m] for m in variants) + " |",
          "|---|" + "---|" * len(variants)]
    for row in rows:
        def top(d: dict) -> str:
            return ", ".join(f"{k} {v:.0%}" for k, v in list(d["waits"].items())[:4]) or "–"
        L.append(f"| {row['connections']} | " + " | ".join(top(row[m]) for m in variants) + " |")
    lat = sm["latency"]
    L += ["", "### Commit to JetStream", "",
          f"Per round, the on server under an open-loop load of {_f(st['rate'], 0)} mutations/s for "
          f"{st['duration_s']:g} s (Python asyncio: each request sent at its time, not waiting for the "
          "others), and a JetStream subscriber on the subject (ordered consumer, new messages only): "
          "latency = arrival time − `ce-time` (the capture time, taken at commit; same clock). The "
          "committed orders (the ids the mutations answered) are matched with the messages' `ce-subject`.", "",
          "| round | sent/s | committed | received | missing | duplicates | p50 ms | p90 ms | p99 ms | max ms "
          "| mutation HTTP p50 / p99 ms |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in results["latency"]:
        if "latency_ms" not in run:
            L.append(f"| {run['round']} | failed: {run.get('error', '?')} |||||||||")
            continue
        x = run["latency_ms"]
        L.append(f"| {run['round']} | {_f(run['achieved_rate'])} | {run['committed']} | {run['received']} "
                 f"| {run['missing']} | {run['duplicates']} | {_f(x['p50'], 2)} | {_f(x['p90'], 2)} "
                 f"| {_f(x['p99'], 2)} | {_f(x['max'], 2)} | {_f(run['http_ms']['p50'], 2)} / "
                 f"{_f(run['http_ms']['p99'], 2)} |")
    L += ["", f"Medians over the rounds: p50 {_f(lat['p50_ms_median'], 2)} ms, p99 "
              f"{_f(lat['p99_ms_median'], 2)} ms; max {_f(lat['max_ms'], 2)} ms; all rounds pooled: p50 "
              f"{_f(lat['pooled_p50_ms'], 2)} ms, p99 {_f(lat['pooled_p99_ms'], 2)} ms. Received "
              f"{lat['received']} messages for {lat['committed']} committed orders "
              + ("(every committed order exactly once)." if lat["all_received"] and not lat["duplicates"]
                 else f"(**{lat['missing']} missing, {lat['duplicates']} duplicates**)."), ""]
    for note in results["notes"] + [f"failed: {f}" for f in results["failures"]]:
        L.append(f"- {note}")
    L += ["", END]
    return "\n".join(L)


def _write_report(path: Path, section: str, start: str = START, end: str = END, heading: str = HEADING) -> None:
    """Replaces the text between the markers, or appends the section under its heading."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{section}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ---------------------------------------------------------------------------------------

def main(s: Settings) -> int:
    if s.report_only:
        results = json.loads((s.results_dir / "events.json").read_text())
        results["summary"] = _summary(results)
        return _finish(s, results)
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _log(s.command)
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, peer=False)
    try:
        info.update(asyncio.run(_nats_describe(s.nats_url)))
    except Exception as e:  # noqa: BLE001
        raise SystemExit(f"NATS with JetStream is needed at {s.nats_url} (--nats-url): {e}")
    info["synchronous_commit"] = pg.scalar(s.admin_url, "SHOW synchronous_commit")
    info["autovacuum"] = pg.scalar(s.admin_url, "SHOW autovacuum")
    sizes = dataset.Sizes.at(s.scale)
    primary = _prepare_database(s, sizes)
    url = _prepare_events_db(s, primary)
    ev = dataclasses.replace(s, database=f"{s.database}_events")
    customers_file = s.work_dir / "customer_ids.txt"
    _export_customers(url, customers_file)
    customers = customers_file.read_text().split()

    run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime(started)) + f"_{random.randrange(16**4):04x}"
    stream, subject = f"BENCH_EVENTS_{run_id}", f"bench.events.{run_id}.order.created"
    configs = _configs(s, s.nats_url, stream, subject)
    script = load.write_script(s.work_dir / "lua" / "events_create_order.lua", "events createOrder",
                               {"query": MUTATION, "variables": VARIABLES}, customers_file, s.seed)

    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "seed": s.seed, "duration_s": s.duration, "warmup_s": s.warmup,
                     "concurrency": s.concurrency, "rounds": s.rounds, "pool": s.pool, "threads": s.threads,
                     "rate": s.rate, "nats_url": s.nats_url},
        "machine": info, "sizes": {"customers": sizes.customers, "orders": sizes.orders},
        "database": ev.database, "stream": stream, "subject": subject,
        "mutation": MUTATION, "variables": VARIABLES,
        "configs": {m: p.read_text() for m, p in configs.items()},
        "throughput": {}, "latency": [], "failures": [], "notes": [],
    }
    variants = MODES + (BREAKDOWN if s.breakdown else ())
    results["throughput"] = {m: [] for m in variants}
    try:
        # The on server once: it installs the outbox and the trigger and creates the stream;
        # the capture variants reuse the trigger as it installed it.
        _log("events: installing the outbox and the capture trigger (the on server once)")
        prime = servers.fraiseql(s.fraiseql_bin, configs["on"], url, s.port,
                                 s.work_dir / "logs" / "fraiseql_events_on.log")
        prime.start()
        try:
            _check(s.port, customers[0])
            _drain(url, 30)
            defs = _capture_defs(url)
        finally:
            prime.stop()
        results["capture_sql"] = {"triggers": [d[2] for d in defs["triggers"]],
                                  "functions": [d[1] for d in defs["functions"]]}
        for r in range(s.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for mode in order:
                _log(f"events round {r + 1}/{s.rounds}: throughput, {LABELS[mode]}")
                out: dict = {"round": r + 1}
                try:
                    _throughput(mode, s, ev, configs, url, script, customers, defs, out)
                except RuntimeError as e:
                    _log(f"  FAILED: {e}")
                    out["error"] = str(e)
                    results["failures"].append(f"round {r + 1} {LABELS[mode]}: {e}")
                results["throughput"][mode].append(out)
                results["summary"] = _summary(results)
                _save(s, results)
            _log(f"events round {r + 1}/{s.rounds}: commit-to-JetStream latency at {s.rate:g}/s")
            out = {"round": r + 1}
            try:
                _latency(s, configs["on"], url, s.nats_url, stream, subject, customers, out)
            except Exception as e:  # noqa: BLE001 - recorded, the other rounds go on
                _log(f"  FAILED: {type(e).__name__}: {e}")
                out["error"] = f"{type(e).__name__}: {e}"
                results["failures"].append(f"round {r + 1} latency: {out['error']}")
            results["latency"].append(out)
            results["summary"] = _summary(results)
            _save(s, results)
    finally:
        try:
            asyncio.run(_delete_stream(s.nats_url, stream))
        except Exception as e:  # noqa: BLE001
            results["notes"].append(f"stream {stream} not deleted: {e}")
    lat = results["summary"]["latency"]
    if not lat["all_received"] or lat["duplicates"]:
        results["failures"].append(f"events received {lat['received']} for {lat['committed']} committed "
                                   f"({lat['missing']} missing, {lat['duplicates']} duplicates)")
    results["elapsed_s"] = round(time.time() - started, 1)
    return _finish(s, results)


def _finish(s: Settings, results: dict) -> int:
    _save(s, results)
    section = _section(results)
    _write_report(s.report_path, section)
    print(section, flush=True)
    _log(f"wrote {s.results_dir / 'events.json'} and the events section of {s.report_path} "
         f"in {results.get('elapsed_s', '?')} s")
    if results["failures"]:
        _log(f"{len(results['failures'])} failure(s); see events.json")
        return 1
    return 0


def _save(s: Settings, results: dict) -> None:
    (s.results_dir / "events.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
