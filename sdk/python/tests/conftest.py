"""Every test starts (and leaves) with an empty declaration registry."""

import pytest

import fraiseql


@pytest.fixture(autouse=True)
def clean_registry():
    fraiseql.reset_registry()
    yield
    fraiseql.reset_registry()
