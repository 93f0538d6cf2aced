"""Integration tests drive the real `fraiseql` binary. They fail — never skip — without it:
a skipped suite would look green while testing nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fraiseql.testing import FraiseQLTestClientError, find_binary

CLI_TIMEOUT = 120


@pytest.fixture(scope="session")
def fraiseql_bin() -> str:
    """Path of the engine binary: $FRAISEQL_BIN, else `fraiseql` on PATH."""
    try:
        return find_binary()
    except FraiseQLTestClientError as exc:
        reason = str(exc)
    pytest.fail(f"integration tests need the fraiseql binary: {reason}", pytrace=False)


@pytest.fixture
def cli(fraiseql_bin):
    """Run `fraiseql <args…>` and return the CompletedProcess (text mode, output captured)."""

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [fraiseql_bin, *map(str, args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )

    return run


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A failure message with everything the command printed."""
    return (
        f"`{' '.join(map(str, result.args))}` exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
