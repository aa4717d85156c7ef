from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.throttles import login_throttled

# The Swagger UI bundle comes from drf-spectacular's default CDN; its start script from our own URL (split view).
SWAGGER_CDN = "https://cdn.jsdelivr.net"
docs_view = csp_update({"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema"))

admin.site.login = login_throttled(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation.api.urls")),
    path("api/v1/", include("rewardlab.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", docs_view, name="api-docs"),
    path("", include("frontend.urls")),
]

handler400 = "config.api_errors.handler400"
handler403 = "config.api_errors.handler403"
handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"
