"""Auth (`--auth`, issue 14): what verifying a token and handing its claims to SQL costs a
read. In the order it runs:

1. the data: `fraiseql_bench` on PostgreSQL, as every mode makes it, and its order ids;
2. two configs of one binary, schema and database: **off** is bench/fraiseql.toml; **on**
   adds `[auth]` with an HS256 secret (`required = true`, default claims `user_id = "sub"`,
   `roles = "roles"`), so every request's token is verified and its claims become the
   session settings (`set_config('app.user_id', …, false), …`) of the connections its
   statements run on, sent when a connection holds another caller's;
3. per round (--rounds), W1 and W2 at each connection count (default 1 and 16) in three
   modes, whose order rotates by round: **off**; **on**, one caller (the same token on every
   request, so connections keep its settings); **many**, 1,000 callers (a token drawn at
   random per request, so nearly every statement sends the settings first). The off server
   ignores the header;
4. medians over the rounds and on ÷ off, many ÷ off per point into bench/results/auth.json
   (or target/bench/quick/) and the section "Auth (issue 14)" of BENCHMARKS.md between its
   `auth:` markers.

The goal (issue 14): with a verified token and the claims' settings (**on**) at least 0.9× the
throughput without. **many** shows what a different caller on nearly every statement costs
(one more pipelined statement each), as information."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request

from . import dataset, load, machine, servers
from .events import _f, _median, _write_report
from .run import _config, _export_ids, _log, _point_wrk, _prepare_database
from .settings import ROOT, Settings
from .workloads import ALL, with_id

GOAL = 0.9
SECRET = "bench-secret-of-at-least-thirty-two-bytes"
START, END = "<!-- auth:start -->", "<!-- auth:end -->"
HEADING = "## Auth (issue 14)"
MODES = ("off", "on", "many")
# Auth modes, each compared with "off".
AUTH = ("on", "many")
CALLERS = 1000


def _token(sub: str = "bench-user") -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "roles": ["reader"],
                           "exp": int(time.time()) + 86400}).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def _check(port: int, token: str, query: str, variables: dict, want_status: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, body = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        status, body = e.code, json.loads(e.read() or b"{}")
    if status != want_status or (want_status == 200 and body.get("errors")):
        raise RuntimeError(f"check failed: HTTP {status}: {json.dumps(body)[:500]}")


def _summary(results: dict) -> list[dict]:
    rows = []
    keys = sorted({(p["workload"], p["connections"]) for p in results["points"]})
    for w, c in keys:
        row: dict = {"workload": w, "connections": c}
        for m in MODES:
            pts = [p for p in results["points"] if (p["workload"], p["connections"], p["mode"]) == (w, c, m)]
            row[m] = {"rps": [p["rps"] for p in pts], "rps_median": _median([p["rps"] for p in pts]),
                      "p50_ms_median": _median([p["p50_ms"] for p in pts]),
                      "p99_ms_median": _median([p["p99_ms"] for p in pts]),
                      "errors": sum(p["errors"] for p in pts)}
        by_round = {m: {p["round"]: p["rps"] for p in results["points"]
                        if (p["workload"], p["connections"], p["mode"]) == (w, c, m)} for m in MODES}
        off = row["off"]["rps_median"]
        verdict = None
        for m in AUTH:
            per_round = [round(by_round[m][r] / by_round["off"][r], 3)
                         for r in sorted(by_round["off"]) if r in by_round[m] and by_round["off"][r]]
            on = row[m]["rps_median"]
            row[m]["ratio"] = on / off if off and on is not None else None
            row[m]["ratio_per_round"] = per_round
            worst = min((x for x in (row[m]["ratio"], _median(per_round)) if x is not None), default=None)
            row[m]["worst"] = worst
            if m == "on":
                verdict = None if worst is None else worst >= GOAL
        row["goal_met"] = verdict
        rows.append(row)
    return rows


def _section(results: dict) -> str:
    m, st, rows = results["machine"], results["settings"], results["summary"]
    L = [START, "",
         f"Written by the harness (`bench/harness/authbench.py`) on {results['started']} in "
         f"{results.get('elapsed_s', '?')} s; raw numbers in `bench/results/auth.json`. Reproduce with:",
         "", "```sh", results["command"], "```", "",
         "One binary, schema and database (`fraiseql_bench` on PostgreSQL); **off** is "
         "bench/fraiseql.toml, **on** and **many** add `[auth]` with an HS256 secret: every "
         "request's token is verified, and its claims become the session settings "
         "(`set_config('app.user_id', …, false), set_config('app.roles', …, false)`) of each "
         "connection its statements run on, pipelined before the statement when that connection "
         "holds another caller's. **on**: one caller, the same token on every request. "
         f"**many**: {CALLERS:,} callers, a token drawn at random per request, so nearly every "
         "statement sends the settings first.", "",
         f"Machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB, {m['os']}; PostgreSQL "
         f"{m['postgresql']}; `{m['fraiseql']}` at git `{m['fraiseql_git']}`; a shared machine: the "
         f"ratios come from the two servers alternating within each round. {st['rounds']} rounds, "
         f"{st['duration_s']:g} s per point, pool {st['pool']}, wrk {st['threads']} threads; medians.", "",
         "| workload | conns | off req/s | on req/s | many req/s | on ÷ off (per round) "
         "| many ÷ off (per round) | p50 ms off / on / many | p99 ms off / on / many | errors |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        off, on, many = r["off"], r["on"], r["many"]

        def ratio(x: dict) -> str:
            return f"{_f(x['ratio'], 3)} ({', '.join(f'{v:.3f}' for v in x['ratio_per_round'])})"

        L.append(f"| {r['workload']} | {r['connections']} | {_f(off['rps_median'])} | {_f(on['rps_median'])} "
                 f"| {_f(many['rps_median'])} | {ratio(on)} | {ratio(many)} "
                 f"| {' / '.join(_f(r[m]['p50_ms_median'], 2) for m in MODES)} "
                 f"| {' / '.join(_f(r[m]['p99_ms_median'], 2) for m in MODES)} "
                 f"| {' / '.join(str(r[m]['errors']) for m in MODES)} |")
    L += ["", f"Goal (issue 14): on ≥ {GOAL}× off (the verdict takes the worse of the ratio "
              "of the medians and the median of the per-round ratios): " + ", ".join(
                  f"{r['workload']} at {r['connections']}: "
                  f"{'met' if r['goal_met'] else '**not met**' if r['goal_met'] is not None else '–'}"
                  for r in rows) + ".",
          "", "Many callers (information): many ÷ off, the worse of the two ratios: " + ", ".join(
              f"{r['workload']} at {r['connections']}: {_f(r['many'].get('worst'), 3)}" for r in rows) + "."]
    for f in results["failures"]:
        L.append(f"- failed: {f}")
    L += ["", END]
    return "\n".join(L)


def main(s: Settings) -> int:
    path = s.results_dir / "auth.json"
    if s.report_only:
        results = json.loads(path.read_text())
        results["summary"] = _summary(results)
        return _finish(s, results)
    s.work_dir.mkdir(parents=True, exist_ok=True)
    s.results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _log(s.command)
    info = machine.describe(ROOT, s.fraiseql_bin, s.admin_url, s.node_dir, peer=False)
    db_url = _prepare_database(s, dataset.Sizes.at(s.scale))
    ids_file = s.work_dir / "order_ids.txt"
    _export_ids(db_url, ids_file)
    ids = ids_file.read_text().split()
    off = _config(s)
    on = s.work_dir / "fraiseql_auth.toml"
    on.write_text(off.read_text() + f'\n# --auth (bench/harness/authbench.py).\n[auth]\nsecret = "{SECRET}"\n')
    configs = {"off": off, "on": on, "many": on}
    token = _token()
    tokens_file = s.work_dir / "auth_tokens.txt"
    tokens_file.write_text("".join(_token(f"caller-{i}") + "\n" for i in range(CALLERS)))
    workloads = [ALL["W1"], ALL["W2"]]
    scripts = {(m, w.key): load.write_script(
        s.work_dir / "lua" / f"auth_{m}_{w.key}.lua", f"auth {m} {w.key}",
        {"query": w.query, "variables": w.variables}, ids_file, s.seed,
        headers={"Authorization": f"Bearer {token}"},
        varied=("Authorization", "Bearer ", tokens_file) if m == "many" else None)
        for m in MODES for w in workloads}
    results: dict = {
        "command": s.command, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "settings": {"scale": s.scale, "duration_s": s.duration, "rounds": s.rounds, "pool": s.pool,
                     "threads": s.threads, "concurrency": s.concurrency},
        "machine": info, "configs": {m: p.read_text() for m, p in configs.items()},
        "points": [], "failures": [],
    }
    for r in range(s.rounds):
        for mode in MODES[r % len(MODES):] + MODES[:r % len(MODES)]:
            _log(f"auth round {r + 1}/{s.rounds}: {mode}")
            srv = servers.fraiseql(s.fraiseql_bin, configs[mode], db_url, s.port,
                                   s.work_dir / "logs" / f"fraiseql_auth_{mode}.log")
            srv.start()
            try:
                for w in workloads:
                    variables = with_id(w.variables, ids[0]) if w.random_id else w.variables
                    _check(s.port, token, w.query, variables, 200)
                    if mode != "off":
                        _check(s.port, token + "x", w.query, variables, 401)
                    script = scripts[(mode, w.key)]
                    load.run(f"http://127.0.0.1:{s.port}/graphql", script, 16, s.warmup, s.threads)
                    for c in s.concurrency:
                        p = _point_wrk(srv, script, c, s)
                        p.update({"round": r + 1, "mode": mode, "workload": w.key})
                        _log(f"  {mode:3} {w.key} c={c:<3} {p['rps']:>9.1f} req/s  p50 {p['p50_ms']:.2f} ms  "
                             f"p99 {p['p99_ms']:.2f} ms  errors {p['errors']}")
                        results["points"].append(p)
            except RuntimeError as e:
                _log(f"  FAILED: {e}")
                results["failures"].append(f"round {r + 1} {mode}: {e}")
            finally:
                srv.stop()
            results["summary"] = _summary(results)
            _save(s, results)
    results["elapsed_s"] = round(time.time() - started, 1)
    return _finish(s, results)


def _finish(s: Settings, results: dict) -> int:
    results["summary"] = _summary(results)
    _save(s, results)
    section = _section(results)
    _write_report(s.report_path, section, START, END, HEADING)
    print(section, flush=True)
    _log(f"wrote {s.results_dir / 'auth.json'} and the auth section of {s.report_path}")
    return 1 if results["failures"] else 0


def _save(s: Settings, results: dict) -> None:
    (s.results_dir / "auth.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
