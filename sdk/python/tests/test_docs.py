"""The walkthrough in docs/python-sdk.md works as written."""

import json
import re
import runpy
import sqlite3
import subprocess
import sys

import pytest

from .support import REPO, validator

GUIDE = REPO / "docs" / "python-sdk.md"


def block(first_line: str, language: str = "python") -> str:
    """The fenced code block of the guide that starts with ``first_line``."""
    for code in re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S):
        if code.startswith(first_line):
            return code
    raise AssertionError(f"no {language} block starting with {first_line!r} in {GUIDE}")


def test_walkthrough_database_and_schema(tmp_path):
    (tmp_path / "db.py").write_text(block("# db.py"))
    (tmp_path / "schema.py").write_text(block("# schema.py"))
    subprocess.run([sys.executable, "db.py"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "schema.py"], cwd=tmp_path, check=True)

    with sqlite3.connect(tmp_path / "app.db") as db:
        rows = [json.loads(data) for (data,) in db.execute("SELECT data FROM v_order ORDER BY id")]
    assert [sorted(row) for row in rows] == [["created_at", "id", "identifier", "status", "total"]] * 2

    document = json.loads((tmp_path / "schema.json").read_text())
    assert not list(validator().iter_errors(document))
    assert [q["name"] for q in document["queries"]] == ["order", "orders"]
    assert document["queries"][1]["arguments"] == [{"name": "limit", "type": "Int", "default": 20}]


def test_walkthrough_config_is_toml():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads(block("# fraiseql.toml", "toml"))
    assert config == {"database": {"url": "sqlite://./app.db"}, "fraiseql": {"schema_file": "schema.json"}}


def test_schema_module_runs_without_the_main_guard(tmp_path, monkeypatch):
    """Importing the guide's schema module declares without writing anything."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schema.py").write_text(block("# schema.py"))
    runpy.run_path(str(tmp_path / "schema.py"), run_name="schema")
    assert not (tmp_path / "schema.json").exists()
