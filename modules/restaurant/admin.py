"""Admin of the restaurant module for managers: menus (windows and sections inline; a section's items
inline on its own page, with a product picker searching inventory by name in any locale) and tables
(status, filter by area, actions to close a tab or mark a cleaned table free)."""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from pos import tenancy
from pos.admin import ReadOnlyTenantAdmin, Reference, TenantScopedAdmin, register_references
from pos.errors import DomainError

from . import services
from .errors import MenuProductUnavailable
from .models import DiningTable, Menu, MenuItem, MenuSection, MenuWindow, Tab, TabOrder


def _tenant_of(request, obj=None) -> uuid.UUID | None:
    if obj is not None and getattr(obj, "tenant_id", None):
        return obj.tenant_id
    scope = tenancy.current_scope()
    return scope if isinstance(scope, uuid.UUID) else None


class TenantInlineMixin:
    """Inline rows take their parent's tenant (a superuser's scope spans every tenant)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        parent_tenant = _tenant_of(request, obj)

        class Stamped(formset):
            def save_new(self, form, commit=True):
                instance = super().save_new(form, commit=False)
                instance.tenant_id = self.instance.tenant_id or parent_tenant
                if commit:
                    instance.save()
                return instance

        return Stamped


class UniqueInTenantForm(forms.ModelForm):
    """Reports a taken name/code as a form error instead of a database error."""

    unique_field = ""

    def clean(self):
        cleaned = super().clean()
        value = cleaned.get(self.unique_field)
        tenant_id = self.instance.tenant_id or _tenant_of(None)
        if value and tenant_id:
            with tenancy.tenant_context(tenant_id):
                taken = type(self.instance).objects.filter(**{self.unique_field: value}).exclude(pk=self.instance.pk)
                if taken.exists():
                    self.add_error(self.unique_field, f"{value!r} is already used in this restaurant.")
        return cleaned


def _locales(request, obj=None) -> list[str]:
    """The languages names are asked in: the restaurant's locales, or every language for a superuser's new row."""
    tenant_id = _tenant_of(request, obj)
    if tenant_id is not None:
        try:
            return list(accounts.get_tenant(tenant_id).locales)
        except accounts.TenantNotFound:
            pass
    return [code for code, _ in settings.LANGUAGES]


class LocaleNamesForm(forms.ModelForm):
    """A JSON field of names per locale (`names_field`) edited as one text field per language."""

    names_field = "names"
    names_required = True
    locales: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = getattr(self.instance, self.names_field, None) or {}
        for code in self.locales:
            self.initial.setdefault(f"{self.names_field}_{code}", current.get(code, ""))

    def clean(self):
        cleaned = super().clean()
        names = dict(getattr(self.instance, self.names_field, None) or {})
        for code in self.locales:
            value = (cleaned.get(f"{self.names_field}_{code}") or "").strip()
            if value:
                names[code] = value
            else:
                names.pop(code, None)
        setattr(self.instance, self.names_field, names)
        return cleaned


def locale_names_form(base: type[forms.ModelForm], locales: list[str], *, names_field: str = "names",
                      required: bool = True, label: str = "Name") -> type[forms.ModelForm]:
    languages = dict(settings.LANGUAGES)
    fields = {f"{names_field}_{code}": forms.CharField(
        label=f"{label} ({languages.get(code, code)})", max_length=200, required=required,
        help_text="" if required else "Leave empty to show the product's own name.") for code in locales}
    return type(f"{base.__name__}Localised", (base,), {**fields, "locales": tuple(locales), "names_field": names_field})


def _names_fields(locales, names_field: str = "names") -> list[str]:
    return [f"{names_field}_{code}" for code in locales]


# --- menus ---------------------------------------------------------------------------------------------


class MenuForm(UniqueInTenantForm):
    unique_field = "name"

    class Meta:
        model = Menu
        fields = ["name", "is_active"]


class MenuWindowInline(TenantInlineMixin, admin.TabularInline):
    model = MenuWindow
    extra = 0
    fields = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "starts_at", "ends_at"]


class SectionForm(LocaleNamesForm):
    class Meta:
        model = MenuSection
        fields = ["position"]  # the section page adds "menu" (its choices need the request's tenant in scope)


class MenuSectionInline(TenantInlineMixin, admin.TabularInline):
    model = MenuSection
    extra = 0
    show_change_link = True  # a section's items are edited on the section's page

    def get_fields(self, request, obj=None):
        return [*_names_fields(_locales(request, obj)), "position"]

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["form"] = locale_names_form(SectionForm, _locales(request, obj))
        return super().get_formset(request, obj, **kwargs)


@admin.register(Menu)
class MenuAdmin(TenantScopedAdmin):
    form = MenuForm
    list_display = ["name", "is_active", "window_summary", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    inlines = [MenuWindowInline, MenuSectionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("windows")

    @admin.display(description="Served")
    def window_summary(self, obj) -> str:
        windows = list(obj.windows.all())
        return "; ".join(str(w) for w in windows) if windows else "whenever active"


class ProductPickerWidget(forms.TextInput):
    """Picks an inventory product by its name in any locale: the manager types and chooses a name; the product's id
    travels in a hidden field (an id typed by hand still works)."""

    class Media:
        js = ["restaurant/product_picker.js"]

    def __init__(self, search_url: str = "", tenant_id: uuid.UUID | None = None, labels: dict[str, str] | None = None,
                 attrs=None):
        super().__init__(attrs)
        self.search_url = search_url
        self.tenant_id = tenant_id
        self.labels = labels or {}

    def render(self, name, value, attrs=None, renderer=None):
        field_id = (attrs or {}).get("id", name)
        hidden = format_html('<input type="hidden" name="{}" id="{}" value="{}">', name, field_id, value or "")
        return format_html(
            '{}<input type="text" id="{}_name" list="{}_products" autocomplete="off" placeholder="Type a product name"'
            ' data-product-search="{}" data-target="{}" data-tenant="{}" value="{}" size="30">'
            '<datalist id="{}_products"></datalist>',
            hidden, field_id, field_id, self.search_url, field_id, self.tenant_id or "",
            self.labels.get(value, value or "") if value else "", field_id)


class MenuItemFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        product_ids = [form.cleaned_data["product_id"] for form in self.forms
                       if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("product_id")]
        tenant_id = self.instance.tenant_id or _tenant_of(None)
        if product_ids and tenant_id:
            try:
                services.menu_products_validate(tenant_id=tenant_id, product_ids=product_ids)
            except MenuProductUnavailable as exc:
                raise ValidationError(exc.detail) from None


class ItemForm(LocaleNamesForm):
    class Meta:
        model = MenuItem
        fields = ["product_id", "position"]


class MenuItemInline(TenantInlineMixin, admin.TabularInline):
    model = MenuItem

    class Media:
        css = {"all": ["restaurant/menu_items.css"]}

    formset = MenuItemFormSet
    extra = 1
    readonly_fields = ["product_name", "product_unavailable"]

    def get_fields(self, request, obj=None):
        return ["product_id", "product_name", *_names_fields(_locales(request, obj), "display_names"), "position",
                "product_unavailable"]

    def get_formset(self, request, obj=None, **kwargs):
        tenant_id = _tenant_of(request, obj)
        kwargs["form"] = locale_names_form(ItemForm, _locales(request, obj), names_field="display_names",
                                           required=False, label="Shown as")
        url = reverse("admin:restaurant_menusection_product_search")
        self._names: dict[str, str] = {}
        if obj is not None and tenant_id:
            ids = list(MenuItem.objects.filter(section=obj).values_list("product_id", flat=True))
            products = inventory.get_products(tenant_id=tenant_id, product_ids=ids) if ids else {}
            self._names = {pid: _label(p) for pid, p in products.items()}
        kwargs["widgets"] = {"product_id": ProductPickerWidget(search_url=url, tenant_id=tenant_id, labels=self._names)}
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="Product")
    def product_name(self, obj) -> str:
        if not obj or not obj.product_id:
            return "-"
        return getattr(self, "_names", {}).get(obj.product_id, "unknown product")


def _label(product) -> str:
    names = " / ".join(dict.fromkeys(v for v in product.names.values() if v))
    return f"{names}{'' if product.is_active else ' (inactive)'}"


@admin.register(MenuSection)
class MenuSectionAdmin(TenantScopedAdmin):
    list_display = ["__str__", "menu", "position"]
    list_filter = ["menu"]
    inlines = [MenuItemInline]

    def get_fields(self, request, obj=None):
        return ["menu", *_names_fields(_locales(request, obj)), "position"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = locale_names_form(SectionForm, _locales(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("menu")

    def get_urls(self):
        search = path("product-search/", self.admin_site.admin_view(self.product_search),
                      name="restaurant_menusection_product_search")
        return [search, *super().get_urls()]

    def product_search(self, request):
        """Products of the manager's restaurant whose name (any locale) contains `q`, for the item picker."""
        tenant_id = _tenant_of(request)
        if tenant_id is None and request.user.is_superuser:
            try:
                tenant_id = uuid.UUID(request.GET.get("tenant", ""))
            except ValueError:
                tenant_id = None
        if tenant_id is None:
            return JsonResponse({"results": []})
        found = inventory.search_products(tenant_id=tenant_id, query=request.GET.get("q", ""), limit=20)
        return JsonResponse({"results": [{"id": p.id, "label": _label(p)} for p in found if p.is_active]})


