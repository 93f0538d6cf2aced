"""Reading ``return fraiseql.config(...)`` out of a bare ``@fraiseql.query`` stub.

A stub body is only looked at when its source calls ``config(...)``; bodies that do anything
else (seed-era code querying a database) are never run. When it does, the function is called
once with a placeholder for each required parameter — that handles computed values such as
``sql_source=VIEW_NAME``. If the call fails (the body used a parameter, or awaited
something), the keyword arguments of the ``config(...)`` call are read from the source as
literals instead. If neither works the export reports the query.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Callable

from .context import StubConfig

__all__ = ["StubError", "read_stub_config"]


class StubError(Exception):
    """The stub calls ``config(...)`` but its options could not be read."""


class _Placeholder:
    """Stands in for each argument when a stub is called at export time."""

    def __repr__(self) -> str:
        return "<fraiseql export placeholder>"


def read_stub_config(fn: Callable[..., Any]) -> StubConfig | None:
    """The ``StubConfig`` a stub returns, or ``None`` when its body does not return one."""
    calls = _config_calls(fn)
    if calls == []:
        return None
    try:
        result = _call_with_placeholders(fn)
    except Exception as exc:  # the body is user code: anything can happen
        failure: Exception | None = exc
        result = None
    else:
        failure = None
    if isinstance(result, StubConfig):
        return result
    if calls is None:
        # No source to look at (defined in a REPL or exec): trust only what a call returned.
        return None
    if len(calls) != 1:
        raise StubError(
            f"calls fraiseql.config() {len(calls)} times and calling it at export "
            f"{'failed: ' + repr(failure) if failure else 'did not return one'}"
        )
    return _literal_config(calls[0], failure)


def _config_calls(fn: Callable[..., Any]) -> list[ast.Call] | None:
    """``config(...)`` calls in the function body, or ``None`` when the source is unavailable."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    func = next(
        (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))),
        None,
    )
    if func is None:
        return None
    found: list[ast.Call] = []
    for statement in func.body:  # the body only: decorators are not part of it
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and _names_config(node.func):
                found.append(node)
    return found


def _names_config(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "config"
    return isinstance(func, ast.Attribute) and func.attr == "config"


def _call_with_placeholders(fn: Callable[..., Any]) -> Any:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.default is not inspect.Parameter.empty:
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(_Placeholder())
        elif p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = _Placeholder()
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):
        # Drive an `async def` stub by hand: one that returns without awaiting finishes on
        # the first send. No event loop is needed, and none is disturbed.
        try:
            result.send(None)
        except StopIteration as done:
            return done.value
        finally:
            result.close()
        raise StubError("the async stub awaits something before returning fraiseql.config()")
    return result


def _literal_config(call: ast.Call, failure: Exception | None) -> StubConfig:
    from .context import config

    if call.args:
        raise StubError("fraiseql.config() takes keyword arguments only")
    options: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise StubError("fraiseql.config(**…) cannot be read from the source")
        try:
            options[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            reason = f"calling the stub failed ({failure!r})" if failure else "the call returned no config"
            raise StubError(f"fraiseql.config({keyword.arg}=…) is not a literal and {reason}") from None
    return config(**options)
