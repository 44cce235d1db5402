"""The module documentation is generated from the code and kept in the repository up to date."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pos.management.commands.describe_modules import describe

DOC = Path(__file__).resolve().parent.parent / "docs" / "MODULES.md"


def test_the_description_matches_the_architecture():
    modules = describe()
    assert modules["accounts"]["calls"] == []
    assert modules["inventory"]["calls"] == ["accounts"]
    assert modules["payment"]["calls"] == ["accounts"]
    assert set(modules["pos_core"]["calls"]) == {"accounts", "inventory", "payment", "restaurant"}
    assert "pos_core" not in modules["restaurant"]["calls"]  # restaurant follows orders by events only
    assert ("inventory.stock_changed", "pos_core.refresh_stock_cache") in modules["pos_core"]["handles"]
    assert ("pos_core.order_placed", "restaurant.seat_order_on_table") in modules["restaurant"]["handles"]
    assert "payment.captured" in modules["payment"]["publishes"]
    assert modules["inventory"]["database"] == "inventory"


def test_the_committed_document_is_up_to_date():
    out = io.StringIO()
    call_command("describe_modules", "--check", str(DOC), stdout=out)
    assert "up to date" in out.getvalue()


def test_a_stale_document_is_reported(tmp_path):
    stale = tmp_path / "MODULES.md"
    stale.write_text(DOC.read_text().replace("pos_core -->|api| payment", ""))
    with pytest.raises(CommandError, match="out of date"):
        call_command("describe_modules", "--check", str(stale), stdout=io.StringIO())
