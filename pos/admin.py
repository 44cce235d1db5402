"""Admin base classes every module uses, so tenant scoping in the admin is one mechanism.

The queryset is scoped by the tenant manager (the middleware puts a manager's tenant in scope, a
superuser's scope spans all tenants); new rows are stamped with the manager's tenant; superusers pick
the tenant of a new row and see a tenant column."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin

from pos import tenancy
from pos.operators import is_operator


class TenantScopedAdmin(admin.ModelAdmin):
    def _superuser(self, request) -> bool:
        return bool(request.user.is_superuser)

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if self._superuser(request) and "tenant_name" not in columns:
            columns.append("tenant_name")
        return columns

    @admin.display(description="Tenant")
    def tenant_name(self, obj) -> str:
        return dict(tenancy.tenant_choices()).get(obj.tenant_id, str(obj.tenant_id))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if kwargs.get("fields"):
            # "tenant" is a form field added below, not a model field: keep it away from the model form factory
            kwargs["fields"] = [name for name in kwargs["fields"] if name != "tenant"]
        form = super().get_form(request, obj, change=change, **kwargs)
        if self._superuser(request) and obj is None:
            choices = [(str(pk), name) for pk, name in tenancy.tenant_choices()]
            form = type(form.__name__, (form,), {
                "tenant": forms.ChoiceField(choices=choices, help_text="The restaurant this row belongs to."),
            })
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._superuser(request) and obj is None and not any("tenant" in fs[1]["fields"] for fs in fieldsets):
            fieldsets = [(None, {"fields": ["tenant"]}), *fieldsets]
        return fieldsets

    def save_model(self, request, obj, form, change) -> None:
        if not change and obj.tenant_id is None:
            if "tenant" in form.cleaned_data:
                obj.tenant_id = form.cleaned_data["tenant"]
                with tenancy.tenant_context(obj.tenant_id):
                    self.save_in_tenant(request, obj, form, change)
                return
            obj.tenant_id = tenancy.current_tenant_id()
        self.save_in_tenant(request, obj, form, change)

    def save_in_tenant(self, request, obj, form, change) -> None:
        """Override to save through the module's service; runs with the row's tenant in scope."""
        super().save_model(request, obj, form, change)


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    """Ledgers, logs and financial records: visible to managers, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OperatorToolAdmin(admin.ModelAdmin):
    """Operator tools (event deliveries, sagas, idempotency keys, provider simulation): invisible to managers.

    Mixed in before the admin's own base, so the other permission checks still apply to operators."""

    def has_module_permission(self, request) -> bool:
        return is_operator(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_operator(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return is_operator(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_operator(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_operator(request.user) and super().has_delete_permission(request, obj)



@dataclass(frozen=True)
class Reference:
    """Something of another module that points at a row about to be deleted (a menu item at a product)."""

    text: str
    url: str = ""


# Modules never import each other's admins: a module that keeps references to another's rows (by id) registers a
# finder and a remover for the concept ("product"), and the owner's delete page asks here before it deletes.
_references: dict[str, list[tuple[Callable, Callable | None]]] = {}


def register_references(concept: str, *, find: Callable, remove: Callable | None = None) -> None:
    """`find(tenant_id, ids) -> list[Reference]`; `remove(tenant_id, ids) -> int` takes the references away."""
    if (find, remove) not in _references.setdefault(concept, []):
        _references[concept].append((find, remove))


def references_to(concept: str, tenant_id, ids: list[str]) -> list[Reference]:
    return [ref for find, _ in _references.get(concept, []) for ref in find(tenant_id, ids)]


def remove_references_to(concept: str, tenant_id, ids: list[str]) -> int:
    return sum(remove(tenant_id, ids) for _, remove in _references.get(concept, []) if remove)


from pos.events import admin as _events_admin  # noqa: E402, F401 - registers the event deliveries admin
