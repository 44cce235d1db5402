"""Admin of the inventory module for managers: catalog with per-locale names and structured variants,
stock with an adjustment action, the ledger and reservations read-only. Every write goes through the
services, so the admin validates, versions, records and publishes exactly like the API."""

from __future__ import annotations

import json
import re
import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html

from modules.accounts import api as accounts
from pos import tenancy
from pos.admin import ReadOnlyTenantAdmin, TenantScopedAdmin, references_to, remove_references_to
from pos.errors import DomainError

from .errors import InvalidProduct, StaleVersion
from .models import Category, Movement, Product, Reservation, StockItem
from .selectors import low_stock_items, product_get, sold_out_items, stock_levels_get
from .services import (
    category_create,
    category_update,
    clean_product,
    product_create,
    product_id_check,
    product_update,
    stock_adjust,
    stock_count,
    stock_set_threshold,
)

EXTRA_VARIANT_ROWS = 2
MORE_VARIANT_ROWS = 6  # folded away until a manager opens them: add as many variants as needed
NEW_GROUP_CHOICE_ROWS = 4
EXTRA_CHOICE_ROWS = 2
EXTRA_FACT_ROWS = 3


def _locales_for(request, obj=None) -> list[str]:
    """The locales names are asked in: the row's tenant, else the manager's tenant, else every language."""
    tenant_id = getattr(obj, "tenant_id", None)
    if tenant_id is None:
        scope = tenancy.current_scope()
        tenant_id = scope if isinstance(scope, uuid.UUID) else None
    if tenant_id is not None:
        try:
            return list(accounts.get_tenant(tenant_id).locales)
        except accounts.TenantNotFound:
            pass
    return [code for code, _ in settings.LANGUAGES]


def _tenant_field() -> forms.ChoiceField:
    choices = [(str(pk), name) for pk, name in tenancy.tenant_choices()]
    return forms.ChoiceField(choices=choices, help_text="The restaurant this row belongs to.")


def _language(code: str) -> str:
    return dict(settings.LANGUAGES).get(code, code)


def _apply_problems(form: forms.Form, error: InvalidProduct, field_map) -> None:
    for problem in error.extra.get("errors", []):
        field = field_map(problem["field"])
        form.add_error(field if field in form.fields else None, f"{problem['field']}: {problem['message']}")


class RowWidget(forms.MultiWidget):
    """Several inputs on one line (a choice: key, a name per language, a price)."""

    def decompress(self, value):
        return list(value) if value else [None] * len(self.widgets)


class RowField(forms.MultiValueField):
    """The values of a RowWidget as a list; a row left empty is no row at all."""

    def __init__(self, fields, placeholders, **kwargs):
        widgets = [forms.NumberInput(attrs={"placeholder": p, "style": "width:7em"})
                   if isinstance(f, forms.IntegerField) else forms.TextInput(attrs={"placeholder": p, "size": 14})
                   for f, p in zip(fields, placeholders, strict=True)]
        super().__init__(fields=fields, widget=RowWidget(widgets), require_all_fields=False, required=False,
                         **kwargs)

    def compress(self, data_list):
        return list(data_list) if data_list else []


def _names_row(locales, key_label: str, extra: list[tuple[forms.Field, str]], label: str, initial=None,
               help_text: str = "") -> RowField:
    fields = [forms.CharField(max_length=64, required=False),
              *[forms.CharField(max_length=200, required=False) for _ in locales], *[f for f, _ in extra]]
    placeholders = [key_label, *[f"name ({_language(code)})" for code in locales], *[p for _, p in extra]]
    return RowField(fields, placeholders, label=label, initial=initial, help_text=help_text)


YES_NO = [("", "—"), ("yes", "Yes"), ("no", "No")]
FLAG_ATTRIBUTES = ("halal", "vegetarian", "vegan", "seasonal")


def _attribute_value(text: str):
    """A free-form fact as typed: yes/no, a whole number, JSON for a list or an object, otherwise text."""
    text = text.strip()
    if text.lower() in ("yes", "true"):
        return True
    if text.lower() in ("no", "false"):
        return False
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _attribute_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- Categories ------------------------------------------------------------------------------------

class CategoryAdminForm(forms.ModelForm):
    locales: list[str] = []

    class Meta:
        model = Category
        fields = ["position", "is_active"]


