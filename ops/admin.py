from __future__ import annotations

from django.contrib import admin, messages

from pos.admin import ReadOnlyTenantAdmin

from .alerts import close_alerts
from .models import ReconcileAlert


@admin.register(ReconcileAlert)
class ReconcileAlertAdmin(ReadOnlyTenantAdmin):
    """Findings of the nightly reconcile: where money or stock disagree between modules."""

    list_display = ["last_seen_at", "status", "kind", "subject", "detail", "times_seen", "opened_at"]
    list_filter = ["status", "kind"]
    search_fields = ["subject", "detail"]
    readonly_fields = ["kind", "subject", "detail", "ids", "status", "times_seen", "opened_at", "last_seen_at",
                       "closed_at", "closed_by"]
    fields = readonly_fields
    actions = ["close_selected"]

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("ops.change_reconcilealert")

    @admin.action(description="Close the selected alerts (the cause is fixed)")
    def close_selected(self, request, queryset) -> None:
        closed = close_alerts(alert_ids=list(queryset.values_list("pk", flat=True)),
                              actor=request.user.get_username())
        self.message_user(request, f"{closed} alert(s) closed.", messages.SUCCESS)
