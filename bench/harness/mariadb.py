"""MariaDB access through the `mariadb` client, as pg.py does with psql: run a script (the
client understands DELIMITER lines and LOAD DATA LOCAL INFILE), read a query's rows. URLs are
FraiseQL's: mysql://user[:password]@host[:port][/database]."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import unquote, urlsplit


def _client(url: str, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The client's arguments and environment (the password in MYSQL_PWD, not on the command
    line) for `url`."""
    parts = urlsplit(url)
    args = ["mariadb", "--protocol=tcp", "-h", parts.hostname or "127.0.0.1",
            "-P", str(parts.port or 3306), "-u", unquote(parts.username or "root"),
            "--default-character-set=utf8mb4", *extra]
    database = parts.path.lstrip("/")
    if database:
        args.append(database)
    return args, {**os.environ, "MYSQL_PWD": unquote(parts.password or "")}


def run_script(url: str, sql: str) -> None:
    """Runs `sql` (several statements, DELIMITER lines, LOAD DATA LOCAL INFILE allowed);
    stops at the first error."""
    args, env = _client(url, ["--local-infile=1"])
    proc = subprocess.run(args, input=sql, text=True, capture_output=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb failed ({url}):\n{proc.stderr.strip()}")


def rows(url: str, sql: str) -> list[list[str]]:
    """The rows of one query, every value as text (tab-separated, NULL as `NULL`)."""
    args, env = _client(url, ["--batch", "--skip-column-names", "--raw", "-e", sql])
    proc = subprocess.run(args, text=True, capture_output=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb failed ({url}): {proc.stderr.strip()}")
    return [line.split("\t") for line in proc.stdout.splitlines() if line != ""]


def scalar(url: str, sql: str) -> str:
    """The first value of the first row."""
    result = rows(url, sql)
    if not result:
        raise RuntimeError(f"no row from: {sql}")
    return result[0][0]
