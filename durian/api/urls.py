"""The API's routes. Mount them with ``path("api/webhooks/", include("durian.api.urls"))``."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from .schema import DOCUMENT
from .views import HookList, ListenerViewSet, Metrics

app_name = "durian-api"

router = SimpleRouter()
router.register("listeners", ListenerViewSet, basename="listener")

urlpatterns = [
    path("hooks/", HookList.as_view(), name="hook-list"),
    path("metrics/", Metrics.as_view(), name="metrics"),
    path("schema/", SpectacularAPIView.as_view(custom_settings=DOCUMENT), name="schema"),
    *router.urls,
]
