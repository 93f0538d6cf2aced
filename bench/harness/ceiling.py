"""The ceiling: the SQL statements FraiseQL sends for a workload, replayed by pgbench
(`-M prepared`, same connection counts, same duration) against the same database.

The statements are captured, never written by hand, so the ceiling follows the engine:

* reads (W1-W4): `fraiseql explain` prints the one statement and its parameters;
* the mutation (W5): `explain` does not render mutations, so the harness turns on
  `log_statement = 'all'` for the bench database, sends the workload once through a running
  server, and reads the statements (BEGIN, the function call, the read-back, COMMIT) with
  their parameters from the PostgreSQL log. Reads are captured the same way, and a read
  whose logged text differs from `explain`'s is reported.

Turning a statement into a pgbench script: each `$n` becomes a pgbench variable. Fixed values
are passed with `-D name=value`, so they are bound as parameters exactly as the server binds
them. The random order id (W2, W5) cannot be a pgbench variable (pgbench makes only numbers),
so that parameter becomes `(md5(E'<seed>\\x3aorder-id\\x3a' || (:n)::text)::uuid::text)` with
`\\set n random(1, <orders>)`: the dataset's id of order n (see dataset.py), one md5 per
statement more than the server's request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import pg


@dataclass
class Statement:
    """One statement as sent: SQL text, and its parameters (None: simple protocol)."""

    sql: str
    params: list[str | None] | None = None


@dataclass
class Capture:
    statements: list[Statement]
    source: str  # "explain" or "log"
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# fraiseql explain

_PARAM = re.compile(r"^--\s+(\d+): (text|int|float|bool) (.*)$")


def explain(binary: Path, config: Path, database_url: str, query: str, variables: dict) -> Capture:
    """The read statement of a one-root query, from `fraiseql explain`."""
    env_url = {"FRAISEQL_BENCH_DATABASE_URL": database_url}
    proc = subprocess.run([str(binary), "explain", "--config", str(config), "--variables",
                           json.dumps(variables), "-"], input=query, text=True,
                          capture_output=True, cwd=config.parent,
                          env={**os.environ, **env_url})
    if proc.returncode != 0:
        raise RuntimeError(f"fraiseql explain failed: {proc.stderr.strip() or proc.stdout.strip()}")
    lines = proc.stdout.splitlines()
    heads = [i for i, ln in enumerate(lines) if ln.startswith("== database ")]
    if len(heads) != 1:
        raise RuntimeError(f"expected one statement from explain, got {len(heads)}:\n{proc.stdout}")
    sql_lines, params, in_params = [], [], False
    for ln in lines[heads[0] + 1:]:
        if ln.startswith("-- parameters:"):
            in_params = True
            continue
        if ln.startswith("-- plan:") or ln.startswith("-- (no plan"):
            break
        if in_params:
            m = _PARAM.match(ln)
            if not m:
                break
            kind, value = m.group(2), m.group(3)
            params.append(json.loads(value) if kind == "text" else value)
        elif not ln.startswith("--"):
            sql_lines.append(ln)
    return Capture([Statement("\n".join(sql_lines).strip(), params)], "explain")


# ---------------------------------------------------------------------------------------
# PostgreSQL log

def log_file() -> Path | None:
    """The cluster's log file (Debian's pg_lsclusters), or None."""
    try:
        out = subprocess.run(["pg_lsclusters", "--no-header"], text=True, capture_output=True)
    except FileNotFoundError:
        return None
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[3] == "online":
            path = Path(parts[-1])
            if path.is_file():
                return path
    return None


_LINE = re.compile(r"^\S+ \S+ \S+ \[\d+\] \S*@(?P<db>\S+) (?P<level>[A-Z]+):  (?P<msg>.*)$")
_EXEC = re.compile(r"^execute [^:]+: (?P<sql>.*)$", re.S)
_VALUE = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


class LogCapture:
    """`log_statement = 'all'` on the bench database while a block runs; then its
    statements. Only sessions opened inside the block are logged (a database setting)."""

    def __init__(self, admin_url: str, database: str):
        self.admin_url, self.database = admin_url, database
        self.path = log_file()
        self.offset = 0

    def __enter__(self) -> "LogCapture":
        if self.path is None:
            raise RuntimeError("no readable PostgreSQL log file (pg_lsclusters)")
        pg.run_script(self.admin_url, f'ALTER DATABASE "{self.database}" SET log_statement = \'all\';')
        return self

    def mark(self) -> None:
        """Statements logged from now on are the ones `statements` returns."""
        self.offset = self.path.stat().st_size

    def statements(self) -> list[Statement]:
        time.sleep(0.2)  # the log is written asynchronously by the backend
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", "replace")
        entries: list[tuple[str, str]] = []
        for raw in text.splitlines():
            m = _LINE.match(raw)
            if m:
                entries.append((m.group("db"), m.group("level") + " " + m.group("msg")))
            elif entries and raw.startswith("\t"):
                db, msg = entries[-1]
                entries[-1] = (db, msg + "\n" + raw[1:])
        out: list[Statement] = []
        for db, msg in entries:
            if db != self.database:
                continue
            if msg.startswith("LOG statement: "):
                out.append(Statement(msg[len("LOG statement: "):].strip()))
            elif msg.startswith("LOG execute "):
                m = _EXEC.match(msg[len("LOG "):])
                if m:
                    out.append(Statement(m.group("sql").strip(), []))
            elif msg.startswith("DETAIL parameters: ") and out and out[-1].params is not None:
                for _, v in _VALUE.findall(msg):
                    out[-1].params.append(None if v == "NULL" else v[1:-1].replace("''", "'"))
        return out

    def __exit__(self, *exc) -> None:
        pg.run_script(self.admin_url, f'ALTER DATABASE "{self.database}" RESET log_statement;')


# ---------------------------------------------------------------------------------------
# pgbench

@dataclass
class Script:
    path: Path
    defines: dict[str, str]
    transformed: list[str]


def write_script(path: Path, workload: str, capture: Capture, sample_id: str, seed: int,
                 orders: int) -> Script:
    """The pgbench script replaying `capture`; `sample_id` marks the random id parameter."""
    lines = [f"-- {workload}: generated by bench/harness/ceiling.py from {capture.source}"]
    defines: dict[str, str] = {}
    transformed: list[str] = []
    # `\x3a` is ':' (dataset.py hashes "<seed>:order-id:<n>"): pgbench takes a colon inside
    # a string literal for the start of a variable name.
    random_expr = f"(md5(E'{int(seed)}\\x3aorder-id\\x3a' || (:n)::text)::uuid::text)"
    uses_random = False
    body: list[str] = []
    for si, st in enumerate(capture.statements, start=1):
        sql = st.sql.rstrip().rstrip(";")
        if st.params:
            def sub(m: re.Match) -> str:
                nonlocal uses_random
                i = int(m.group(1))
                value = st.params[i - 1]
                if value == sample_id:
                    uses_random = True
                    return random_expr
                name = f"s{si}p{i}"
                defines[name] = "" if value is None else str(value)
                return f":{name}"
            sql = re.sub(r"\$(\d+)(?!\d)", sub, sql)
        if "\n" in sql:
            sql = " ".join(part.strip() for part in sql.splitlines())
        literals = re.findall(r"'(?:[^']|'')*'", sql.replace(random_expr, ""))
        if any(re.search(r":[A-Za-z_]", lit) for lit in literals):
            transformed.append(f"WARNING: statement {si} has a string literal with `:name` in it, "
                               "which pgbench may take for a variable")
        body.append(sql + ";")
    if uses_random:
        lines.append(f"\\set n random(1, {int(orders)})")
        transformed.append(f"the random order id parameter is computed in SQL as "
                           f"`{random_expr}` from `\\set n random(1, {orders})`")
    lines += body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return Script(path, defines, transformed)


@dataclass
class PgbenchResult:
    tps: float
    transactions: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None


def run(database_url: str, script: Script, clients: int, seconds: float, threads: int,
        log_dir: Path) -> PgbenchResult:
    """pgbench -M prepared -n; percentiles from a 10% sample of per-transaction logs."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("pgbench_log*"):
        old.unlink()
    args = ["pgbench", "-M", "prepared", "-n", "-f", str(script.path), "-c", str(clients),
            "-j", str(max(1, min(threads, clients))), "-T", str(max(1, round(seconds))),
            "-l", "--sampling-rate", "0.1", "--log-prefix", str(log_dir / "pgbench_log")]
    for k, v in script.defines.items():
        args += ["-D", f"{k}={v}"]
    args.append(database_url)
    proc = subprocess.run(args, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{proc.stdout}\n{proc.stderr}")
    out = proc.stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    mean = re.search(r"latency average = ([\d.]+) ms", out)
    if not tps or not done:
        raise RuntimeError(f"cannot read pgbench's output:\n{out}\n{proc.stderr}")
    samples: list[int] = []
    for f in log_dir.glob("pgbench_log*"):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                samples.append(int(parts[2]))
    samples.sort()
    pct = (lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] / 1000) if samples else (lambda q: None)
    return PgbenchResult(tps=float(tps.group(1)), transactions=int(done.group(1)),
                         failed=int(failed.group(1)) if failed else 0,
                         p50_ms=pct(0.50), p99_ms=pct(0.99),
                         mean_ms=float(mean.group(1)) if mean else None)
