"""`fraiseql compile` and `fraiseql sdl` on SDK output (the CLI contract the engine implements).

fraiseql compile <schema.json|schema.graphql> -o <out.json>   exit 0, writes the compiled schema
                                                              exit 1, errors on stderr, if invalid
fraiseql sdl <schema input>                                   GraphQL SDL on stdout
"""

import json
import re

import pytest

import fraiseql

from ..support import FIXTURES, SEED_FIXTURES, export_fixture
from .conftest import explain

pytestmark = pytest.mark.integration


def write_fixture_schema(name, directory):
    path = directory / f"{name}.schema.json"
    path.write_text(json.dumps(export_fixture(name), indent=2))
    return path


def compile_to_json(cli, source, out):
    result = cli("compile", source, "-o", out)
    assert result.returncode == 0, explain(result)
    assert out.is_file(), f"compile exited 0 but wrote no {out}\n{explain(result)}"
    return json.loads(out.read_text())


def test_compile_writes_the_compiled_schema(cli, tmp_path):
    source = write_fixture_schema("order_service", tmp_path)
    compiled = compile_to_json(cli, source, tmp_path / "schema.compiled.json")
    assert "Order" in json.dumps(compiled)


def test_compile_rejects_an_invalid_schema_with_exit_code_1(cli, tmp_path):
    # Hand-written: the SDK itself refuses to export these mistakes.
    invalid = {
        "version": 1,
        "types": [{"name": "Order", "fields": [{"name": "id", "type": "ID!"}]}],
        "queries": [{"name": "orders", "return_type": "[NoSuchType!]!"}],
    }
    source = tmp_path / "schema.json"
    source.write_text(json.dumps(invalid))
    result = cli("compile", source, "-o", tmp_path / "out.json")
    assert result.returncode == 1, explain(result)
    assert "NoSuchType" in result.stderr, explain(result)


def test_compile_rejects_unknown_keys(cli, tmp_path):
    source = tmp_path / "schema.json"
    for document, unknown in [
        ({"version": 1, "types": [], "gateway": {"enabled": True}}, "gateway"),
        # `federation` holds the schema-level Apollo Federation directives only.
        ({"version": 1, "types": [], "federation": {"enabled": True}}, "enabled"),
    ]:
        source.write_text(json.dumps(document))
        result = cli("compile", source, "-o", tmp_path / "out.json")
        assert result.returncode == 1, explain(result)
        assert unknown in result.stderr, explain(result)


@pytest.mark.parametrize("name", sorted(SEED_FIXTURES))
def test_each_seed_fixture_compiles(cli, tmp_path, name):
    source = write_fixture_schema(name, tmp_path)
    compile_to_json(cli, source, tmp_path / f"{name}.compiled.json")


def test_sdl_prints_the_graphql_schema(cli, tmp_path):
    source = write_fixture_schema("order_service", tmp_path)
    result = cli("sdl", source)
    assert result.returncode == 0, explain(result)
    sdl = result.stdout
    expected = [
        r"\btype Order\b",
        r"\bcreatedAt: DateTime!",
        r"\binput CreateOrderInput\b",
        r"\btype Query\b",
        r"\border\(\s*id: ID!\s*\): Order\b(?!!)",
        r"\borders\(",
        r"\btype Mutation\b",
        # Root query and mutation fields are served nullable so a failure nulls only that
        # field (docs/schema.md); subscriptions keep the declared type.
        r"\bcreateOrder\(\s*input: CreateOrderInput!\s*\): Order\b(?!!)",
        r"\btype Subscription\b",
        r"\borderStatusUpdated\(\s*orderId: ID\s*\): Order!",
    ]
    missing = [pattern for pattern in expected if not re.search(pattern, sdl)]
    assert not missing, f"SDL lacks {missing}:\n{sdl}"


def test_json_and_graphql_inputs_compile_to_the_same_schema(cli, tmp_path):
    """Round trip: order_service.py exported by the SDK and order_service.graphql written by
    hand lower to the same compiled model (types, fields, arguments, sources)."""
    from_json = compile_to_json(
        cli, write_fixture_schema("order_service", tmp_path), tmp_path / "from_json.json"
    )
    from_sdl = compile_to_json(cli, FIXTURES / "order_service.graphql", tmp_path / "from_sdl.json")
    if from_json != from_sdl:
        left = json.dumps(from_json, indent=2, sort_keys=True).splitlines()
        right = json.dumps(from_sdl, indent=2, sort_keys=True).splitlines()
        import difflib

        diff = "\n".join(
            difflib.unified_diff(left, right, "from schema.json", "from schema.graphql", lineterm="")
        )
        pytest.fail(f"compiled schemas differ:\n{diff}", pytrace=False)

    sdl_from_json = cli("sdl", tmp_path / "order_service.schema.json")
    sdl_from_graphql = cli("sdl", FIXTURES / "order_service.graphql")
    assert sdl_from_json.returncode == 0, explain(sdl_from_json)
    assert sdl_from_graphql.returncode == 0, explain(sdl_from_graphql)
    assert sdl_from_json.stdout == sdl_from_graphql.stdout


def test_export_then_compile_from_a_fresh_registry(cli, tmp_path):
    """The documented workflow: a schema module run as a script, then compile its output."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(FIXTURES / "saas.py")], cwd=tmp_path, check=True)
    fraiseql.reset_registry()
    compile_to_json(cli, tmp_path / "schema.json", tmp_path / "schema.compiled.json")
