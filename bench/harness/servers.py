"""The servers under load: start, wait until ready, stop; and what they cost, read from
/proc: resident memory (VmRSS; VmHWM, the peak, reset before each point through
/proc/<pid>/clear_refs) and CPU time (utime + stime, of the process and its children)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """`pid` and every descendant (PostGraphile's cluster workers are child processes)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) and of its reaped children."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14..17.
    return sum(int(x) for x in fields[11:15]) / CLOCK_TICKS


def cpu_by_name(names: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds so far of every process whose name is in `names`, summed per name: the
    database servers (`postgres` backends, `mariadbd`), whoever their clients are."""
    out = {n: 0.0 for n in names}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name in out:
            out[name] += _cpu_seconds(int(entry))
    return out


def _get(port: int, path: str, body: dict | None = None, timeout: float = 1.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, json.dumps(body),
                         {"Content-Type": "application/json", "Accept": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def post_graphql(port: int, query: str, variables: dict, timeout: float = 30.0) -> tuple[int, dict]:
    """One GraphQL request: (HTTP status, decoded body)."""
    status, raw = _get(port, "/graphql", {"query": query, "variables": variables}, timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"errors": [{"message": f"not JSON: {raw[:300]!r}"}]}


@dataclass
class Usage:
    """A snapshot of a server's resource use."""

    cpu_seconds: float
    rss_kb: int
    hwm_kb: int


class Server:
    """A server process and its readiness probe."""

    def __init__(self, name: str, args: list[str], cwd: Path, env: dict[str, str], port: int,
                 ready: Callable[[int], bool], log_path: Path):
        self.name, self.args, self.cwd, self.env = name, args, cwd, env
        self.port, self.ready, self.log_path = port, ready, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0, poll: float = 0.002) -> float:
        """Spawns the server; returns the seconds until it answered ready."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.args, cwd=self.cwd, env={**os.environ, **self.env},
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it "
                                   f"was ready; see {self.log_path}")
            try:
                if self.ready(self.port):
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(poll)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # The whole process group: PostGraphile's cluster workers too.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def pids(self) -> list[int]:
        return _children(self.proc.pid) if self.proc else []

    def reset_peak(self) -> None:
        """Resets VmHWM to the current RSS (Linux: `5` into clear_refs)."""
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def usage(self) -> Usage:
        pids = self.pids()
        return Usage(cpu_seconds=sum(_cpu_seconds(p) for p in pids),
                     rss_kb=sum(_status_kb(p, "VmRSS") for p in pids),
                     hwm_kb=sum(_status_kb(p, "VmHWM") for p in pids))


def fraiseql_ready(port: int) -> bool:
    status, _ = _get(port, "/health/ready", timeout=0.5)
    return status == 200


def graphql_ready(port: int) -> bool:
    status, body = _get(port, "/graphql", {"query": "{ __typename }"}, timeout=2.0)
    return status == 200 and b'"data"' in body


def fraiseql(binary: Path, config: Path, database_url: str, port: int, log_path: Path) -> Server:
    # Request logging (one info line per request) off, as the peer's query log is.
    return Server("fraiseql", [str(binary), "run", str(config), "--port", str(port),
                               "--database", database_url],
                  cwd=config.parent, env={"RUST_LOG": "warn"}, port=port,
                  ready=fraiseql_ready, log_path=log_path)


def postgraphile(node_dir: Path, database_url: str, port: int, workers: int, pool_per_worker: int,
                 log_path: Path) -> Server:
    args = [str(node_dir / "node_modules" / ".bin" / "postgraphile"),
            "--connection", database_url, "--schema", "public",
            "--host", "127.0.0.1", "--port", str(port),
            "--disable-graphiql", "--disable-query-log", "--simple-collections", "only",
            "--dynamic-json", "--no-setof-functions-contain-nulls", "--no-ignore-rbac",
            "--append-plugins", "postgraphile-plugin-connection-filter",
            "--max-pool-size", str(pool_per_worker)]
    if workers > 1:
        args += ["--cluster-workers", str(workers)]
    return Server("postgraphile", args, cwd=node_dir, env={"NODE_ENV": "production"}, port=port,
                  ready=graphql_ready, log_path=log_path)
