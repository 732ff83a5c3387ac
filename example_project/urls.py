from django.contrib import admin
from django.urls import path

from example_project.people import views

urlpatterns = [
    path("", views.home, name="home"),
    path("receiver/", views.receiver, name="receiver"),
    path("admin/", admin.site.urls),
]
