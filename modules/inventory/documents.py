"""Validation of product and category documents: pure Python, no database.

Every function returns the cleaned document or raises InvalidProduct with one entry per problem, so a
caller learns everything that is wrong at once."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from pos.money import Money
from pos.numbers import is_integer

from .errors import InvalidProduct

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_ATTRIBUTES_BYTES = 16_000
MAX_DEPTH = 5
MAX_PRICE = 10**15


class Problems:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append({"field": field, "message": message})

    def raise_if_any(self, what: str = "product") -> None:
        if self.errors:
            fields = ", ".join(dict.fromkeys(e["field"] for e in self.errors))
            raise InvalidProduct(f"The {what} is invalid: {fields}.", errors=self.errors)


def clean_id(value: Any, field: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not ID.match(value):
        problems.add(field, "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
        return None
    return value


def clean_names(value: Any, field: str, locales: Iterable[str], problems: Problems, *, required: bool = True,
                limit: int = MAX_NAME) -> dict[str, str]:
    locales = tuple(locales)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        problems.add(field, "Give an object of text per locale, e.g. {\"en\": \"...\"}.")
        return {}
    cleaned: dict[str, str] = {}
    for locale, text in value.items():
        if not isinstance(locale, str) or not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", locale):
            problems.add(f"{field}.{locale}", "Not a locale code.")
            continue
        if not isinstance(text, str):
            problems.add(f"{field}.{locale}", "Must be text.")
            continue
        text = text.strip()
        if len(text) > limit:
            problems.add(f"{field}.{locale}", f"At most {limit} characters.")
            continue
        if text:
            cleaned[locale] = text
    if required:
        missing = [locale for locale in locales if locale not in cleaned]
        if missing:
            problems.add(field, f"Missing text for locale(s): {', '.join(missing)}. Every locale of the "
                                f"restaurant ({', '.join(locales)}) is required.")
    return cleaned


def clean_amount(value: Any, field: str, currency: str, problems: Problems, *, allow_negative: bool = False) -> int | None:
    """An amount in minor units: an integer, or {"amount": int, "currency": <tenant currency>}, or Money."""
    if isinstance(value, Money):
        if value.currency != currency:
            problems.add(field, f"The restaurant sells in {currency}, not {value.currency}.")
            return None
        value = value.amount
    elif isinstance(value, dict):
        if value.get("currency", currency) != currency:
            problems.add(field, f"The restaurant sells in {currency}, not {value.get('currency')}.")
            return None
        value = value.get("amount")
    if not is_integer(value):
        problems.add(field, "Give a whole number of minor units (no decimals, no float).")
        return None
    if (value < 0 and not allow_negative) or abs(value) > MAX_PRICE:
        problems.add(field, "Out of range." if abs(value) > MAX_PRICE else "Cannot be negative.")
        return None
    return value


def _clean_key(key: Any, at: str, seen: set[str], problems: Problems, *, example: str = "",
               duplicate: str = "Duplicate key") -> None:
    """A lowercase key, unique among its siblings (`seen` collects them)."""
    if not isinstance(key, str) or not KEY.match(key):
        problems.add(f"{at}.key", f"Use 1-64 lowercase letters, digits, '_' or '-'{example}.")
    elif key in seen:
        problems.add(f"{at}.key", f"{duplicate} {key!r}.")
    if isinstance(key, str):
        seen.add(key)


def clean_option_groups(value: Any, field: str, locales: tuple[str, ...], currency: str,
                        problems: Problems) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(field, "Give a list of option groups.")
        return []
    groups: list[dict] = []
    seen: set[str] = set()
    for index, group in enumerate(value):
        at = f"{field}[{index}]"
        if not isinstance(group, dict):
            problems.add(at, "Each option group is an object.")
            continue
        key = group.get("key")
        _clean_key(key, at, seen, problems)
        names = clean_names(group.get("names"), f"{at}.names", locales, problems)
        choices: list[dict] = []
        choice_keys: set[str] = set()
        raw_choices = group.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            problems.add(f"{at}.choices", "Give at least one choice.")
            raw_choices = []
        for c_index, choice in enumerate(raw_choices):
            c_at = f"{at}.choices[{c_index}]"
            if not isinstance(choice, dict):
                problems.add(c_at, "Each choice is an object.")
                continue
            c_key = choice.get("key")
            _clean_key(c_key, c_at, choice_keys, problems)
            c_names = clean_names(choice.get("names"), f"{c_at}.names", locales, problems)
            delta = clean_amount(choice.get("price_delta", 0), f"{c_at}.price_delta", currency, problems,
                                 allow_negative=True)
            choices.append({"key": c_key, "names": c_names, "price_delta": delta})
        min_select = group.get("min_select", 0)
        max_select = group.get("max_select", 1)
        if not is_integer(min_select) or min_select < 0:
            problems.add(f"{at}.min_select", "A whole number, 0 or more.")
        elif not is_integer(max_select) or max_select < 1:
            problems.add(f"{at}.max_select", "A whole number, 1 or more.")
        elif min_select > max_select:
            problems.add(f"{at}.min_select", "Cannot exceed max_select.")
        elif raw_choices and max_select > len(raw_choices):
            problems.add(f"{at}.max_select", f"Cannot exceed the number of choices ({len(raw_choices)}).")
        groups.append({"key": key, "names": names, "min_select": min_select, "max_select": max_select,
                       "choices": choices})
    return groups


def clean_variants(value: Any, locales: tuple[str, ...], currency: str, problems: Problems) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add("variants", "Give a list of variants.")
        return []
    variants: list[dict] = []
    seen: set[str] = set()
    for index, variant in enumerate(value):
        at = f"variants[{index}]"
        if not isinstance(variant, dict):
            problems.add(at, "Each variant is an object.")
            continue
        key = variant.get("key")
        _clean_key(key, at, seen, problems, example=" (e.g. small, large)", duplicate="Duplicate variant key")
        names = clean_names(variant.get("names"), f"{at}.names", locales, problems)
        price = clean_amount(variant.get("price"), f"{at}.price", currency, problems)
        groups = clean_option_groups(variant.get("option_groups"), f"{at}.option_groups", locales, currency, problems)
        variants.append({"key": key, "names": names, "price": price, "option_groups": groups})
    return variants


def _check_json(value: Any, at: str, depth: int, problems: Problems) -> None:
    if depth > MAX_DEPTH:
        problems.add(at, f"Nested deeper than {MAX_DEPTH} levels.")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip() or len(key) > 64:
                problems.add(at, "Keys are non-empty text of at most 64 characters.")
            else:
                _check_json(item, f"{at}.{key}", depth + 1, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{at}[{index}]", depth + 1, problems)
    elif isinstance(value, float):
        problems.add(at, "Decimal numbers are not stored as float: give a string such as \"12.5\" or a whole "
                         "number in a smaller unit." if math.isfinite(value) else "Not a number.")
    elif not (value is None or isinstance(value, (str, bool, int))):
        problems.add(at, f"Unsupported value of type {type(value).__name__}.")


# Attributes every restaurant may use with a known shape; anything else is free-form JSON.
KNOWN_ATTRIBUTES = {
    "halal": bool, "vegetarian": bool, "vegan": bool, "seasonal": bool, "spicy_level": int,
    "images": list, "nutrition": dict, "allergens": list,
}


def clean_attributes(value: Any, problems: Problems) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add("attributes", "Give a JSON object, e.g. {\"halal\": true, \"images\": [\"https://...\"]}.")
        return {}
    _check_json(value, "attributes", 1, problems)
    for name, kind in KNOWN_ATTRIBUTES.items():
        if name in value and not (is_integer(value[name]) if kind is int else isinstance(value[name], kind)):
            problems.add(f"attributes.{name}", f"Must be a {kind.__name__}.")
    images = value.get("images")
    if isinstance(images, list):
        for index, url in enumerate(images):
            if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
                problems.add(f"attributes.images[{index}]", "Must be an http(s) URL.")
    try:
        size = len(json.dumps(value, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        problems.add("attributes", "Not valid JSON.")
        return {}
    if size > MAX_ATTRIBUTES_BYTES:
        problems.add("attributes", f"At most {MAX_ATTRIBUTES_BYTES} bytes of JSON.")
    return value


def search_text(*, product_id: str, names: dict[str, str], variants: list[dict]) -> str:
    """What text search matches: the id and every name of the product and its variants, lowercased."""
    parts = [product_id, *names.values()]
    for variant in variants:
        parts.extend(variant.get("names", {}).values())
    return "\n".join(part.lower() for part in parts if part)


def clean_quantity(value: Any, field: str = "quantity", *, allow_zero: bool = False) -> int:
    from .errors import InvalidQuantity

    if not is_integer(value):
        raise InvalidQuantity(f"{field} must be a whole number, not {value!r}.", field=field)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidQuantity(f"{field} must be {'0 or more' if allow_zero else 'more than 0'}, not {value}.",
                              field=field)
    if value > 1_000_000:
        raise InvalidQuantity(f"{field} {value} is implausibly large.", field=field)
    return value
