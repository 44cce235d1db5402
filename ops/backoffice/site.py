"""The admin site every module registers with (`django.contrib.admin.site` resolves to it)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from pos import tenancy
from pos.operators import is_operator

from . import dashboard


@dataclass(frozen=True)
class ReportLink:
    title: str
    url_name: str  # an admin URL name, e.g. "admin:pos_core_sales_report"
    description: str
    query: str = ""


class BackOfficeSite(admin.AdminSite):
    site_header = "Restaurant POS"
    site_title = "Restaurant POS back office"
    index_title = "Today"
    site_url = "/"  # the root redirects to the back office home
    index_template = "backoffice/index.html"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reports: list[ReportLink] = []

    def register_report(self, *, title: str, url_name: str, description: str = "", query: str = "") -> None:
        """Adds a report to the menu's Reports section and to the home page (idempotent by title)."""
        if all(r.title != title for r in self._reports):
            self._reports.append(ReportLink(title=title, url_name=url_name, description=description, query=query))

    def reports(self) -> list[dict[str, str]]:
        links = []
        for report in self._reports:
            try:
                url = reverse(report.url_name, current_app=self.name)
            except NoReverseMatch:
                continue
            links.append({"title": report.title, "url": url + (f"?{report.query}" if report.query else ""),
                          "description": report.description})
        return links

    def get_app_list(self, request: HttpRequest, app_label: str | None = None):
        apps = super().get_app_list(request, app_label)
        reports = self.reports() if app_label in (None, "reports") else []
        if reports and request.user.is_active and request.user.is_staff:
            apps.insert(0, {
                "name": "Reports", "app_label": "reports", "app_url": reverse("admin:index", current_app=self.name),
                "has_module_perms": True,
                "models": [{"name": r["title"], "object_name": r["title"], "admin_url": r["url"], "add_url": None,
                            "view_only": True, "perms": {"view": True}} for r in reports],
            })
        return apps

    def index(self, request: HttpRequest, extra_context=None):
        scope = tenancy.current_scope()
        tenants = tenancy.tenant_choices() if scope is tenancy.ALL_TENANTS else []
        chosen = request.GET.get("tenant")
        if scope is tenancy.ALL_TENANTS:
            tenant_id = chosen if chosen in {str(pk) for pk, _ in tenants} else (str(tenants[0][0]) if tenants else None)
        else:
            tenant_id = str(scope) if scope else None
        context = {"tenants": tenants, "tenant_id": tenant_id, "reports": self.reports(),
                   "dashboard": dashboard.build(tenant_id=tenant_id) if tenant_id else None,
                   **(extra_context or {})}
        return super().index(request, context)

    def each_context(self, request: HttpRequest):
        context = super().each_context(request)
        context["is_operator"] = is_operator(request.user)
        return context

