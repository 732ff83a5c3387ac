"""The listener web interface. Mount it with ``path("webhooks/", include("durian.urls"))``."""

from django.urls import path

from .web import actions, deliveries, events, listeners, replay

app_name = "durian"

urlpatterns = [
    path("", listeners.listener_list, name="listener-list"),
    path("events/", events.select_event, name="select-event"),
    path("events/<str:hook>/schema.json", events.event_schema, name="event-schema"),
    path("events/<str:hook>/listeners/new/", listeners.listener_create, name="listener-create"),
    path("listeners/<int:pk>/edit/", listeners.listener_edit, name="listener-edit"),
    path("listeners/<int:pk>/secret/", listeners.listener_secret, name="listener-secret"),
    path("listeners/<int:pk>/delete/", listeners.listener_delete, name="listener-delete"),
    path("listeners/<int:pk>/pause/", actions.pause, name="listener-pause"),
    path("listeners/<int:pk>/resume/", actions.resume, name="listener-resume"),
    path("listeners/<int:pk>/rotate-secret/", actions.rotate_secret, name="listener-rotate-secret"),
    path("listeners/<int:pk>/test/", actions.send_test, name="listener-test"),
    path("listeners/<int:pk>/validate/", actions.validate, name="listener-validate"),
    path("listeners/<int:pk>/deliveries/", deliveries.delivery_list, name="listener-deliveries"),
    path("listeners/<int:pk>/replay/", replay.replay_view, name="listener-replay"),
    path(
        "listeners/<int:pk>/dead-letters/<int:letter_pk>/retry/",
        deliveries.retry_dead_letter,
        name="dead-letter-retry",
    ),
]
