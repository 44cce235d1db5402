"""Validation of product documents: pure Python, no database."""

import pytest

from modules.inventory.documents import (
    Problems,
    clean_amount,
    clean_attributes,
    clean_names,
    clean_option_groups,
    clean_quantity,
    clean_variants,
    search_text,
)
from modules.inventory.errors import InvalidProduct, InvalidQuantity
from pos.money import Money

LOCALES = ("en", "my")


def fields(problems: Problems) -> list[str]:
    return [e["field"] for e in problems.errors]


def test_names_need_every_locale_of_the_restaurant():
    problems = Problems()
    assert clean_names({"en": " Mohinga "}, "names", LOCALES, problems) == {"en": "Mohinga"}
    assert fields(problems) == ["names"]
    assert "my" in problems.errors[0]["message"]
    problems = Problems()
    assert clean_names({"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, "names", LOCALES, problems)["my"] == "မုန့်ဟင်းခါး"
    assert not problems.errors


def test_blank_and_non_text_names_are_refused():
    problems = Problems()
    clean_names({"en": "  ", "my": 5}, "names", LOCALES, problems)
    assert "names.my" in fields(problems) and "names" in fields(problems)


@pytest.mark.parametrize("value", [12.5, "2500", True, None, {"amount": 1.0, "currency": "MMK"}, -1])
def test_prices_are_whole_minor_units(value):
    problems = Problems()
    assert clean_amount(value, "price", "MMK", problems) is None
    assert fields(problems) == ["price"]


def test_price_accepts_int_money_and_dict_in_the_tenant_currency():
    problems = Problems()
    assert clean_amount(2500, "price", "MMK", problems) == 2500
    assert clean_amount(Money(3000, "MMK"), "price", "MMK", problems) == 3000
    assert clean_amount({"amount": 10, "currency": "MMK"}, "price", "MMK", problems) == 10
    assert not problems.errors
    assert clean_amount(Money(100, "USD"), "price", "MMK", problems) is None
    assert "MMK" in problems.errors[0]["message"]


def test_variants_need_unique_slug_keys_names_and_prices():
    problems = Problems()
    clean_variants([
        {"key": "small", "names": {"en": "S", "my": "S"}, "price": 1000},
        {"key": "small", "names": {"en": "L"}, "price": 1.5},
        {"key": "Big Bowl", "names": {"en": "B", "my": "B"}, "price": 10},
    ], LOCALES, "MMK", problems)
    assert set(fields(problems)) == {"variants[1].key", "variants[1].names", "variants[1].price", "variants[2].key"}


def test_option_groups_check_selection_bounds_and_deltas():
    good = [{"key": "extras", "names": {"en": "Extras", "my": "x"}, "min_select": 0, "max_select": 2,
             "choices": [{"key": "egg", "names": {"en": "Egg", "my": "x"}, "price_delta": 500},
                         {"key": "no-onion", "names": {"en": "No onion", "my": "x"}, "price_delta": 0}]}]
    problems = Problems()
    assert clean_option_groups(good, "option_groups", LOCALES, "MMK", problems)[0]["choices"][0]["price_delta"] == 500
    assert not problems.errors
    bad = [{**good[0], "min_select": 3, "max_select": 2}, {**good[0], "key": "more", "max_select": 5},
           {**good[0], "key": "none", "choices": []}]
    problems = Problems()
    clean_option_groups(bad, "option_groups", LOCALES, "MMK", problems)
    assert set(fields(problems)) == {"option_groups[0].min_select",
                                     "option_groups[1].max_select", "option_groups[2].choices"}


def test_attributes_are_validated_json_without_float():
    problems = Problems()
    value = {"halal": True, "images": ["https://cdn.example/mohinga.jpg"], "nutrition": {"kcal": 450, "fat_g": "12.5"},
             "certificate": {"issuer": "MUI", "expires": "2027-01-01"}}
    assert clean_attributes(value, problems) == value
    assert not problems.errors
    problems = Problems()
    clean_attributes({"halal": "yes", "images": ["ftp://x"], "nutrition": {"fat_g": 12.5}, "": 1}, problems)
    assert set(fields(problems)) == {"attributes", "attributes.nutrition.fat_g", "attributes.halal",
                                     "attributes.images[0]"}
    problems = Problems()
    clean_attributes(["not", "an", "object"], problems)
    assert fields(problems) == ["attributes"]


def test_problems_raise_one_error_listing_everything():
    problems = Problems()
    problems.add("names", "missing my")
    problems.add("price", "float")
    with pytest.raises(InvalidProduct) as caught:
        problems.raise_if_any()
    assert caught.value.status == 400
    assert [e["field"] for e in caught.value.extra["errors"]] == ["names", "price"]


def test_search_text_covers_every_locale_and_variant_lowercased():
    text = search_text(product_id="p1", names={"en": "Milk Tea", "my": "လက်ဖက်ရည်"},
                       variants=[{"names": {"en": "Large"}}])
    assert "milk tea" in text and "လက်ဖက်ရည်" in text and "large" in text


@pytest.mark.parametrize("value", [0, -1, 1.0, 2.5, "3", True, None, 10**9])
def test_quantities_are_positive_whole_numbers(value):
    with pytest.raises(InvalidQuantity):
        clean_quantity(value)


def test_zero_is_a_valid_count():
    assert clean_quantity(0, "counted", allow_zero=True) == 0
