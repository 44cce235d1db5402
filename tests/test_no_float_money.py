"""No float anywhere in the product's code: money is integer minor units or Decimal."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ["pos", "modules", "ops", "config"]


def _product_files():
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            yield path


def test_no_float_literals_casts_or_float_fields_in_product_code():
    offenders = []
    for path in _product_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} float literal {node.value}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} float()")
            elif isinstance(node, ast.Attribute) and node.attr in {"FloatField"}:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} FloatField")
    assert offenders == []


def test_the_scan_sees_product_code():
    assert sum(1 for _ in _product_files()) > 20
