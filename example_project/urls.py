from django.contrib import admin
from django.urls import include, path

from example_project.people import views

urlpatterns = [
    path("", views.home, name="home"),
    path("receiver/", views.receiver, name="receiver"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("webhooks/", include("durian.urls")),
    path("api/webhooks/", include("durian.api.urls")),
    path("admin/", admin.site.urls),
]