@admin.register(Category)
class CategoryAdmin(TenantScopedAdmin):
    list_display = ["label", "position", "is_active", "id"]
    list_filter = ["is_active"]
    ordering = ["position", "id"]
    form = CategoryAdminForm

    @admin.display(description="Name")
    def label(self, obj) -> str:
        return " / ".join(obj.names.values())

    def get_form(self, request, obj=None, change=False, **kwargs):
        locales = _locales_for(request, obj)
        attrs = {"locales": locales}
        for code in locales:
            attrs[f"name_{code}"] = forms.CharField(label=f"Name ({_language(code)})", max_length=200,
                                                    initial=(obj.names.get(code) if obj else ""))
        if self._superuser(request) and obj is None:
            attrs["tenant"] = _tenant_field()
        kwargs["form"] = type("CategoryForm", (CategoryAdminForm,), attrs)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fields = [f"name_{code}" for code in _locales_for(request, obj)]
        fieldsets = [(None, {"fields": [*fields, "position", "is_active"]})]
        if self._superuser(request) and obj is None:
            fieldsets.insert(0, (None, {"fields": ["tenant"]}))
        return fieldsets

    def save_in_tenant(self, request, obj, form, change) -> None:
        names = {code: form.cleaned_data[f"name_{code}"] for code in form.locales}
        try:
            if change:
                category_update(tenant_id=obj.tenant_id, category_id=obj.pk, names=names, position=obj.position,
                                is_active=obj.is_active)
            else:
                info = category_create(tenant_id=obj.tenant_id, names=names, position=obj.position)
                obj.pk = info.id
        except DomainError as exc:
            messages.error(request, exc.detail)


# --- Products --------------------------------------------------------------------------------------

