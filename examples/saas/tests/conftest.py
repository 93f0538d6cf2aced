"""Fixtures of the SaaS example's tests (seed 000).

The seed's ``client`` fixture, fixed: an async fixture needs ``pytest_asyncio.fixture`` in
strict mode, and the server it starts is stopped after each test. The tenants the tests use,
``tenant-a`` and ``tenant-b``, get fresh databases for the session (``fraiseql tenant
create``) and are dropped at its end, so the tests never touch the walkthrough's tenants.
"""

import os
import subprocess
from pathlib import Path

import pytest
import pytest_asyncio

from fraiseql.testing import FraiseQLTestClient, find_binary

HERE = Path(__file__).resolve().parent.parent
TENANTS = ("tenant-a", "tenant-b")
ADMIN_URL = os.environ.get("SAAS_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def tenant_command(*args: str) -> str:
    """Runs ``fraiseql tenant ...`` on the test config; its output."""
    done = subprocess.run(
        [find_binary(), "tenant", *args, "--config", str(HERE / "fraiseql.test.toml"),
         "--admin-url", ADMIN_URL],
        cwd=HERE, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fraiseql tenant {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session", autouse=True)
def tenants():
    """Fresh databases for the test tenants, dropped afterwards."""
    existing = tenant_command("list").split()
    for tenant in TENANTS:
        if tenant in existing:
            tenant_command("drop", tenant, "--yes")
        tenant_command("create", tenant, "--sql", str(HERE / "db" / "tenant.sql"))
    yield TENANTS
    for tenant in TENANTS:
        tenant_command("drop", tenant, "--yes")


@pytest_asyncio.fixture
async def client():
    async with FraiseQLTestClient(config=HERE / "fraiseql.test.toml") as c:
        yield c
