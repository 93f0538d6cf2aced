"""Command-line flags -> validated settings for one harness run."""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .workloads import ALL

BENCH_DIR = Path(__file__).resolve().parent.parent
ROOT = BENCH_DIR.parent


@dataclass(frozen=True)
class Settings:
    scale: float
    seed: int
    duration: float
    warmup: float
    concurrency: list[int]
    workloads: list[str]
    peer: bool
    sqlite: bool
    compare_mariadb: bool
    federation: bool
    events: bool
    auth: bool           # --auth: W1/W2 with [auth] HS256 and the claims prelude, vs none
    tenancy: bool        # --tenancy: W1/W2 with row-level security vs none; 1,000 tenant databases
    apollo: bool         # --apollo: _entities by key vs the same rows by a list query; @requires
    subscriptions: bool  # --subscriptions: commit-to-client latency, 1 vs --subscribers
    subscribers: int
    breakdown: bool      # --events: also the capture-only variants
    rounds: int
    rate: float          # --events: mutations per second of the latency run
    nats_url: str
    mariadb_url: str
    quick: bool
    report_only: bool
    reuse_data: bool
    admin_url: str
    database: str
    fraiseql_bin: Path
    node_dir: Path
    work_dir: Path       # target/bench: generated SQL, scripts, logs (not committed)
    results_dir: Path    # bench/results: latest.json and the chart (committed)
    report_path: Path    # BENCHMARKS.md
    port: int
    peer_port: int
    pool: int
    peer_workers: int
    threads: int         # wrk/pgbench threads
    wait_quiet: float
    command: str


def _concurrency(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("connection counts must be positive integers")
    return sorted(set(values))


def _workloads(text: str) -> list[str]:
    keys = [x.strip().upper() for x in text.split(",") if x.strip()]
    unknown = [k for k in keys if k not in ALL]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"unknown workload(s) {unknown}; known: {', '.join(ALL)}")
    return [k for k in ALL if k in keys]


