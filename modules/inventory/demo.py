"""A demo catalog: a Yangon noodle shop, in English and Burmese, priced in MMK. Idempotent."""

from __future__ import annotations

import uuid

from pos.tenancy import tenant_context

from . import services
from .models import Category, Movement, Product

CATEGORIES = [
    ("noodles", {"en": "Noodles", "my": "ခေါက်ဆွဲ"}, 1),
    ("rice", {"en": "Rice", "my": "ထမင်း"}, 2),
    ("drinks", {"en": "Drinks", "my": "အချိုရည်"}, 3),
    ("snacks", {"en": "Snacks", "my": "သရေစာ"}, 4),
]

SIZES = {"small": {"en": "Small", "my": "အသေး"}, "large": {"en": "Large", "my": "အကြီး"}}

EXTRAS = {
    "key": "extras", "names": {"en": "Extras", "my": "အပိုများ"}, "min_select": 0, "max_select": 3,
    "choices": [
        {"key": "boiled-egg", "names": {"en": "Boiled egg", "my": "ကြက်ဥပြုတ်"}, "price_delta": 500},
        {"key": "fritters", "names": {"en": "Split-pea fritters", "my": "ပဲကြော်"}, "price_delta": 300},
        {"key": "fish-cake", "names": {"en": "Fish cake", "my": "ငါးဖယ်"}, "price_delta": 700},
    ],
}
SUGAR = {
    "key": "sweetness", "names": {"en": "Sweetness", "my": "အချိုဓာတ်"}, "min_select": 1, "max_select": 1,
    "choices": [
        {"key": "regular", "names": {"en": "Regular", "my": "ပုံမှန်"}, "price_delta": 0},
        {"key": "less-sweet", "names": {"en": "Less sweet", "my": "အချိုလျှော့"}, "price_delta": 0},
        {"key": "extra-sweet", "names": {"en": "Extra sweet", "my": "အချိုပို"}, "price_delta": 0},
    ],
}


def _variants(small: int, large: int, groups: list[dict] | None = None) -> list[dict]:
    return [{"key": key, "names": SIZES[key], "price": price, "option_groups": groups or []}
            for key, price in (("small", small), ("large", large))]


# id, names, category, price, variants, option groups, attributes, stock (per variant or product)
PRODUCTS = [
    ("mohinga", {"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, "noodles", 2500, _variants(2500, 3500), [EXTRAS],
     {"halal": True, "spicy_level": 1, "nutrition": {"kcal": 450}}, {"small": 40, "large": 30}),
    ("shan-noodles", {"en": "Shan noodles", "my": "ရှမ်းခေါက်ဆွဲ"}, "noodles", 3000, _variants(3000, 4000), [EXTRAS],
     {"halal": False, "spicy_level": 1}, {"small": 30, "large": 25}),
    ("nan-gyi-thoke", {"en": "Nan gyi thoke", "my": "နန်းကြီးသုပ်"}, "noodles", 2800, [], [EXTRAS],
     {"halal": True}, {"": 35}),
    ("ohn-no-khao-swe", {"en": "Ohn no khao swe", "my": "အုန်းနို့ခေါက်ဆွဲ"}, "noodles", 3200, _variants(3200, 4200),
     [EXTRAS], {"halal": True, "spicy_level": 0}, {"small": 25, "large": 20}),
    ("tea-leaf-salad", {"en": "Tea leaf salad", "my": "လက်ဖက်သုပ်"}, "snacks", 2000, [], [],
     {"vegetarian": True, "allergens": ["peanut"]}, {"": 30}),
    ("fried-rice", {"en": "Fried rice", "my": "ထမင်းကြော်"}, "rice", 3000, [], [EXTRAS], {"halal": True}, {"": 40}),
    ("milk-tea", {"en": "Myanmar milk tea", "my": "လက်ဖက်ရည်"}, "drinks", 1000, _variants(1000, 1500), [SUGAR],
     {"vegetarian": True}, {"small": 100, "large": 80}),
    ("lime-juice", {"en": "Lime juice", "my": "သံပုရာရည်"}, "drinks", 1500, [], [SUGAR],
     {"vegan": True, "seasonal": False}, {"": 60}),
    ("samosa", {"en": "Samosa", "my": "စမူဆာ"}, "snacks", 500, [], [], {"vegetarian": True}, {"": 50}),
]


def seed_demo_catalog(*, tenant_id: uuid.UUID) -> str:
    created_categories = created_products = received = 0
    with tenant_context(tenant_id):
        have_categories = set(Category.objects.using("inventory").values_list("id", flat=True))
        have_products = set(Product.objects.using("inventory").values_list("id", flat=True))
        stocked = set(Movement.objects.using("inventory").filter(reference__startswith="demo-seed:")
                      .values_list("reference", flat=True))
    prefix = f"{str(tenant_id)[:8]}-"
    for slug, names, position in CATEGORIES:
        if prefix + slug not in have_categories:
            services.category_create(tenant_id=tenant_id, category_id=prefix + slug, names=names, position=position)
            created_categories += 1
    for position, (slug, names, category, price, variants, groups, attributes, stock) in enumerate(PRODUCTS, 1):
        pid = prefix + slug
        if pid not in have_products:
            services.product_create(tenant_id=tenant_id, product_id=pid, names=names, price=price,
                                    category_id=prefix + category, variants=variants, option_groups=groups,
                                    attributes=attributes, position=position)
            created_products += 1
        for variant, quantity in stock.items():
            key = f"demo-seed:{pid}:{variant}"
            if key not in stocked:
                services.stock_adjust(tenant_id=tenant_id, product_id=pid, variant=variant or None, kind="receive",
                                      quantity=quantity, reason="opening stock", actor="system:seed", key=key)
                received += 1
    if not (created_categories or created_products or received):
        return f"already seeded ({len(CATEGORIES)} categories, {len(PRODUCTS)} products)"
    return (f"{created_categories} categories, {created_products} products created, "
            f"{received} stock receipts")
