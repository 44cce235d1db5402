from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.utils import timezone

from pos.admin import ReadOnlyTenantAdmin, TenantScopedAdmin

from .dto import Actor
from .errors import TenantInactive, TerminalNotFound
from .models import AuditEntry, Role, Tenant, Terminal, User
from .services import (
    APPROVAL_CODE_MIN_LENGTH,
    audit_record,
    staff_set_approval_code,
    terminal_create,
    terminal_revoke,
    terminal_rotate,
)


def _actor(request) -> Actor:
    user = request.user
    return Actor(label=f"user:{user.get_username()}", id=str(user.pk))


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "timezone", "is_active", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["is_active", "currency"]
    readonly_fields = ["id", "created_at"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(pk=request.user.tenant_id)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["slug", "currency", "currency_exponent", "is_active"]
        return fields

    def save_model(self, request, obj, form, change) -> None:
        fields = list(form.changed_data) if change else []
        before = dict(Tenant.objects.filter(pk=obj.pk).values(*fields).first() or {}) if fields else None
        super().save_model(request, obj, form, change)
        changed = [field for field in fields if before.get(field) != getattr(obj, field)] if fields else []
        if changed:
            audit_record(tenant_id=obj.pk, action="restaurant.changed", actor=_actor(request),
                         object_type="restaurant", object_id=obj.slug, before={f: before[f] for f in changed},
                         after={field: getattr(obj, field) for field in changed})


class StaffChangeForm(UserChangeForm):
    approval_code = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text=f"A manager's code (at least {APPROVAL_CODE_MIN_LENGTH} characters) to approve, on a cashier "
                  "terminal, a stock count or a refund above the restaurant's limit. Leave empty to keep it.")

    def clean_approval_code(self) -> str:
        code = self.cleaned_data.get("approval_code", "")
        if code and (len(code) < APPROVAL_CODE_MIN_LENGTH or ":" in code):
            raise forms.ValidationError(f"At least {APPROVAL_CODE_MIN_LENGTH} characters, without ':'.")
        return code


@admin.register(User)
class StaffAdmin(DjangoUserAdmin):
    form = StaffChangeForm
    list_display = ["username", "first_name", "last_name", "role", "tenant", "is_staff", "is_active"]
    list_filter = ["role", "is_staff", "is_active"]
    fieldsets = [*DjangoUserAdmin.fieldsets, ("Restaurant", {"fields": ["tenant", "role", "approval_code"]})]
    add_fieldsets = [*DjangoUserAdmin.add_fieldsets, ("Restaurant", {"fields": ["tenant", "role", "is_staff"]})]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("tenant")
        return queryset if request.user.is_superuser else queryset.filter(tenant_id=request.user.tenant_id)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["tenant", "is_superuser", "groups", "user_permissions", "last_login", "date_joined"]

    AUDITED = ("role", "tenant_id", "is_staff", "is_superuser", "is_active")

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            # A manager adds staff of their own restaurant: the role decides who signs in here (managers do).
            return [*DjangoUserAdmin.add_fieldsets, ("Restaurant", {"fields": ["role"]})]
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if not request.user.is_superuser:
            obj.tenant_id = request.user.tenant_id
            obj.is_superuser = False
        if not change and obj.role == Role.MANAGER and obj.tenant_id:
            obj.is_staff = True  # a restaurant's manager signs in to the back office as created
        before = User.objects.filter(pk=obj.pk).values(*self.AUDITED).first() if change else None
        super().save_model(request, obj, form, change)
        after = {field: getattr(obj, field) for field in self.AUDITED}
        if before != after and obj.tenant_id:
            audit_record(tenant_id=obj.tenant_id, action="staff.changed" if change else "staff.created",
                         actor=_actor(request), object_type="staff", object_id=obj.get_username(),
                         before=before, after=after)
        code = form.cleaned_data.get("approval_code") if hasattr(form, "cleaned_data") else ""
        if code:
            staff_set_approval_code(user_id=obj.pk, code=code)
            if obj.tenant_id:
                audit_record(tenant_id=obj.tenant_id, action="staff.approval_code_set", actor=_actor(request),
                             object_type="staff", object_id=obj.get_username())


