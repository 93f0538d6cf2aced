"""GraphQL scalars as Python annotations.

Each name is a ``typing.NewType`` so an annotation reads naturally (``id: ID``), a type checker
sees the underlying Python type, and the exporter maps it to the GraphQL scalar of the same
name. The plain Python types map too: ``str int float bool`` → ``String Int Float Boolean``,
``decimal.Decimal`` → ``Decimal``, ``datetime.datetime`` → ``DateTime``, ``datetime.date`` →
``Date``, ``uuid.UUID`` → ``UUID``, ``dict`` → ``JSON``.
"""

from __future__ import annotations

import datetime as _datetime
import decimal as _decimal
import uuid as _uuid
from typing import Any, NewType

__all__ = ["ID", "UUID", "DateTime", "Date", "Decimal", "JSON", "Json"]

ID = NewType("ID", str)
"""GraphQL ``ID``: an opaque identifier, serialised as a string."""

UUID = NewType("UUID", _uuid.UUID)
"""GraphQL ``UUID``."""

DateTime = NewType("DateTime", _datetime.datetime)
"""GraphQL ``DateTime`` (ISO 8601 timestamp, as the view's JSON holds it)."""

Date = NewType("Date", _datetime.date)
"""GraphQL ``Date``."""

Decimal = NewType("Decimal", _decimal.Decimal)
"""GraphQL ``Decimal``: passed through as the view's JSON holds it (number or string)."""

JSON = NewType("JSON", dict[str, Any])
"""GraphQL ``JSON``: any JSON value."""

Json = JSON
"""Alias of :data:`JSON` (spelling used by some FraiseQL guides)."""
