"""Imported by django-dramatiq's autodiscovery: declares durian's actors in worker processes."""

from workers import actors  # noqa: F401
