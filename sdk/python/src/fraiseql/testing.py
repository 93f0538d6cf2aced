"""``FraiseQLTestClient``: start a real ``fraiseql`` server for a test and talk GraphQL to it.

Nothing is mocked: the client runs ``<bin> run <config> --port <free port> --bind 127.0.0.1``
with the config's directory as working directory, waits for ``GET /health/live`` to answer
200, and POSTs GraphQL to ``/graphql``. Only the standard library is used: the server is a
``subprocess.Popen`` (so the client is not tied to one event loop) and HTTP goes through
``urllib`` in a worker thread (``asyncio.to_thread``), with proxies disabled.

The binary is ``$FRAISEQL_BIN`` if set, else ``fraiseql`` on ``PATH``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

__all__ = ["FraiseQLTestClient", "FraiseQLTestClientError", "find_binary"]

BINARY_ENV = "FRAISEQL_BIN"
STDERR_TAIL_LINES = 40


class FraiseQLTestClientError(RuntimeError):
    """The server could not be found, started, reached or stopped; the message says why."""


def find_binary() -> str:
    """Path of the ``fraiseql`` binary: ``$FRAISEQL_BIN``, else ``fraiseql`` on ``PATH``."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
        found = shutil.which(configured)
        if found:
            return found
        raise FraiseQLTestClientError(
            f"{BINARY_ENV}={configured!r} is not an executable file. Point {BINARY_ENV} at the "
            "fraiseql binary (e.g. target/debug/fraiseql after `cargo build -p fraiseql`)."
        )
    found = shutil.which("fraiseql")
    if found:
        return found
    raise FraiseQLTestClientError(
        f"fraiseql binary not found: {BINARY_ENV} is not set and there is no `fraiseql` on "
        f"PATH. Build it (`cargo build -p fraiseql`) and set {BINARY_ENV}=<path to "
        "target/debug/fraiseql>, or put `fraiseql` on PATH."
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds. Also the finaliser of a leaked client."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except ProcessLookupError:  # exited between poll() and the signal
        pass


class FraiseQLTestClient:
    """An async GraphQL client bound to a ``fraiseql`` server it started itself.

    ``await FraiseQLTestClient.create(config="fraiseql.test.toml")`` starts the server;
    ``async with FraiseQLTestClient(config=...) as client`` does the same and stops it at the
    end. Always ``await client.close()`` (or use ``async with``); a client that is garbage
    collected still stops its server.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] = "fraiseql.test.toml",
        *,
        binary: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
        shutdown_timeout: float = 10.0,
        request_timeout: float = 30.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.config = Path(config).expanduser().resolve()
        self.binary = str(binary) if binary is not None else None
        self.host = host
        self.port = port
        self.env = env
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.request_timeout = request_timeout
        self.extra_args = list(extra_args or [])
        self.headers: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout: Any = None
        self._stderr: Any = None
        self.command: list[str] = []
        self._finalizer: weakref.finalize | None = None
        # Proxies from the environment must not intercept requests to 127.0.0.1.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    async def create(
        cls, config: str | os.PathLike[str] = "fraiseql.test.toml", **options: Any
    ) -> FraiseQLTestClient:
        """Start a server for ``config`` and return a client connected to it."""
        client = cls(config, **options)
        await client.start()
        return client

    async def start(self) -> None:
        """Start the server and wait until ``/health/live`` answers 200."""
        if self._process is not None:
            return
        if not self.config.is_file():
            raise FraiseQLTestClientError(f"config file not found: {self.config}")
        binary = self.binary or find_binary()
        if self.port is None:
            self.port = free_port(self.host)
        command = [
            binary, "run", str(self.config),
            "--port", str(self.port), "--bind", self.host,
            *self.extra_args,
        ]  # fmt: skip
        # Output goes to files, not pipes: nobody has to drain them and they survive for the
        # error message if the server dies.
        self._stdout = tempfile.TemporaryFile()
        self._stderr = tempfile.TemporaryFile()
        env = {**os.environ, **self.env} if self.env else None
        try:
            self._process = subprocess.Popen(
                command,
                cwd=self.config.parent,
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=self._stderr,
                env=env,
            )
        except OSError as exc:
            raise FraiseQLTestClientError(f"cannot start {binary}: {exc}") from exc
        self._finalizer = weakref.finalize(self, _stop, self._process, self.shutdown_timeout)
        self.command = command
        await self._wait_until_live()

    async def _wait_until_live(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no answer yet"
        while True:
            process = self._process
            assert process is not None
            code = process.poll()
            if code is not None:
                message = (
                    f"fraiseql exited with code {code} before it was ready.\n"
                    f"command: {' '.join(self.command)}\ncwd: {self.config.parent}\n"
                    f"{self.output_tail()}"
                )
                await self.close()
                raise FraiseQLTestClientError(message)
            status = await asyncio.to_thread(self._probe_live)
            if status == 200:
                return
            last_error = f"status {status}" if isinstance(status, int) else status
            if time.monotonic() >= deadline:
                tail = self.output_tail()
                await self.close()
                raise FraiseQLTestClientError(
                    f"fraiseql did not answer GET /health/live with 200 within "
                    f"{self.startup_timeout:g}s (last: {last_error}).\n"
                    f"command: {' '.join(self.command)}\ncwd: {self.config.parent}\n"
                    f"{tail}"
                )
            await asyncio.sleep(0.1)

    def _probe_live(self) -> int | str:
        try:
            with self._opener.open(f"{self.url}/health/live", timeout=1.0) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            return str(getattr(exc, "reason", exc))

    async def close(self) -> None:
        """Stop the server: SIGTERM, then kill after ``shutdown_timeout`` seconds."""
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(_stop, process, self.shutdown_timeout)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None

    async def __aenter__(self) -> FraiseQLTestClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # -- requests -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:51234``."""
        return f"http://{self.host}:{self.port}"

    @property
    def returncode(self) -> int | None:
        """The server's exit code, or ``None`` while it runs (or after ``close``)."""
        return self._process.poll() if self._process is not None else None

    def set_tenant(self, tenant_id: str | None) -> None:
        """Send ``X-Tenant-ID: <tenant_id>`` with every request (``None`` stops sending it)."""
        self._set_header("X-Tenant-ID", tenant_id)

    def set_token(self, jwt: str | None) -> None:
        """Send ``Authorization: Bearer <jwt>`` with every request (``None`` stops sending it)."""
        self._set_header("Authorization", f"Bearer {jwt}" if jwt is not None else None)

    def _set_header(self, name: str, value: str | None) -> None:
        if value is None:
            self.headers.pop(name, None)
        else:
            self.headers[name] = str(value)

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST ``{"query", "variables", "operationName"}`` to ``/graphql``; the decoded JSON.

        A GraphQL error response (any HTTP status) is returned as is, for the test to assert
        on; a response that is not JSON raises :class:`FraiseQLTestClientError`.
        """
        if self._process is None:
            raise FraiseQLTestClientError("the client is not started (await create()/start() first)")
        body = json.dumps({"query": query, "variables": variables, "operationName": operation_name}).encode()
        request_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            **self.headers,
            **(headers or {}),
        }
        return await asyncio.to_thread(self._post, "/graphql", body, request_headers)

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}{path}", data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.request_timeout) as response:
                status, raw = int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            status, raw = int(exc.code), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise FraiseQLTestClientError(
                f"POST {path} failed: {getattr(exc, 'reason', exc)}\n{self.output_tail()}"
            ) from exc
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise FraiseQLTestClientError(
                f"POST {path} answered {status} with a body that is not JSON: {raw[:500]!r}"
            ) from None
        if not isinstance(decoded, dict):
            raise FraiseQLTestClientError(f"POST {path} answered {status} with {decoded!r}")
        return decoded

    def output_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last lines the server wrote, stderr first (logs may go to either stream)."""
        parts = []
        for label, stream in (("stderr", self._stderr), ("stdout", self._stdout)):
            parts.append(f"--- {label} (last {lines} lines) ---\n{_tail(stream, lines)}")
        return "\n".join(parts)


def _tail(stream: Any, lines: int) -> str:
    if stream is None:
        return "(not captured)"
    stream.flush()
    stream.seek(0)
    text = stream.read().decode("utf-8", errors="replace")
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(empty)"
