"""The peer's Celery app (``celery -A bench.peer.celery_app worker``)."""

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")
django.setup()

app = Celery("peer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.set_default()

import django_webhook.tasks  # noqa: E402,F401  (declares fire_webhook on this app)