@admin.register(Terminal)
class TerminalAdmin(TenantScopedAdmin):
    list_display = ["name", "role", "created_at", "last_used_at", "expires_at", "active"]
    list_filter = ["role"]
    search_fields = ["name"]
    actions = ["revoke", "rotate"]

    @admin.display(boolean=True, description="Active")
    def active(self, obj) -> bool:
        return obj.revoked_at is None and (obj.expires_at is None or obj.expires_at > timezone.now())

    def get_readonly_fields(self, request, obj=None):
        return ["name", "token_prefix", "last_used_at", "rotated_at", "revoked_at"] if obj else []

    def get_fields(self, request, obj=None):
        if obj:
            return ["name", "role", "expires_at", "token_prefix", "last_used_at", "rotated_at", "revoked_at"]
        return ["name", "role", "expires_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            return form
        default_tenant = getattr(request.user, "tenant_id", None)

        class NewTerminalForm(form):
            def clean(self):
                data = super().clean()
                tenant_id = data.get("tenant") or default_tenant
                tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None
                if tenant is not None and not tenant.is_active:
                    raise forms.ValidationError(f"{tenant.name} is deactivated: it cannot be issued terminals.")
                name = data.get("name")
                if tenant is not None and name and Terminal.unscoped.filter(
                        tenant_id=tenant.pk, name=name, revoked_at__isnull=True).exists():
                    self.add_error("name", "A working terminal of this restaurant already has this name.")
                return data

        return NewTerminalForm

    def save_in_tenant(self, request, obj, form, change) -> None:
        if change:
            before = Terminal.unscoped.filter(pk=obj.pk).values("role", "expires_at").first()
            super().save_in_tenant(request, obj, form, change)
            after = {"role": obj.role, "expires_at": obj.expires_at}
            if before != after:
                audit_record(tenant_id=obj.tenant_id, action="terminal.changed", actor=_actor(request),
                             object_type="terminal", object_id=str(obj.pk), before=before, after=after)
            return
        issued = terminal_create(tenant_id=obj.tenant_id, name=obj.name, role=obj.role, expires_at=obj.expires_at,
                                 actor=_actor(request))
        obj.pk = issued.terminal.id
        messages.warning(request, f"Token for {obj.name} (shown once, copy it now): {issued.token}")

    @admin.action(description="Revoke the selected terminals' tokens")
    def revoke(self, request, queryset) -> None:
        count = sum(terminal_revoke(terminal_id=terminal.pk, actor=_actor(request))
                    for terminal in queryset.filter(revoked_at__isnull=True))
        self.message_user(request, f"Revoked {count} terminal(s) at {timezone.now():%H:%M}.")

    @admin.action(description="Rotate the selected terminals' tokens (the old tokens stop working)")
    def rotate(self, request, queryset) -> None:
        for terminal in queryset.filter(revoked_at__isnull=True):
            try:
                issued = terminal_rotate(terminal_id=terminal.pk, actor=_actor(request))
            except (TenantInactive, TerminalNotFound) as exc:
                self.message_user(request, f"{terminal.name}: {exc.detail}", level=messages.ERROR)
                continue
            messages.warning(request, f"New token for {terminal.name} (shown once, copy it now): {issued.token}")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantAdmin):
    """The audit log: read-only for everyone (managers see their restaurant's only)."""

    list_display = ["at", "action", "object_type", "object_id", "actor", "approved_by"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor", "approved_by"]
    date_hierarchy = "at"
    fields = ["at", "action", "actor", "actor_id", "approved_by", "object_type", "object_id", "before", "after",
              "request_id"]
    readonly_fields = fields
