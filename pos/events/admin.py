"""Event deliveries in the admin: the publication registry of every module database, dead letters first,
with a replay action. Rows live in each module's database; the "Database" filter picks which one. A manager
sees only their restaurant's events; a superuser sees all."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.utils.html import format_html

from pos import tenancy
from pos.admin import OperatorToolAdmin
from pos.events import relay
from pos.models import EventDelivery
from pos.modules import module_aliases


def _alias_of(request) -> str:
    alias = request.GET.get("db") or ""
    return alias if alias in module_aliases() else module_aliases()[0]


class DatabaseFilter(admin.SimpleListFilter):
    title = "database"
    parameter_name = "db"

    def lookups(self, request, model_admin):
        return [(alias, alias) for alias in module_aliases()]

    def choices(self, changelist):
        current = self.value() or module_aliases()[0]
        for value, label in self.lookup_choices:
            yield {"selected": current == value, "query_string": changelist.get_query_string({self.parameter_name: value}),
                   "display": label}

    def queryset(self, request, queryset):
        return queryset  # the admin's get_queryset already reads from this database


@admin.register(EventDelivery)
class EventDeliveryAdmin(OperatorToolAdmin):
    list_display = ["event_name", "handler_name", "consumer_alias", "status", "attempts", "next_attempt_at",
                    "error_summary", "event_link", "created_at"]
    list_filter = [DatabaseFilter, "status", "event_name", "handler_name"]
    search_fields = ["=event__id", "event_name", "handler_name"]
    ordering = ["-created_at"]
    actions = ["replay_selected"]
    list_per_page = 100
    readonly_fields = ["event_id", "event_name", "tenant_id", "handler_name", "consumer_alias", "status", "attempts",
                       "next_attempt_at", "claimed_until", "enqueued_at", "first_delivered_at", "delivered_at",
                       "replayed_at", "attempts_at_replay", "created_at", "updated_at", "payload",
                       "last_error"]
    fields = readonly_fields

    @staticmethod
    def _scoped(qs):
        scope = tenancy.current_scope()
        if scope is tenancy.ALL_TENANTS:
            return qs
        if scope is None:
            return qs.none()
        return qs.filter(tenant_id=scope)

    def get_queryset(self, request):
        return self._scoped(super().get_queryset(request).using(_alias_of(request)).select_related("event"))

    def get_object(self, request, object_id, from_field=None):
        # The change page carries no "db" parameter: look in every module database.
        try:
            pk = uuid.UUID(str(object_id))
        except ValueError:
            return None
        for alias in module_aliases():
            obj = self._scoped(EventDelivery.objects.using(alias).select_related("event")).filter(pk=pk).first()
            if obj is not None:
                return obj
        return None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("pos.change_eventdelivery")

    @admin.display(description="Last error")
    def error_summary(self, obj) -> str:
        lines = obj.last_error.strip().splitlines()
        return lines[-1][:160] if lines else ""

    @admin.display(description="Event")
    def event_link(self, obj) -> str:
        return format_html("<code>{}</code>", obj.event_id)

    @admin.display(description="Payload")
    def payload(self, obj) -> str:
        return format_html("<pre>{}</pre>", obj.event.payload)

    @admin.action(description="Replay selected dead deliveries", permissions=["replay"])
    def replay_selected(self, request, queryset) -> None:
        alias = queryset.db
        dead = list(queryset.filter(status=EventDelivery.Status.DEAD).values_list("id", flat=True))
        skipped = queryset.count() - len(dead)
        count = relay.replay(alias, dead)
        self.message_user(request, f"Resubmitted {count} dead deliver{'y' if count == 1 else 'ies'} in {alias}.",
                          messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped {skipped} that are not dead (pending ones retry by themselves).",
                              messages.WARNING)