def parse(argv: list[str]) -> Settings:
    p = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="FraiseQL load benchmark: dataset, workloads W1-W5 over HTTP (wrk), the "
                    "pgbench ceiling, the PostGraphile peer, and the report in BENCHMARKS.md.")
    p.add_argument("--scale", type=float, default=None,
                   help="dataset scale: 1.0 = 10k customers, 100k orders, ~1M items (default 1.0; --quick: 0.05)")
    p.add_argument("--seed", type=int, default=42, help="dataset seed (default 42)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds per measured point (default 10; --quick: 3)")
    p.add_argument("--concurrency", type=_concurrency, default=None,
                   help="connection counts, comma-separated (default 1,16,64)")
    p.add_argument("--workloads", type=_workloads, default=list(ALL),
                   help="workloads to run, comma-separated (default W1,W2,W3,W4,W5)")
    p.add_argument("--skip-peer", action="store_true", help="do not run PostGraphile")
    p.add_argument("--sqlite", action="store_true",
                   help="also run the workloads against FraiseQL on SQLite (same data)")
    p.add_argument("--compare-mariadb", action="store_true",
                   help="instead of the full run: FraiseQL on PostgreSQL beside FraiseQL on MariaDB, "
                        "same data, workloads interleaved for --rounds rounds, medians and ratios "
                        "(no ceiling, peer, tv_ tables or SQLite); results in bench/results/mariadb.json "
                        "and target/bench/mariadb.md")
    p.add_argument("--federation", action="store_true",
                   help="instead of the full run: W6, 100 orders with their customer, the customer in "
                        "the same PostgreSQL database, in a second one (fraiseql_bench_crm) and on "
                        "MariaDB, interleaved for --rounds rounds, medians and the cost of each "
                        "cross-database variant; results in bench/results/federation.json and "
                        "BENCHMARKS.md's W6 section")
    p.add_argument("--events", action="store_true",
                   help="instead of the full run: createOrder throughput with observers off and on "
                        "(the same binary and database, only [observers] differs) at 1 and 16 "
                        "connections, and the commit-to-JetStream latency at --rate mutations/s, for "
                        "--rounds rounds; results in bench/results/events.json and BENCHMARKS.md's "
                        "events section (needs NATS with JetStream, --nats-url)")
    p.add_argument("--subscriptions", action="store_true",
                   help="instead of the full run: GraphQL subscriptions over WebSocket on PostgreSQL + "
                        "NATS, one subscriber and then --subscribers on one server, commit-to-client "
                        "latency at --rate mutations/s and the server's memory per idle connection, for "
                        "--rounds rounds; results in bench/results/subscriptions.json and BENCHMARKS.md's "
                        "subscriptions section (needs NATS with JetStream and Node.js)")
    p.add_argument("--auth", action="store_true",
                   help="instead of the full run: W1 and W2 on PostgreSQL with [auth] (an HS256 token "
                        "verified on every request, its claims set in each statement's transaction) "
                        "beside the same server without, at 1 and 16 connections, for --rounds "
                        "rounds; results in bench/results/auth.json and BENCHMARKS.md's auth section")
    p.add_argument("--tenancy", action="store_true",
                   help="instead of the full run: W1 and W2 on PostgreSQL with [multi_tenancy] and "
                        "row-level security beside the same server without, at 1 and 16 connections, for "
                        "--rounds rounds, then 1,000 SQLite tenant databases round robin behind 100 pools; "
                        "results in bench/results/tenancy.json and BENCHMARKS.md's tenancy section")
    p.add_argument("--apollo", action="store_true",
                   help="instead of the full run: the Apollo Federation subgraph on PostgreSQL: 20 orders "
                        "read by _entities beside the same 20 by a list query, and _entities computing a "
                        "@requires field; results in bench/results/apollo.json and BENCHMARKS.md's "
                        "Apollo section")
    p.add_argument("--subscribers", type=int, default=1000,
                   help="--subscriptions: the larger number of open subscriptions (default 1000)")
    p.add_argument("--breakdown", action="store_true",
                   help="--events: also two diagnostic variants, the capture triggers without the relay "
                        "(observers off, triggers kept) and the same without the trigger's advisory lock, "
                        "to tell where observers' cost goes")
    p.add_argument("--rounds", type=int, default=3,
                   help="--compare-mariadb, --federation, --events, --subscriptions: rounds (default 3)")
    p.add_argument("--rate", type=float, default=None,
                   help="--events, --subscriptions: mutations per second of the open-loop latency run "
                        "(default 200 with --events, 20 with --subscriptions: each is pushed to every "
                        "subscriber)")
    p.add_argument("--nats-url", default=os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222"),
                   help="--events, --subscriptions: the NATS server, JetStream enabled (default nats://127.0.0.1:4222; "
                        "also BENCH_NATS_URL); the run uses a stream and subjects of its own")
    p.add_argument("--mariadb-url", default=os.environ.get("BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306"),
                   help="an admin connection to the MariaDB server (default root@127.0.0.1:3306)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the report and chart from the results file of the last run "
                        "(bench/results/latest.json, or target/bench/quick/ with --quick; with --federation, "
                        "federation.json and BENCHMARKS.md's W6 section); measures nothing")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: scale 0.05, 3 s per point, 1 s warm-up; the report and the "
                        "results go to target/bench/quick/, not BENCHMARKS.md and bench/results/")
    p.add_argument("--reuse-data", action="store_true",
                   help="keep the existing fraiseql_bench database when its seed and scale match")
    p.add_argument("--wait-for-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each point, wait up to SECONDS while other compilers or test runners "
                        "(rustc, cargo, cc, ld, pytest) are running on the machine (default 0: do not wait)")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="an admin connection to the PostgreSQL server (default postgres@127.0.0.1:5432)")
    p.add_argument("--database", default="fraiseql_bench", help="benchmark database (dropped and recreated)")
    p.add_argument("--fraiseql-bin", default=os.environ.get("FRAISEQL_BIN"),
                   help="the fraiseql binary (default $FRAISEQL_BIN, else target/bench/release/fraiseql)")
    p.add_argument("--port", type=int, default=18180, help="FraiseQL's port (default 18180)")
    p.add_argument("--peer-port", type=int, default=18181, help="PostGraphile's port (default 18181)")
    p.add_argument("--pool", type=int, default=16,
                   help="database connections per server: FraiseQL's pool_max (replacing bench/fraiseql.toml's) "
                        "and PostGraphile's total over its workers (default 16)")
    a = p.parse_args(argv)

    quick = a.quick
    scale = a.scale if a.scale is not None else (0.05 if quick else 1.0)
    if scale <= 0:
        p.error("--scale must be positive")
    duration = a.duration if a.duration is not None else (3.0 if quick else 10.0)
    if duration < 1:
        p.error("--duration must be at least 1 second")
    if sum((a.compare_mariadb, a.federation, a.events, a.subscriptions, a.auth, a.tenancy, a.apollo)) > 1:
        p.error("--compare-mariadb, --federation, --events, --subscriptions, --auth, --tenancy and "
                "--apollo are separate runs; give one")
    if a.subscribers < 2:
        p.error("--subscribers must be at least 2")
    if a.breakdown and not a.events:
        p.error("--breakdown goes with --events")
    if a.rate is None:
        a.rate = 20.0 if a.subscriptions else 200.0
    if a.rate <= 0:
        p.error("--rate must be positive")
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    cpus = os.cpu_count() or 1
    binary = Path(a.fraiseql_bin) if a.fraiseql_bin else ROOT / "target" / "bench" / "release" / "fraiseql"
    command = os.environ.get("BENCH_COMMAND") or "bash bench/run.sh " + " ".join(shlex.quote(x) for x in argv)
    return Settings(
        scale=scale, seed=a.seed, duration=duration, warmup=1.0 if quick else 2.0,
        concurrency=a.concurrency or ([1, 16] if a.events or a.auth or a.tenancy or a.apollo else [1, 16, 64]),
        workloads=a.workloads,
        peer=not a.skip_peer and not a.compare_mariadb and not a.federation and not a.events
        and not a.subscriptions and not a.auth and not a.tenancy and not a.apollo,
        sqlite=a.sqlite,
        compare_mariadb=a.compare_mariadb, federation=a.federation, events=a.events, breakdown=a.breakdown,
        subscriptions=a.subscriptions, subscribers=a.subscribers, auth=a.auth, tenancy=a.tenancy, apollo=a.apollo,
        rounds=a.rounds,
        rate=a.rate, nats_url=a.nats_url, mariadb_url=a.mariadb_url, quick=quick, report_only=a.report_only, reuse_data=a.reuse_data,
        admin_url=a.pg_url, database=a.database,
        fraiseql_bin=binary.resolve(), node_dir=ROOT / "target" / "bench-tools" / "node",
        work_dir=ROOT / "target" / "bench",
        results_dir=(ROOT / "target" / "bench" / "quick") if quick else BENCH_DIR / "results",
        report_path=(ROOT / "target" / "bench" / "quick" / "BENCHMARKS.md") if quick else ROOT / "BENCHMARKS.md",
        port=a.port, peer_port=a.peer_port, pool=a.pool,
        peer_workers=cpus, threads=min(2, cpus), wait_quiet=max(0.0, a.wait_for_quiet),
        command=command,
    )
