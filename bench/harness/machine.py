"""What the numbers were measured on: the machine and every program's version."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from . import pg


def _out(args: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(args, text=True, capture_output=True, cwd=cwd, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0].strip() if text else "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _package_version(node_dir: Path, name: str) -> str:
    try:
        return json.loads((node_dir / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def describe(root: Path, fraiseql_bin: Path, admin_url: str, node_dir: Path, peer: bool) -> dict:
    rev = _out(["git", "rev-parse", "--short=12", "HEAD"], cwd=root)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock"],
                           text=True, capture_output=True, cwd=root).stdout.strip()
    info = {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_mem_gib(), 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "fraiseql": _out([str(fraiseql_bin), "--version"]),
        "fraiseql_git": rev + (" (with uncommitted changes in crates/)" if dirty else ""),
        "postgresql": pg.scalar(admin_url, "SHOW server_version"),
        "pgbench": _out(["pgbench", "--version"]),
        "wrk": _out(["wrk", "--version"]).split(" Copyright")[0],
        "python": platform.python_version(),
    }
    if peer:
        info["postgraphile"] = _package_version(node_dir, "postgraphile")
        info["postgraphile_plugin_connection_filter"] = _package_version(
            node_dir, "postgraphile-plugin-connection-filter")
        info["node"] = _out(["node", "--version"])
    return info
