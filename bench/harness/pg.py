"""PostgreSQL access through the `psql` client (no Python driver needed): run a script,
read a query's rows, build URLs for the benchmark database."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit, urlunsplit


def with_database(url: str, database: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def run_script(url: str, sql: str, *, quiet: bool = True) -> None:
    """Runs `sql` (several statements allowed); stops at the first error."""
    args = ["psql", url, "-X", "-v", "ON_ERROR_STOP=1"]
    if quiet:
        args.append("-q")
    proc = subprocess.run(args, input=sql, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed ({url}):\n{proc.stderr.strip()}")


def rows(url: str, sql: str) -> list[list[str]]:
    """The rows of one query, every value as text (tab-separated by psql)."""
    proc = subprocess.run(
        ["psql", url, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        text=True,
        capture_output=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed ({url}): {proc.stderr.strip()}")
    return [line.split("\t") for line in proc.stdout.splitlines() if line != ""]


def scalar(url: str, sql: str) -> str:
    """The first value of the first row."""
    result = rows(url, sql)
    if not result:
        raise RuntimeError(f"no row from: {sql}")
    return result[0][0]


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
