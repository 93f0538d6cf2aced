"""Python annotations → GraphQL type references.

No `from __future__ import annotations` here: the classes are local to the tests, and string
annotations are tested on their own module (test_string_annotations_…).
"""

import datetime
import decimal
import typing
import uuid
from typing import Annotated, Any, ClassVar, List, NewType, Optional

import pytest

import fraiseql
from fraiseql import scalars

from .support import by_name


def field_types(cls_name: str) -> dict[str, str]:
    doc = fraiseql.schema_dict()
    return {f["name"]: f["type"] for f in by_name(doc["types"], cls_name)["fields"]}


def test_python_types_map_to_scalars():
    @fraiseql.type
    class Everything:
        s: str
        i: int
        f: float
        b: bool
        d: decimal.Decimal
        dt: datetime.datetime
        day: datetime.date
        u: uuid.UUID
        j: dict
        jt: dict[str, Any]

    assert field_types("Everything") == {
        "s": "String!",
        "i": "Int!",
        "f": "Float!",
        "b": "Boolean!",
        "d": "Decimal!",
        "dt": "DateTime!",
        "day": "Date!",
        "u": "UUID!",
        "j": "JSON!",
        "jt": "JSON!",
    }


def test_fraiseql_scalars_map_to_their_names():
    @fraiseql.type
    class Scalars:
        id: scalars.ID
        u: scalars.UUID
        dt: scalars.DateTime
        day: scalars.Date
        d: scalars.Decimal
        j: scalars.JSON
        j2: scalars.Json

    assert field_types("Scalars") == {
        "id": "ID!",
        "u": "UUID!",
        "dt": "DateTime!",
        "day": "Date!",
        "d": "Decimal!",
        "j": "JSON!",
        "j2": "JSON!",
    }


def test_user_newtype_is_its_underlying_scalar():
    Email = NewType("Email", str)

    @fraiseql.type
    class User:
        email: Email

    assert field_types("User") == {"email": "String!"}


def test_nullability_and_lists():
    @fraiseql.type
    class Shapes:
        a: str | None
        b: Optional[int]
        c: list[str]
        d: List[int]
        e: list[str | None]
        f: list[str] | None
        g: list[list[int]]
        h: typing.Union[str, None]

    assert field_types("Shapes") == {
        "a": "String",
        "b": "Int",
        "c": "[String!]!",
        "d": "[Int!]!",
        "e": "[String]!",
        "f": "[String!]",
        "g": "[[Int!]!]!",
        "h": "String",
    }


def test_forward_references_and_nested_types():
    @fraiseql.type
    class Order:
        id: scalars.ID
        items: list["OrderItem"]
        customer: "Customer | None"
        best: typing.Optional["OrderItem"]

    @fraiseql.type
    class OrderItem:
        id: scalars.ID
        quantity: int

    @fraiseql.type
    class Customer:
        id: scalars.ID

    assert field_types("Order") == {
        "id": "ID!",
        "items": "[OrderItem!]!",
        "customer": "Customer",
        "best": "OrderItem",
    }


def test_string_annotations_resolve_in_the_defining_module(tmp_path):
    module = tmp_path / "authored.py"
    module.write_text(
        "from __future__ import annotations\n"
        "from decimal import Decimal\n"
        "import fraiseql\n"
        "from fraiseql.scalars import ID\n"
        "@fraiseql.type\n"
        "class Invoice:\n"
        "    id: ID\n"
        "    amount: Decimal\n"
        "    lines: list[Line]\n"
        "@fraiseql.type\n"
        "class Line:\n"
        "    id: ID\n"
        "@fraiseql.query(sql_source='v_invoice')\n"
        "def invoices(min_amount: Decimal | None = None) -> list[Invoice]: ...\n"
    )
    import runpy

    runpy.run_path(str(module))
    doc = fraiseql.schema_dict()
    invoice = by_name(doc["types"], "Invoice")
    assert [f["type"] for f in invoice["fields"]] == ["ID!", "Decimal!", "[Line!]!"]
    assert doc["queries"][0]["arguments"] == [{"name": "min_amount", "type": "Decimal"}]


def test_annotated_carries_field_options():
    @fraiseql.type
    class Product:
        sku: Annotated[str, fraiseql.field(description="Stock keeping unit")]
        old: Annotated[str | None, fraiseql.field(deprecated="use sku")]
        price_eur: Annotated[decimal.Decimal, fraiseql.field(graphql_name="priceEUR")]

    fields = by_name(fraiseql.schema_dict()["types"], "Product")["fields"]
    assert fields == [
        {"name": "sku", "type": "String!", "description": "Stock keeping unit"},
        {"name": "old", "type": "String", "deprecated": "use sku"},
        {"name": "price_eur", "type": "Decimal!", "graphql_name": "priceEUR"},
    ]


def test_field_as_class_attribute_default():
    @fraiseql.type
    class Product:
        sku: str = fraiseql.field(description="Stock keeping unit", deprecated=True)

    (field,) = by_name(fraiseql.schema_dict()["types"], "Product")["fields"]
    assert field == {
        "name": "sku",
        "type": "String!",
        "description": "Stock keeping unit",
        "deprecated": "No longer supported",
    }


def test_inheritance_classvars_private_names_and_methods():
    class Timestamped:
        created_at: datetime.datetime
        updated_at: datetime.datetime

    @fraiseql.type
    class Post(Timestamped):
        id: scalars.ID
        title: str
        table: ClassVar[str] = "tb_post"
        _cache: dict

        def summary(self) -> str:
            return self.title[:10]

    assert list(field_types("Post")) == ["created_at", "updated_at", "id", "title"]


def test_enum_annotations_and_values():
    import enum

    @fraiseql.enum
    class OrderStatus(enum.Enum):
        """Where an order is."""

        PENDING = "pending"
        SHIPPED = "shipped"

    @fraiseql.type
    class Order:
        status: OrderStatus
        history: list[OrderStatus]

    doc = fraiseql.schema_dict()
    assert field_types("Order") == {"status": "OrderStatus!", "history": "[OrderStatus!]!"}
    assert doc["enums"] == [
        {
            "name": "OrderStatus",
            "description": "Where an order is.",
            "values": [
                {"name": "PENDING", "value": "pending"},
                {"name": "SHIPPED", "value": "shipped"},
            ],
        }
    ]


def test_enum_descriptions_deprecations_and_int_values():
    import enum

    @fraiseql.enum(descriptions={"LOW": "Can wait"}, deprecated={"URGENT": "use HIGH"})
    class Priority(enum.IntEnum):
        LOW = 1
        HIGH = 2
        URGENT = 3

    (priority,) = fraiseql.schema_dict()["enums"]
    assert priority["values"] == [
        {"name": "LOW", "value": "1", "description": "Can wait"},
        {"name": "HIGH", "value": "2"},
        {"name": "URGENT", "value": "3", "deprecated": "use HIGH"},
    ]


@pytest.mark.parametrize(
    "annotation, message",
    [
        (set, "unsupported annotation"),
        (set[int], "unsupported annotation"),
        (typing.Any, "unsupported annotation"),
        (int | str, "union"),
        (list, "needs one item type"),
        (type(None), "None alone"),
        ("Nope", "unknown type 'Nope'"),
    ],
)
def test_unsupported_annotations_name_the_class_and_field(annotation, message):
    Thing = type("Thing", (), {"__annotations__": {"id": int, "bad": annotation}})
    fraiseql.type(Thing)
    with pytest.raises(fraiseql.SchemaError) as err:
        fraiseql.schema_dict()
    (problem,) = err.value.problems
    assert problem.startswith("type Thing.bad: ")
    assert message in problem