class ProductAdminForm(forms.ModelForm):
    """Names and descriptions per locale, variants, option groups with their choices, and attributes, all as
    plain fields (no JSON to type). Validation is the service's, so the admin accepts exactly what the API would,
    and the service's problems are shown next to the field they are about."""

    locales: list[str] = []
    variant_rows: int = EXTRA_VARIANT_ROWS
    existing_variants: list[dict] = []
    group_rows: int = 1
    choice_rows: tuple[int, ...] = (NEW_GROUP_CHOICE_ROWS,)
    fact_rows: int = EXTRA_FACT_ROWS
    nutrition_rows: int = EXTRA_FACT_ROWS

    product_id = forms.CharField(label="Id", required=False, max_length=64,
                                 help_text="Optional short id such as mohinga (letters, digits, - _ .); generated if "
                                           "empty. Cannot change later.")
    price = forms.IntegerField(label="Base price", min_value=0,
                               help_text="In whole minor units of the restaurant's currency (MMK: kyat).")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    category_id = forms.ChoiceField(label="Category", required=False)
    class Meta:
        model = Product
        fields = ["position", "is_active", "is_sold_out", "track_stock"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category_id"].choices = [("", "—"), *(
            (c.pk, str(c)) for c in Category.objects.using("inventory").order_by("position", "id"))]
        if not self.instance._state.adding:
            self.fields["product_id"].disabled = True
            self.initial.update({
                "product_id": self.instance.pk, "price": self.instance.price_amount, "version": self.instance.version,
                "category_id": self.instance.category_id or "",
            })

    def _tenant_id(self):
        return self.instance.tenant_id or self.cleaned_data.get("tenant") or tenancy.current_tenant_id()

    def document(self) -> dict:
        data = self.cleaned_data
        names = {code: data.get(f"name_{code}") or "" for code in self.locales}
        descriptions = {code: data.get(f"description_{code}") or "" for code in self.locales}
        previous = {v.get("key"): v for v in self.existing_variants}
        variants = []
        for row in range(self.variant_rows):
            key = (data.get(f"variant_{row}_key") or "").strip()
            if not key or data.get(f"variant_{row}_delete"):
                continue
            variants.append({
                "key": key, "price": data.get(f"variant_{row}_price"),
                "names": {code: data.get(f"variant_{row}_name_{code}") or "" for code in self.locales},
                # a variant's own option groups are kept as they were (edit them through the api)
                "option_groups": previous.get(key, {}).get("option_groups", []),
            })
        return {
            "names": names, "descriptions": {k: v for k, v in descriptions.items() if v},
            "category_id": data.get("category_id") or None, "price": data.get("price"), "variants": variants,
            "option_groups": self._option_groups(), "attributes": self._attributes(),
            "is_active": data.get("is_active", True), "is_sold_out": data.get("is_sold_out", False),
            "track_stock": data.get("track_stock", True), "position": data.get("position") or 0,
        }

    def _option_groups(self) -> list[dict]:
        """Rows with a key become option groups and choices; `_rows` remembers which row each one came from, so
        a problem the service finds in `option_groups[1].choices[0]` is shown on that row."""
        data, n = self.cleaned_data, len(self.locales)
        groups, self._rows = [], {}
        for g in range(self.group_rows):
            row = data.get(f"optgroup_{g}") or []
            if not row or not (row[0] or "").strip():
                continue
            choices = []
            for c in range(self.choice_rows[g]):
                choice = data.get(f"optgroup_{g}_choice_{c}") or []
                if not choice or not (choice[0] or "").strip():
                    continue
                self._rows[(len(groups), len(choices))] = f"optgroup_{g}_choice_{c}"
                choices.append({"key": choice[0].strip(), "price_delta": choice[n + 1] or 0,
                                "names": {code: choice[1 + i] or "" for i, code in enumerate(self.locales)}})
            self._rows[(len(groups), None)] = f"optgroup_{g}"
            groups.append({"key": row[0].strip(), "names": {code: row[1 + i] or "" for i, code in enumerate(self.locales)},
                           "min_select": row[n + 1] if row[n + 1] is not None else 0,
                           "max_select": row[n + 2] if row[n + 2] is not None else 1, "choices": choices})
        return groups

    def _attributes(self) -> dict:
        data = self.cleaned_data
        attributes: dict = {}
        for i in range(self.fact_rows):
            row = data.get(f"fact_{i}") or []
            if row and (row[0] or "").strip():
                attributes[row[0].strip()] = _attribute_value(row[1] or "")
        for flag in FLAG_ATTRIBUTES:
            if data.get(f"attr_{flag}"):
                attributes[flag] = data[f"attr_{flag}"] == "yes"
        if data.get("attr_spicy_level") is not None:
            attributes["spicy_level"] = data["attr_spicy_level"]
        allergens = [a.strip() for a in (data.get("attr_allergens") or "").split(",") if a.strip()]
        if allergens:
            attributes["allergens"] = allergens
        images = [line.strip() for line in (data.get("attr_images") or "").splitlines() if line.strip()]
        if images:
            attributes["images"] = images
        nutrition = {}
        for i in range(self.nutrition_rows):
            row = data.get(f"nutrition_{i}") or []
            if row and (row[0] or "").strip():
                nutrition[row[0].strip()] = _attribute_value(row[1] or "")
        if nutrition:
            attributes["nutrition"] = nutrition
        return attributes

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        tenant_id = self._tenant_id()
        if not self.instance._state.adding and data.get("version") != self.instance.version:
            raise forms.ValidationError(
                f"Someone changed this product while you were editing (now version {self.instance.version}). "
                "Reload the page and apply your change again.")
        if self.instance._state.adding and data.get("product_id"):
            try:
                product_id_check(tenant_id=tenant_id, product_id=data["product_id"])
            except DomainError:
                self.add_error("product_id", f"Your restaurant already has a product with the id "
                                             f"{data['product_id']!r}. Choose another id, or leave it empty.")
                return data
        try:
            pid = data.get("product_id") or "new" if self.instance._state.adding else self.instance.pk
            with tenancy.tenant_context(tenant_id):
                clean_product(tenant_id=tenant_id, document=self.document(), product_id=pid)
        except InvalidProduct as exc:
            _apply_problems(self, exc, self._field_for)
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None
        return data

    def _field_for(self, path: str) -> str | None:
        if path.startswith("names."):
            return "name_" + path.split(".")[1]
        if path.startswith("descriptions."):
            return "description_" + path.split(".")[1]
        if path.startswith("variants["):
            row = path[len("variants["):].split("]")[0]
            rest = path.split("].", 1)[1] if "]." in path else ""
            if rest.startswith("names."):
                return f"variant_{row}_name_{rest.split('.')[1]}"
            if rest == "names":
                empty = [c for c in self.locales if not self.cleaned_data.get(f"variant_{row}_name_{c}")]
                return f"variant_{row}_name_{empty[0]}" if empty else f"variant_{row}_key"
            return f"variant_{row}_{rest}" if rest in ("key", "price") else f"variant_{row}_key"
        match = re.match(r"option_groups\[(\d+)\](?:\.choices\[(\d+)\])?", path)
        if match:
            group, choice = int(match[1]), match[2]
            rows = getattr(self, "_rows", {})
            return rows.get((group, int(choice) if choice is not None else None)) or rows.get((group, None))
        if path.startswith("attributes."):
            name = path.split(".")[1].split("[")[0]
            if f"attr_{name}" in self.fields:
                return f"attr_{name}"
            if name == "nutrition":
                return "nutrition_0"
            return next((f"fact_{i}" for i in range(self.fact_rows)
                         if (self.cleaned_data.get(f"fact_{i}") or [""])[0] == name), None)
        return path.split(".")[0].split("[")[0] or None


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [("low", "Low (at or below threshold)"), ("sold_out", "Sold out")]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(id__in=list(low_stock_items().values_list("product_id", flat=True)))
        if self.value() == "sold_out":
            flagged = set(queryset.filter(is_sold_out=True).values_list("id", flat=True))
            exhausted = set(sold_out_items().values_list("product_id", flat=True))
            return queryset.filter(id__in=list(flagged | exhausted))
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(c.pk, str(c)) for c in Category.objects.using("inventory").order_by("position", "id")]

    def queryset(self, request, queryset):
        return queryset.filter(category_id=self.value()) if self.value() else queryset


