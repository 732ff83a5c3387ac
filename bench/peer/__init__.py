"""The peer measured against durian: django-webhook with Celery, in its own virtualenv."""
