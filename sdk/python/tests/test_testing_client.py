"""FraiseQLTestClient against a fake binary (tests/fake_fraiseql.py): lifecycle, requests,
headers and error messages. The real engine is exercised in tests/integration."""

import signal
import stat
import sys

import pytest

from fraiseql.testing import FraiseQLTestClient, FraiseQLTestClientError, find_binary

from .support import TESTS


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    script = tmp_path / "bin" / "fraiseql"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\n" + (TESTS / "fake_fraiseql.py").read_text())
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FRAISEQL_BIN", str(script))
    return script


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "app" / "fraiseql.test.toml"
    path.parent.mkdir()
    path.write_text('[fraiseql]\nschema_file = "schema.json"\n')
    return path


@pytest.mark.asyncio
async def test_starts_executes_and_stops(fake_bin, config):
    client = await FraiseQLTestClient.create(config=str(config))
    process = client._process
    try:
        result = await client.execute("{ orders { id } }", variables={"a": 1}, operation_name="Q")
        echo = result["data"]["echo"]
        assert echo["path"] == "/graphql"
        assert echo["body"] == {"query": "{ orders { id } }", "variables": {"a": 1}, "operationName": "Q"}
        assert echo["headers"]["content-type"] == "application/json"
        assert echo["cwd"] == str(config.parent)
        assert echo["argv"] == ["run", str(config), "--port", str(client.port), "--bind", "127.0.0.1"]
        assert "x-tenant-id" not in echo["headers"] and "authorization" not in echo["headers"]
    finally:
        await client.close()
    assert process.returncode == 0  # it handled SIGTERM
    await client.close()  # closing twice is harmless


@pytest.mark.asyncio
async def test_tenant_and_token_headers(fake_bin, config):
    async with FraiseQLTestClient(config=config) as client:
        client.set_tenant("tenant-a")
        client.set_token("header.payload.sig")
        headers = (await client.execute("{ a }"))["data"]["echo"]["headers"]
        assert headers["x-tenant-id"] == "tenant-a"
        assert headers["authorization"] == "Bearer header.payload.sig"
        client.set_tenant("tenant-b")
        client.set_token(None)
        headers = (await client.execute("{ a }"))["data"]["echo"]["headers"]
        assert headers["x-tenant-id"] == "tenant-b"
        assert "authorization" not in headers


@pytest.mark.asyncio
async def test_error_statuses_still_return_the_json_body(fake_bin, config):
    async with FraiseQLTestClient(config=config) as client:
        result = await client.execute("bad")
        assert result["data"]["echo"]["body"]["query"] == "bad"


@pytest.mark.asyncio
async def test_early_exit_reports_the_output(fake_bin, config, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "crash")
    with pytest.raises(FraiseQLTestClientError) as err:
        await FraiseQLTestClient.create(config=config)
    message = str(err.value)
    assert "exited with code 3 before it was ready" in message
    assert "error: cannot open database: no such file" in message  # the stderr tail
    assert "fake fraiseql starting" in message  # and stdout


@pytest.mark.asyncio
async def test_startup_timeout_reports_the_output_and_kills(fake_bin, config, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "hang")
    client = FraiseQLTestClient(config=config, startup_timeout=1.0, shutdown_timeout=1.0)
    with pytest.raises(FraiseQLTestClientError) as err:
        await client.start()
    message = str(err.value)
    assert "did not answer GET /health/live with 200 within 1s" in message
    assert "still loading the schema" in message
    assert client._process is None


@pytest.mark.asyncio
async def test_close_kills_a_server_that_ignores_sigterm(fake_bin, config, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "stubborn")
    client = await FraiseQLTestClient.create(config=config, shutdown_timeout=0.5)
    process = client._process
    await client.close()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.asyncio
async def test_missing_config_is_reported(fake_bin, tmp_path):
    with pytest.raises(FraiseQLTestClientError, match="config file not found"):
        await FraiseQLTestClient.create(config=tmp_path / "nope.toml")


def test_binary_from_env_or_path(fake_bin, monkeypatch, tmp_path):
    assert find_binary() == str(fake_bin)
    monkeypatch.delenv("FRAISEQL_BIN")
    monkeypatch.setenv("PATH", str(fake_bin.parent))
    assert find_binary() == str(fake_bin)


def test_missing_binary_names_both_places(monkeypatch, tmp_path):
    monkeypatch.delenv("FRAISEQL_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FraiseQLTestClientError) as err:
        find_binary()
    assert "FRAISEQL_BIN" in str(err.value) and "PATH" in str(err.value)
    monkeypatch.setenv("FRAISEQL_BIN", str(tmp_path / "missing"))
    with pytest.raises(FraiseQLTestClientError, match="is not an executable file"):
        find_binary()


@pytest.mark.asyncio
async def test_a_leaked_client_still_stops_its_server(fake_bin, config):
    client = await FraiseQLTestClient.create(config=config)
    process = client._process
    del client
    import gc

    gc.collect()
    assert process.wait(timeout=10) == 0