class StockChangeList(ChangeList):
    """Loads the stock and categories of the page's products in two queries, not two per row."""

    def get_results(self, request):
        super().get_results(request)
        ids = [p.pk for p in self.result_list]
        stock: dict[str, list[StockItem]] = {}
        for item in StockItem.objects.using("inventory").filter(product_id__in=ids):
            stock.setdefault(item.product_id, []).append(item)
        categories = {c.pk: c for c in Category.objects.using("inventory").filter(
            pk__in={p.category_id for p in self.result_list if p.category_id})}
        for product in self.result_list:
            product.stock_rows = stock.get(product.pk, [])
            product.category_row = categories.get(product.category_id)


@admin.register(Product)
class ProductAdmin(TenantScopedAdmin):
    form = ProductAdminForm
    list_display = ["label", "category", "price", "stock", "is_active", "is_sold_out", "version"]
    list_filter = [CategoryFilter, StockFilter, "is_active", "is_sold_out"]
    search_fields = ["search_text", "id"]
    search_help_text = "Name in any language, or id."
    ordering = ["position", "id"]
    readonly_fields = ["created_at", "updated_at"]

    actions = ["adjust_stock_of_products"]

    def get_changelist(self, request, **kwargs):
        return StockChangeList

    @admin.action(description="Adjust stock of the selected products…")
    def adjust_stock_of_products(self, request, queryset):
        """Opens the stock items of these products (each variant is its own item), ready for the adjust action."""
        from django.urls import reverse

        ids = ",".join(queryset.values_list("id", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:inventory_stockitem_changelist')}?product_id__in={ids}")

    @admin.display(description="Name")
    def label(self, obj) -> str:
        return " / ".join(obj.names.values())

    @admin.display(description="Category")
    def category(self, obj) -> str:
        row = getattr(obj, "category_row", None)
        return str(row) if row else "—"

    @admin.display(description="Price")
    def price(self, obj) -> str:
        from pos.money import Money

        return Money(obj.price_amount, obj.price_currency).format()

    @admin.display(description="Available")
    def stock(self, obj) -> str:
        if not obj.track_stock:
            return "not tracked"
        rows = sorted(getattr(obj, "stock_rows", []), key=lambda s: s.variant)
        text = ", ".join(f"{s.variant + ': ' if s.variant else ''}{s.available}" for s in rows) or "—"
        low = any(s.available <= s.threshold for s in rows)
        return format_html('<span style="color:{}">{}</span>', "#ba2121" if low else "inherit", text)

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.lower())

    def _layout(self, request, obj):
        locales = _locales_for(request, obj)
        existing = list(obj.variants) if obj else []
        return locales, existing, len(existing) + EXTRA_VARIANT_ROWS + MORE_VARIANT_ROWS

    @staticmethod
    def _attribute_parts(obj) -> tuple[list[dict], dict, dict, dict, tuple[int, ...]]:
        """(option groups, attributes, other facts, nutrition, choice rows per group) of the form for `obj`."""
        groups = list(obj.option_groups) if obj else []
        attributes = dict(obj.attributes) if obj else {}
        known = {*FLAG_ATTRIBUTES, "spicy_level", "allergens", "images", "nutrition"}
        facts = {k: v for k, v in attributes.items() if k not in known}
        nutrition = attributes.get("nutrition") if isinstance(attributes.get("nutrition"), dict) else {}
        choice_rows = (*(len(g.get("choices", [])) + EXTRA_CHOICE_ROWS for g in groups), NEW_GROUP_CHOICE_ROWS)
        return groups, attributes, facts, nutrition, choice_rows

    def get_form(self, request, obj=None, change=False, **kwargs):
        locales, existing, rows = self._layout(request, obj)
        groups, attributes, facts, nutrition, choice_rows = self._attribute_parts(obj)
        attrs: dict = {"locales": locales, "existing_variants": existing, "variant_rows": rows,
                       "group_rows": len(groups) + 1, "choice_rows": choice_rows,
                       "fact_rows": len(facts) + EXTRA_FACT_ROWS, "nutrition_rows": len(nutrition) + EXTRA_FACT_ROWS}
        for code in locales:
            language = _language(code)
            attrs[f"name_{code}"] = forms.CharField(label=f"Name ({language})", max_length=200,
                                                    initial=obj.names.get(code, "") if obj else "")
            attrs[f"description_{code}"] = forms.CharField(
                label=f"Description ({language})", required=False, max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}), initial=obj.descriptions.get(code, "") if obj else "")
        for row in range(rows):
            variant = existing[row] if row < len(existing) else {}
            attrs[f"variant_{row}_key"] = forms.CharField(
                label=f"Variant {row + 1}: key", required=False, max_length=64, initial=variant.get("key", ""),
                help_text="e.g. small, large. Leave empty for no variant." if row == 0 else "")
            for code in locales:
                attrs[f"variant_{row}_name_{code}"] = forms.CharField(
                    label=f"Variant {row + 1}: name ({_language(code)})", required=False, max_length=200,
                    initial=variant.get("names", {}).get(code, ""))
            attrs[f"variant_{row}_price"] = forms.IntegerField(
                label=f"Variant {row + 1}: price", required=False, min_value=0, initial=variant.get("price"))
            if variant:
                attrs[f"variant_{row}_delete"] = forms.BooleanField(label=f"Variant {row + 1}: remove", required=False)
        for g, choices in enumerate(choice_rows):
            group = groups[g] if g < len(groups) else {}
            names = group.get("names", {})
            attrs[f"optgroup_{g}"] = _names_row(
                locales, "group key, e.g. extras",
                [(forms.IntegerField(min_value=0, required=False), "at least"),
                 (forms.IntegerField(min_value=1, required=False), "at most")],
                label=f"Option group {g + 1}" if group else "New option group",
                initial=[group.get("key"), *[names.get(c) for c in locales], group.get("min_select"),
                         group.get("max_select")] if group else None,
                help_text="Key, name per language, how many choices a guest picks at least and at most. "
                          "Clear the key to remove the group." if g == 0 else "")
            for c in range(choices):
                choice = group.get("choices", [])[c] if c < len(group.get("choices", [])) else {}
                c_names = choice.get("names", {})
                attrs[f"optgroup_{g}_choice_{c}"] = _names_row(
                    locales, "choice key, e.g. egg", [(forms.IntegerField(required=False), "price +/-")],
                    label=f"Choice {c + 1}",
                    initial=[choice.get("key"), *[c_names.get(code) for code in locales],
                             choice.get("price_delta")] if choice else None,
                    help_text="Clear the key to remove the choice; the price is added to the item's (may be "
                              "negative)." if c == 0 else "")
        for flag in FLAG_ATTRIBUTES:
            value = attributes.get(flag)
            attrs[f"attr_{flag}"] = forms.ChoiceField(label=flag.capitalize(), choices=YES_NO, required=False,
                                                      initial="" if value is None else ("yes" if value else "no"))
        attrs["attr_spicy_level"] = forms.IntegerField(label="Spicy level", required=False, min_value=0, max_value=10,
                                                       initial=attributes.get("spicy_level"),
                                                       help_text="0 (not spicy) to 10.")
        attrs["attr_allergens"] = forms.CharField(
            label="Allergens", required=False, max_length=500, help_text="Separated by commas, e.g. peanut, fish.",
            initial=", ".join(str(a) for a in attributes.get("allergens", []) or []))
        attrs["attr_images"] = forms.CharField(
            label="Image links", required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
            help_text="One http(s) link per line.", initial="\n".join(str(i) for i in attributes.get("images", []) or []))
        for i, (nutrient, amount) in enumerate([*nutrition.items(), *[(None, None)] * EXTRA_FACT_ROWS]):
            attrs[f"nutrition_{i}"] = RowField(
                [forms.CharField(max_length=64, required=False), forms.CharField(max_length=200, required=False)],
                ["nutrient, e.g. kcal", "amount, e.g. 450"], label="Nutrition" if i == 0 else "",
                initial=[nutrient, _attribute_text(amount)] if nutrient else None)
        for i, (name, value) in enumerate([*facts.items(), *[(None, None)] * EXTRA_FACT_ROWS]):
            attrs[f"fact_{i}"] = RowField(
                [forms.CharField(max_length=64, required=False), forms.CharField(max_length=2000, required=False)],
                ["fact, e.g. origin", "value, e.g. Mandalay"], label="Other facts" if i == 0 else "",
                initial=[name, _attribute_text(value)] if name else None,
                help_text="Values: text, a whole number, yes or no." if i == 0 else "")
        if self._superuser(request) and obj is None:
            attrs["tenant"] = _tenant_field()
        kwargs["form"] = type("ProductForm", (ProductAdminForm,), attrs)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        locales, existing, rows = self._layout(request, obj)
        groups, _, facts, nutrition, choice_rows = self._attribute_parts(obj)
        fieldsets = [
            (None, {"fields": ["product_id", *[f"name_{c}" for c in locales], "category_id", "price", "position",
                               "is_active", "is_sold_out", "track_stock", "version"]}),
            ("Descriptions", {"fields": [f"description_{c}" for c in locales], "classes": ["collapse"]}),
        ]
        for row in range(rows):
            fields = [f"variant_{row}_key", *[f"variant_{row}_name_{c}" for c in locales], f"variant_{row}_price"]
            if row < len(existing):
                fields.append(f"variant_{row}_delete")
            new = row - len(existing)
            title = f"Variant {row + 1}" if new < 0 else f"New variant {new + 1}"
            folded = new >= EXTRA_VARIANT_ROWS
            fieldsets.append((title, {"fields": fields, **({"classes": ["collapse"]} if folded else {})}))
        for g, choices in enumerate(choice_rows):
            title = f"Option group {g + 1}" if g < len(groups) else "New option group"
            fieldsets.append((title, {"fields": [f"optgroup_{g}", *[f"optgroup_{g}_choice_{c}" for c in range(choices)]],
                                      **({"classes": ["collapse"]} if g == len(groups) and g > 0 else {})}))
        fieldsets.append(("Attributes", {"fields": [*[f"attr_{f}" for f in FLAG_ATTRIBUTES], "attr_spicy_level",
                                                    "attr_allergens", "attr_images",
                                                    *[f"nutrition_{i}" for i in range(len(nutrition) + EXTRA_FACT_ROWS)],
                                                    *[f"fact_{i}" for i in range(len(facts) + EXTRA_FACT_ROWS)]]}))
        if obj:
            fieldsets.append(("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}))
        if self._superuser(request) and obj is None:
            fieldsets.insert(0, (None, {"fields": ["tenant"]}))
        return fieldsets

    def save_in_tenant(self, request, obj, form, change) -> None:
        document = form.document()
        obj.names = document["names"]  # the success message names the product, not its id
        self._warn_duplicate_names(request, obj, document["names"])
        try:
            if change:
                before = _audited_product(product_get(tenant_id=obj.tenant_id, product_id=obj.pk))
                product_update(tenant_id=obj.tenant_id, product_id=obj.pk, expected_version=form.cleaned_data["version"],
                               changes=document)
                after = _audited_product(product_get(tenant_id=obj.tenant_id, product_id=obj.pk))
                changed = {key for key in after if before.get(key) != after[key]}
                if changed:
                    prices = {"price", "variant_prices"}
                    accounts.audit(tenant_id=obj.tenant_id, action="price.changed" if changed <= prices else
                                   "product.changed", actor=accounts.actor_of(request.user), object_type="product",
                                   object_id=obj.pk, before={key: before.get(key) for key in sorted(changed)},
                                   after={key: after[key] for key in sorted(changed)})
            else:
                price = document.pop("price")
                info = product_create(tenant_id=obj.tenant_id, product_id=form.cleaned_data.get("product_id") or None,
                                      price=price, **document)
                obj.pk = info.id
        except StaleVersion as exc:
            request.pos_not_saved = True
            messages.error(request, f"Not saved: {exc.detail} Reload and apply your change again.")
        except DomainError as exc:
            request.pos_not_saved = True
            messages.error(request, f"Not saved: {exc.detail}")

    def render_delete_form(self, request, context):
        """Deleting a product that is on a menu says where it is and offers to take it off those menus."""
        obj = context.get("object")
        if obj is not None:
            context["references"] = references_to("product", obj.tenant_id, [obj.pk])
        return super().render_delete_form(request, context)

    def delete_model(self, request, obj) -> None:
        if request.POST.get("take_off_menus"):
            removed = remove_references_to("product", obj.tenant_id, [obj.pk])
            if removed:
                messages.info(request, f"{obj} was taken off {removed} menu item(s).")
        super().delete_model(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "pos_not_saved", False):  # only the error is said, never "added successfully"
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "pos_not_saved", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def _warn_duplicate_names(self, request, obj, names: dict[str, str]) -> None:
        """Two products with the same name confuse waiters and guests: saved all the same, with a warning."""
        same = Q()
        for code, name in names.items():
            if name:
                same |= Q(**{f"names__{code}": name})
        if not same:
            return
        with tenancy.tenant_context(obj.tenant_id):
            others = list(Product.objects.using("inventory").filter(same).exclude(pk=obj.pk)[:3])
        if others:
            listed = ", ".join(f"{other} ({other.pk})" for other in others)
            messages.warning(request, f"Another product has the same name: {listed}. Terminals and receipts will "
                                      "show both under one name; consider naming them apart.")


def _audited_product(info) -> dict:
    """What of a product the audit log compares: names, price, variants' prices, category, flags."""
    return {"names": info.names, "price": info.price.amount, "is_active": info.is_active,
            "category_id": info.category_id, "variant_prices": {v.key: v.price.amount for v in info.variants},
            "variant_names": {v.key: v.names for v in info.variants}, "descriptions": info.descriptions,
            "attributes": info.attributes, "track_stock": info.track_stock,
            "option_groups": [{"key": g.key, "choices": [{"key": c.key, "price_delta": c.price_delta.amount}
                                                         for c in g.choices]} for g in info.option_groups]}


# --- Stock -----------------------------------------------------------------------------------------

ADJUSTED = {"receive": "Received", "waste": "Wrote off", "return": "Returned", "count": "Counted"}


class StockAdjustForm(forms.Form):
    kind = forms.ChoiceField(choices=[("receive", "Receive (delivery)"), ("waste", "Write off (waste)"),
                                      ("return", "Return to stock"), ("count", "Physical count (sets on hand)")])
    quantity = forms.IntegerField(min_value=0, max_value=1_000_000,
                                  help_text="How many received, wasted or returned; for a count, the level counted.")
    reason = forms.CharField(max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("kind") != "count" and data.get("quantity") == 0:
            self.add_error("quantity", "Must be more than 0.")
        return data


class StockLevelFilter(admin.SimpleListFilter):
    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("low", "Low (at or below threshold)"), ("sold_out", "Sold out")]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(pk__in=list(low_stock_items().values_list("pk", flat=True)))
        if self.value() == "sold_out":
            return queryset.filter(pk__in=list(sold_out_items().values_list("pk", flat=True)))
        return queryset


def stock_label(product: Product | None, product_id: str, variant: str | None) -> str:
    """A stock line as a manager reads it: the product's name and the variant's, never a generated id."""
    name = str(product) if product else product_id
    if not variant:
        return name
    names = next((v.get("names", {}) for v in (product.variants if product else []) if v.get("key") == variant), {})
    return f"{name} ({names.get('en') or next(iter(names.values()), variant)})"


def products_by_id(product_ids) -> dict[str, Product]:
    """The products of a page (or an action's rows) in one query."""
    return {p.pk: p for p in Product.objects.using("inventory").filter(pk__in=set(product_ids))}


class NamedProductsChangeList(ChangeList):
    """Names the products of the page's rows (stock items, movements) in one query."""

    def get_results(self, request):
        super().get_results(request)
        products = products_by_id(row.product_id for row in self.result_list)
        for row in self.result_list:
            row.product_row = products.get(row.product_id)


StockItemChangeList = NamedProductsChangeList


@admin.register(StockItem)
class StockItemAdmin(TenantScopedAdmin):
    list_display = ["product_name", "variant", "on_hand", "reserved", "available", "threshold", "low", "sequence"]
    list_filter = [StockLevelFilter]
    search_fields = ["product_id", "variant"]
    fields = ["product_id", "variant", "on_hand", "reserved", "threshold", "sequence"]
    readonly_fields = ["product_id", "variant", "on_hand", "reserved", "sequence"]
    actions = ["adjust_stock"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changelist(self, request, **kwargs):
        return StockItemChangeList

    @admin.display(description="Product")
    def product_name(self, obj) -> str:
        return stock_label(getattr(obj, "product_row", None), obj.product_id, obj.variant or None)

    @admin.display(description="Available")
    def available(self, obj) -> int:
        return obj.available

    @admin.display(boolean=True, description="Low")
    def low(self, obj) -> bool:
        return obj.available <= obj.threshold

    def save_in_tenant(self, request, obj, form, change) -> None:
        stock_set_threshold(tenant_id=obj.tenant_id, product_id=obj.product_id, variant=obj.variant or None,
                            threshold=obj.threshold)

    @admin.action(description="Adjust stock of the selected items…")
    def adjust_stock(self, request, queryset):
        items = list(queryset)
        products = products_by_id(item.product_id for item in items)
        labels = {item.pk: stock_label(products.get(item.product_id), item.product_id, item.variant or None)
                  for item in items}
        form = StockAdjustForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            kind, quantity = form.cleaned_data["kind"], form.cleaned_data["quantity"]
            reason = form.cleaned_data["reason"] or f"{kind} from the admin"
            actor = f"staff:{request.user.get_username()}"
            done = []
            for item in items:
                try:
                    before = item.on_hand
                    with tenancy.tenant_context(item.tenant_id):
                        if kind == "count":
                            stock_count(tenant_id=item.tenant_id, product_id=item.product_id,
                                        variant=item.variant or None, counted=quantity, actor=actor, reason=reason)
                        else:
                            stock_adjust(tenant_id=item.tenant_id, product_id=item.product_id,
                                         variant=item.variant or None, kind=kind, quantity=quantity, reason=reason,
                                         actor=actor)
                    if kind in ("count", "waste"):
                        level = stock_levels_get(tenant_id=item.tenant_id,
                                                 items=[(item.product_id, item.variant or None)])
                        after = next(iter(level.values())).on_hand if level else None
                        accounts.audit(tenant_id=item.tenant_id, action=f"stock.{kind}",
                                       actor=accounts.actor_of(request.user), object_type="stock",
                                       object_id=f"{item.product_id}:{item.variant or ''}",
                                       before={"on_hand": before}, after={"on_hand": after, "reason": reason})
                    done.append(labels[item.pk])
                except DomainError as exc:
                    self.message_user(request, f"{labels[item.pk]}: {exc.detail}", messages.ERROR)
            if done:
                said = ADJUSTED.get(kind, kind.capitalize())
                self.message_user(request, f"{said} {quantity} of {', '.join(done)}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request), "title": "Adjust stock", "opts": self.model._meta,
            "form": form, "items": [{"pk": i.pk, "label": labels[i.pk], "on_hand": i.on_hand, "reserved": i.reserved,
                                     "available": i.available} for i in items],
            "action_checkbox_name": ACTION_CHECKBOX_NAME, "action": "adjust_stock",
        }
        return TemplateResponse(request, "admin/inventory/stock_adjust.html", context)


@admin.register(Movement)
class MovementAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "product", "kind", "quantity", "on_hand_delta", "reserved_delta",
                    "on_hand_after", "reserved_after", "reason", "actor", "reference"]
    list_filter = ["kind"]
    search_fields = ["product_id", "reference", "actor", "reason"]
    date_hierarchy = None
    ordering = ["-created_at"]

    def get_changelist(self, request, **kwargs):
        return NamedProductsChangeList

    @admin.display(description="Product")
    def product(self, obj) -> str:
        return stock_label(getattr(obj, "product_row", None), obj.product_id, obj.variant or None)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyTenantAdmin):
    list_display = ["key", "status", "summary", "expires_at", "created_at", "closed_at"]
    list_filter = ["status"]
    search_fields = ["key", "id"]
    ordering = ["-created_at"]

    @admin.display(description="Lines")
    def summary(self, obj) -> str:
        return json.dumps(obj.lines, ensure_ascii=False)
