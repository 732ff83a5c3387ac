"""The peer measured against durian: django-webhook with Celery, in its own virtualenv.

As in any Celery + Django project, the Celery app is created before Django loads its apps, so
django-webhook's tasks bind to it.
"""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