# --- tables --------------------------------------------------------------------------------------------


class DiningTableForm(UniqueInTenantForm):
    unique_field = "code"

    class Meta:
        model = DiningTable
        fields = ["code", "area", "seats"]


@admin.register(DiningTable)
class DiningTableAdmin(TenantScopedAdmin):
    form = DiningTableForm
    list_display = ["code", "area", "seats", "status", "open_orders"]
    list_filter = ["area", "status"]
    search_fields = ["code", "area"]
    readonly_fields = ["status"]
    actions = ["mark_free", "close_tabs"]

    def get_fields(self, request, obj=None):
        return ["code", "area", "seats", "status"] if obj else ["code", "area", "seats"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tabs__orders")

    @admin.display(description="Open orders")
    def open_orders(self, obj) -> int:
        return sum(len(tab.orders.all()) for tab in obj.tabs.all() if tab.status == "open")

    def _each(self, request, queryset, action, done: str) -> None:
        count = 0
        for table in queryset:
            try:
                action(tenant_id=table.tenant_id, table_id=str(table.pk))
                count += 1
            except DomainError as exc:
                self.message_user(request, f"{table.code}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"{count} table(s) {done}.")

    @admin.action(description="Mark the selected tables free (cleaned)")
    def mark_free(self, request, queryset) -> None:
        self._each(request, queryset, services.table_mark_free, "marked free")

    @admin.action(description="Close the selected tables' tabs")
    def close_tabs(self, request, queryset) -> None:
        self._each(request, queryset, services.table_close, "closed")


class TabOrderInline(admin.TabularInline):
    model = TabOrder
    extra = 0
    fields = ["order_id", "attached_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tab)
class TabAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "table", "status", "opened_at", "closed_at"]
    list_filter = ["status", "table__area"]
    inlines = [TabOrderInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("table")


def _menu_items_of(tenant_id, product_ids: list[str]) -> list[Reference]:
    with tenancy.tenant_context(tenant_id):
        items = MenuItem.objects.filter(product_id__in=product_ids).select_related("section__menu")
        return [Reference(text=f"on the menu {item.section.menu.name} ({item.section})",
                          url=reverse("admin:restaurant_menusection_change", args=[item.section_id])) for item in items]


def _take_off_menus(tenant_id, product_ids: list[str]) -> int:
    return sum(services.menu_items_remove_product(tenant_id=tenant_id, product_id=pid) for pid in product_ids)


register_references("product", find=_menu_items_of, remove=_take_off_menus)
