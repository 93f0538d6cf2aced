"""Helpers shared by the unit and integration tests."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import fraiseql

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parents[2]
JSON_SCHEMA = REPO / "docs" / "schema.schema.json"
SCHEMA_DOC = REPO / "docs" / "schema.md"

#: The seed fixtures: module name in tests/fixtures → the seed it rewrites.
SEED_FIXTURES = {"saas": "000", "order_service": "002", "ecommerce": "004"}


def export_fixture(name: str) -> dict[str, Any]:
    """Run ``tests/fixtures/<name>.py`` into an empty registry and return its schema.json."""
    fraiseql.reset_registry()
    runpy.run_path(str(FIXTURES / f"{name}.py"))
    return fraiseql.schema_dict()


def validator() -> Any:
    """A ``jsonschema`` validator for docs/schema.schema.json (a test-only dependency)."""
    import jsonschema

    schema = json.loads(JSON_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The entry called ``name`` of a schema.json list."""
    for item in items:
        if item["name"] == name:
            return item
    raise AssertionError(f"{name!r} not in {[i['name'] for i in items]}")
