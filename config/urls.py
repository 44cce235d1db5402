"""URL map. Each module mounts its terminal API under /api/v1/ from its own `http/urls.py`."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from pos.api import errors
from pos.api.health import healthz, readyz

api_v1 = [
    path("", include("modules.accounts.http.urls")),
    path("", include("modules.inventory.http.urls")),
    path("", include("modules.payment.http.urls")),
    path("", include("modules.restaurant.http.urls")),
    path("", include("modules.pos_core.http.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its script as a file, so the Content-Security-Policy needs no inline script
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^.*$", errors.api_not_found),  # unknown API paths answer problem+json, DEBUG or not
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]

handler404 = errors.not_found
handler500 = errors.server_error
handler400 = errors.bad_request
handler403 = errors.permission_denied
